"""Feed a projection the CloudEvents the relay would publish for everything stored."""

from __future__ import annotations

import json
from typing import Any

from infra.projector import Projector
from infra.readdb import ReadDB
from infra.relay import PUBLISHED_TOPICS, to_outgoing
from projections.base import Projection
from services.application.desk import TicketDesk


def stream_of(desk: TicketDesk) -> list[tuple[int, dict]]:
    """(position, event) pairs as the stream would hold them, in store order."""
    notifications = desk.recorder.select_notifications(start=0, limit=100_000)
    return [
        (n.id, json.loads(to_outgoing(desk, n).payload))
        for n in notifications
        if n.topic in PUBLISHED_TOPICS
    ]


def projector(projection: Projection, store_url: str) -> Projector:
    return Projector(projection, ReadDB(store_url), js=None)  # type: ignore[arg-type]


def project(desk: TicketDesk, p: Projector) -> list[dict]:
    return p.apply_batch(stream_of(desk))


def dump(p: Projector) -> dict[str, list[Any]]:
    """Every row of the projection's tables, sorted: for equality checks."""
    tables = {}
    with p.db.transaction() as tx:
        for table in p.projection.table_names:
            tables[table] = sorted(
                tuple(r) for r in tx.execute(f"SELECT * FROM {table}").fetchall()
            )
    return tables
