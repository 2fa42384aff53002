"""The check every fault test ends with: the store, the stream and the projections agree.

- every accepted request (its intake publish was acknowledged) is in the store once: a
  ticket, or a reply recorded on its ticket;
- the stream holds every stored ticket event exactly once, in store order;
- each projection, caught up, equals a rebuild of it from the stream.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

import nats

from infra.policy_file import load_policy
from infra.projector import Projector
from infra.readdb import ReadDB
from infra.relay import PUBLISHED_TOPICS
from infra.store import read_models_url, store_env
from infra.streams import EVENTS, INTAKE, INTAKE_DURABLE
from services.application.desk import TicketDesk
from services.readside.projections import projections_for
from tests.integration.helpers import read_stream


def stored_ticket_events(store_url: str, data_dir: Path) -> list[tuple[int, str, str]]:
    """(store sequence, event id `<ticket>:<version>`, the external id of the request it
    took in: a Received or a CustomerReplied, else "") per event."""
    desk = TicketDesk(load_policy(), store_env(store_url, data_dir))
    try:
        events, start = [], 0
        while batch := desk.recorder.select_notifications(
            start=start, limit=5000, inclusive_of_start=False
        ):
            for n in batch:
                if n.topic in PUBLISHED_TOPICS:
                    event: Any = desk.mapper.to_domain_event(n)
                    events.append(
                        (
                            n.id,
                            f"{event.originator_id}:{event.originator_version}",
                            getattr(event, "external_id", ""),
                        )
                    )
            start = batch[-1].id
        return events
    finally:
        desk.close()


async def stream_events(js: Any) -> list[dict]:
    total = (await js.stream_info(EVENTS)).state.messages
    return [
        json.loads(m.data) for m in await read_stream(js, "tickets.events.>", total, timeout=30)
    ]


async def wait_until_settled(
    js: Any, store_url: str, data_dir: Path, timeout: float = 120
) -> list[tuple[int, str, str]]:
    """Until every request was taken in, the stream holds as many ticket events as the
    store and every projection reached the stream's end, twice in a row a second apart
    (reactions to what was projected, such as group impact, store events of their own)."""
    previous, seen = None, {}
    try:
        async with asyncio.timeout(timeout):
            while True:
                pending = await intake_pending(js)
                stored = await asyncio.to_thread(stored_ticket_events, store_url, data_dir)
                info = (await js.stream_info(EVENTS)).state
                positions = await asyncio.to_thread(projection_positions, store_url)
                seen = {
                    "intake pending": pending,
                    "stored events": len(stored),
                    "stream messages": info.messages,
                    "stream last": info.last_seq,
                    "projections": positions,
                }
                if (
                    not pending
                    and info.messages == len(stored)
                    and positions
                    and min(positions.values()) >= info.last_seq
                ):
                    if previous == len(stored):
                        return stored
                    previous = len(stored)
                    await asyncio.sleep(1.0)
                    continue
                previous = None
                await asyncio.sleep(0.5)
    except TimeoutError:
        raise AssertionError(f"not settled within {timeout}s: {seen}") from None


async def intake_pending(js: Any) -> int:
    """Requests the intake consumer has not taken in yet (a work-queue stream may keep
    a message whose acknowledgement a server restart interrupted; the consumer's own
    counts are the truth)."""
    try:
        info = await js.consumer_info(INTAKE, INTAKE_DURABLE)
    except nats.js.errors.NotFoundError:
        return (await js.stream_info(INTAKE)).state.messages
    return int(info.num_pending or 0) + int(info.num_ack_pending or 0)


def projection_positions(store_url: str) -> dict[str, int]:
    db = ReadDB(read_models_url(store_url))
    try:
        with db.transaction(write=False) as tx:
            return {
                name: seq
                for name, seq in tx.execute(
                    "SELECT name, stream_seq FROM projection_positions"
                ).fetchall()
            }
    except (sqlite3.OperationalError, Exception):  # not created yet
        return {}
    finally:
        db.close()


def dump(db: ReadDB, tables: tuple[str, ...]) -> dict[str, list[tuple]]:
    with db.transaction(write=False) as tx:
        return {
            t: sorted(tuple(r) for r in tx.execute(f"SELECT * FROM {t}").fetchall()) for t in tables
        }


async def assert_projections_equal_a_rebuild(js: Any, store_url: str, data_dir: Path) -> None:
    desk = TicketDesk(load_policy(), store_env(store_url, data_dir))
    live_db = ReadDB(read_models_url(store_url))
    with tempfile.TemporaryDirectory() as tmp:
        fresh_db = ReadDB(f"sqlite:///{Path(tmp) / 'rebuilt.db'}")
        try:
            for projection in projections_for(desk.policy):
                rebuilt = Projector(projection, fresh_db, js)
                await rebuilt.rebuild()
                live, again = (
                    dump(live_db, projection.table_names),
                    dump(fresh_db, projection.table_names),
                )
                for table in projection.table_names:
                    extra = [r for r in live[table] if r not in set(again[table])][:3]
                    missing = [r for r in again[table] if r not in set(live[table])][:3]
                    assert live[table] == again[table], (
                        f"{projection.name}.{table} != its rebuild: only live {extra}, "
                        f"only rebuilt {missing} ({len(live[table])} vs {len(again[table])})"
                    )
        finally:
            fresh_db.close()
            live_db.close()
            desk.close()


async def assert_consistent(
    js: Any, store_url: str, data_dir: Path, accepted: set[str]
) -> dict[str, int]:
    """The whole check; returns counts for the test's report."""
    stored = await wait_until_settled(js, store_url, data_dir)
    received = [external for _, _, external in stored if external]
    assert set(received) >= accepted, f"lost: {sorted(accepted - set(received))[:5]}"
    assert len(received) == len(set(received)), "a request was taken in twice"
    events = await stream_events(js)
    ids = [e["id"] for e in events]
    assert len(ids) == len(set(ids)), "an event is on the stream twice"
    expected = [event_id for _, event_id, _ in stored]
    first = next(
        (i for i, (a, b) in enumerate(zip(ids, expected, strict=False)) if a != b),
        min(len(ids), len(expected)),
    )
    assert ids == expected, (
        f"stream != store from #{first}: {ids[first : first + 3]} vs "
        f"{expected[first : first + 3]} ({len(ids)} vs {len(expected)})"
    )
    await assert_projections_equal_a_rebuild(js, store_url, data_dir)
    replies = sum(e["type"].startswith("ticketflow.ticket.customer_replied.") for e in events)
    return {"tickets": len(received) - replies, "replies": replies, "events": len(events)}
