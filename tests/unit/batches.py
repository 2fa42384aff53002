"""Feeding a projection a list of events cut into batches, and reading its tables back:
for the specifications that a view's tables do not depend on how its stream is cut."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from infra.projector import Projector
from infra.readdb import Tx


def apply_in_batches(p: Projector, events: list[dict], size: int, start: int = 0) -> None:
    """The events at stream positions `start + 1`, ..., applied `size` at a time."""
    stream = [(start + i + 1, {**e, "sequence": start + i + 1}) for i, e in enumerate(events)]
    for first in range(0, len(stream), size):
        p.apply_batch(stream[first : first + size])


def dump(p: Projector) -> dict[str, list[tuple]]:
    """Every row of the projection's tables, sorted (NULLs too): for equality checks."""
    with p.db.transaction() as tx:
        return {
            table: sorted(map(tuple, tx.execute(f"SELECT * FROM {table}").fetchall()), key=repr)
            for table in p.projection.table_names
        }


def tables_once_and_emptied(p: Projector, events: list[dict]) -> dict[str, list[tuple]]:
    """The tables after all `events` in one batch; then the projection's tables and
    positions are dropped and `p` closed, so the next projector starts empty."""
    apply_in_batches(p, events, len(events))
    tables = dump(p)
    with p.db.transaction() as tx:
        p.projection.drop(tx)
        tx.execute("DELETE FROM projection_positions")
        tx.execute("DELETE FROM projection_versions")
    p.db.close()
    return tables


def tables_cut_into(p: Projector, events: list[dict], size: int) -> dict[str, list[tuple]]:
    """The tables after `events` applied `size` at a time."""
    apply_in_batches(p, events, size)
    return dump(p)


def statements_counted(monkeypatch: pytest.MonkeyPatch) -> Callable[[], int]:
    """From now on every statement a projection runs (`Tx.execute`, `Tx.executemany`)
    is counted; the function returned tells how many so far."""
    count = 0

    def counted(method: Any) -> Any:
        def run(self: Tx, *args: Any) -> Any:
            nonlocal count
            count += 1
            return method(self, *args)

        return run

    monkeypatch.setattr(Tx, "execute", counted(Tx.execute))
    monkeypatch.setattr(Tx, "executemany", counted(Tx.executemany))
    return lambda: count
