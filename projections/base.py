"""What every projection is: a name, its tables, and how one event changes them.

Projections read the CloudEvents on TICKETS_EVENTS (the public stream, masked), so
they can run anywhere a consumer of the stream can. `apply` must be deterministic:
the runner applies each event once per stream position, in one transaction with the
position, so a redelivered or replayed event changes nothing.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import datetime

from infra.readdb import Tx


class Projection(ABC):
    name: str
    tables: tuple[str, ...]  # CREATE TABLE IF NOT EXISTS ... (portable SQL)
    table_names: tuple[str, ...]

    def create(self, tx: Tx) -> None:
        for ddl in self.tables:
            tx.execute(ddl)

    def reset(self, tx: Tx) -> None:
        for table in self.table_names:
            tx.execute(f"DELETE FROM {table}")

    @abstractmethod
    def apply(self, tx: Tx, event: dict) -> None:
        """Apply one CloudEvent (the envelope as parsed JSON)."""


def event_kind(event: dict) -> str:
    """`ticketflow.ticket.progress_updated.v1` -> `ProgressUpdated`."""
    snake = event["type"].split(".")[2]
    return "".join(part.capitalize() for part in snake.split("_"))


def parse_time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None
