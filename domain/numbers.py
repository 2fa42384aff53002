"""Human ticket numbers: prefix + local date + daily sequence (`CS202611240001`).

Each number is its own tiny aggregate whose id is derived from the number, saved in
the same transaction as its ticket: the store's uniqueness of (id, version 1) makes
a number impossible to hand out twice, across threads and processes, and gives the
number -> ticket lookup for free.
"""

from __future__ import annotations

from datetime import date
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate

NUMBER_NAMESPACE = UUID("0f5e7d2c-3b8a-4e61-9d2f-7c4b1a6e5d30")


def format_number(prefix: str, day: date, sequence: int, digits: int = 4) -> str:
    return f"{prefix}{day:%Y%m%d}{sequence:0{digits}d}"


def number_id(number: str) -> UUID:
    return uuid5(NUMBER_NAMESPACE, number)


class TicketNumber(Aggregate):
    class Registered(Aggregate.Created):
        number: str
        ticket_id: UUID

    def __init__(self, number: str, ticket_id: UUID) -> None:
        self.number, self.ticket_id = number, ticket_id

    @classmethod
    def register(cls, number: str, ticket_id: UUID) -> TicketNumber:
        return cls._create(cls.Registered, id=number_id(number), number=number, ticket_id=ticket_id)
