"""What every projection is: a name, its tables, and how one event changes them.

Projections read the CloudEvents on TICKETS_EVENTS (the public stream, masked), so
they can run anywhere a consumer of the stream can. `apply` must be deterministic:
the runner applies each event once per stream position, in one transaction with the
position, so a redelivered or replayed event changes nothing. Events come in batches
(`begin`, `apply` for each, `end`, all in one transaction), so a projection may read
the rows a batch touches at once and write them back at its end, a few statements a
batch instead of several an event.

A projection whose tables change shape raises its `version`: at the next start its
tables are dropped and built again from the stream (no migration scripts to keep).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import overload

from infra.readdb import Tx


class Projection(ABC):
    name: str
    tables: tuple[str, ...]  # CREATE TABLE IF NOT EXISTS ... (portable SQL)
    table_names: tuple[str, ...]
    version: int = 1

    def create(self, tx: Tx) -> None:
        for ddl in self.tables:
            tx.execute(ddl)

    def drop(self, tx: Tx) -> None:
        for table in self.table_names:
            tx.execute(f"DROP TABLE IF EXISTS {table}")

    def reset(self, tx: Tx) -> None:
        for table in self.table_names:
            tx.execute(f"DELETE FROM {table}")

    def begin(self, tx: Tx, events: Sequence[dict]) -> None:  # noqa: B027 (a hook)
        """Before a batch, in its transaction: `events` are what `apply` will be given.
        A projection that keeps a batch's rows in memory reads them here, in one go."""

    @abstractmethod
    def apply(self, tx: Tx, event: dict) -> None:
        """Apply one CloudEvent (the envelope as parsed JSON)."""

    def end(self, tx: Tx) -> None:  # noqa: B027 (a hook)
        """After the batch's last `apply`, in its transaction, before its position is
        written: a projection that kept rows in memory writes them here. A batch that
        fails is rolled back whole, so what `begin` read is read again next time."""


def event_kind(event: dict) -> str:
    """`ticketflow.ticket.progress_updated.v1` -> `ProgressUpdated`."""
    return _kind_of(event["type"])


@lru_cache(maxsize=1024)
def _kind_of(event_type: str) -> str:
    snake = event_type.split(".")[2]
    return "".join(part.capitalize() for part in snake.split("_"))


def parse_time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _in_utc_form(text: str) -> bool:
    """`YYYY-MM-DDTHH:MM:SS.ffffff+00:00` already (most texts a view meets are)."""
    return len(text) == 32 and text.endswith("+00:00") and text[10] == "T" and text[19] == "."


def _in_z_form(text: str) -> bool:
    """`YYYY-MM-DDTHH:MM:SS.ffffffZ`: the stream's own form of an event's time."""
    return len(text) == 27 and text[26] == "Z" and text[10] == "T" and text[19] == "."


@overload
def utc_text(moment: str | datetime) -> str: ...
@overload
def utc_text(moment: None) -> None: ...
@overload
def utc_text(moment: str | datetime | None) -> str | None: ...
def utc_text(moment: str | datetime | None) -> str | None:
    """`2026-11-24T02:00:00.000000+00:00` from any RFC 3339 text or aware datetime."""
    if moment is None:
        return None
    if isinstance(moment, str):
        if _in_utc_form(moment):
            return moment
        if _in_z_form(moment):
            return moment[:26] + "+00:00"
    when = datetime.fromisoformat(moment) if isinstance(moment, str) else moment
    if when.tzinfo is None:  # the stream never sends these; read them as UTC, not local
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).isoformat(timespec="microseconds")


# `utc_text`, remembered: a view meets the same instants again and again (an event's
# time starts its targets; a ticket's targets are looked at by every batch that touches it).
utc_text_remembered = lru_cache(maxsize=1 << 16)(utc_text)
