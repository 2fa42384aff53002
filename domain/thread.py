"""A customer's reply recorded on a ticket, under the id its message would have had.

Intake names a ticket by `<channel>:<external_id>` (`ticket_id_for`). A reply is not a
ticket, but its `<channel>:<external_id>` must still be recorded only once, and a later
message of the same thread (an e-mail's `In-Reply-To`) must find the ticket through it.
So each reply also stores this tiny aggregate at that id, in the same transaction as
the ticket's `CustomerReplied`: a repeat of the reply collides with it, and a thread
lookup finds either the ticket itself or this pointer to it.
"""

from __future__ import annotations

from uuid import UUID

from eventsourcing.domain import Aggregate

from domain.ticket import ticket_id_for


class ThreadEntry(Aggregate):
    class Recorded(Aggregate.Created):
        ticket_id: UUID

    def __init__(self, ticket_id: UUID) -> None:
        self.ticket_id = ticket_id

    @classmethod
    def record(cls, channel: str, external_id: str, ticket_id: UUID) -> ThreadEntry:
        return cls._create(
            cls.Recorded, id=ticket_id_for(channel, external_id), ticket_id=ticket_id
        )
