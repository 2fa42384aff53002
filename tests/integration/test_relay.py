"""The relay: every stored ticket event reaches TICKETS_EVENTS once, in store order,
whatever restarts happen, and however long the relay was down."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import nats
import pytest
from eventsourcing.persistence import IntegrityError
from nats.js.api import StreamConfig

from domain.actor import Actor
from infra.relay import Relay
from infra.streams import EVENTS, ensure_streams
from services.application.desk import TicketDesk
from services.application.messages import IntakeRequest
from services.application.registration import Registrar, Request
from tests.integration.helpers import read_stream

pytestmark = pytest.mark.nats


@pytest.fixture
async def js(fresh_streams: str) -> AsyncIterator[nats.js.JetStreamContext]:
    nc = await nats.connect(fresh_streams)
    js = nc.jetstream()
    yield js
    await nc.close()


def store(desk: TicketDesk, *external_ids: str) -> None:
    now = datetime(2026, 11, 24, 2, tzinfo=UTC)
    Registrar(desk).register(
        [
            Request("web", IntakeRequest(external_id=e, content="how do I reset my password?"), now)
            for e in external_ids
        ]
    )


async def run_until_caught_up(desk: TicketDesk, js) -> Relay:
    relay = Relay(desk, js, poll_interval=0.05)
    task = asyncio.create_task(relay.run())
    async with asyncio.timeout(20):
        while relay.lag() > 0 or relay.position == 0:
            await asyncio.sleep(0.02)
    await relay.flush()
    await task
    return relay


async def stream_events(js, expected: int) -> list[dict]:
    messages = await read_stream(js, "tickets.events.>", expected + 1, timeout=1.5)
    return [json.loads(m.data) for m in messages]


def assert_once_in_store_order(events: list[dict]) -> None:
    ids = [e["id"] for e in events]
    assert len(ids) == len(set(ids)), "an event appears twice on the stream"
    sequences = [e["sequence"] for e in events]
    assert sequences == sorted(sequences) and len(set(sequences)) == len(sequences)


async def test_events_stored_while_no_relay_ran_are_published_in_order(desk, js) -> None:
    await ensure_streams(js)
    store(desk, "a", "b", "c")
    await run_until_caught_up(desk, js)
    events = await stream_events(js, 6)
    assert len(events) == 6
    assert_once_in_store_order(events)
    assert [e["type"].split(".")[2] for e in events] == ["received", "classified"] * 3


async def test_a_restarted_relay_publishes_only_what_is_new(desk, js) -> None:
    await ensure_streams(js)
    store(desk, "a", "b")
    await run_until_caught_up(desk, js)
    store(desk, "c")
    relay = await run_until_caught_up(desk, js)
    assert relay.published == 2
    events = await stream_events(js, 6)
    assert len(events) == 6
    assert_once_in_store_order(events)


async def test_no_duplicates_after_a_downtime_longer_than_the_dedupe_window(desk, js) -> None:
    # The same streams, but JetStream forgets message ids after one second.
    await js.add_stream(
        StreamConfig(name=EVENTS, subjects=["tickets.events.>"], duplicate_window=1.0)
    )
    store(desk, "a", "b")
    await run_until_caught_up(desk, js)
    await asyncio.sleep(1.5)  # the relay is "down" longer than the window
    store(desk, "c")
    await run_until_caught_up(desk, js)
    events = await stream_events(js, 6)
    assert len(events) == 6
    assert_once_in_store_order(events)


async def test_a_gap_in_store_ids_is_skipped_not_waited_for(desk, js) -> None:
    await ensure_streams(js)
    store(desk, "a")
    ticket = desk.load(desk.resolve(None, "CS202611240001"))
    stale = desk.load(ticket.id)
    ticket.close(
        resolution="done",
        actor=Actor("A1", "agent"),
        at=datetime(2026, 11, 24, 3, tzinfo=UTC),
    )
    desk.save(ticket)
    stale.close(
        resolution="twice",
        actor=Actor("A2", "agent"),
        at=datetime(2026, 11, 24, 3, tzinfo=UTC),
    )
    with pytest.raises(IntegrityError):
        desk.save(stale)  # a rolled-back insert: on PostgreSQL its id is never used
    store(desk, "b")
    await run_until_caught_up(desk, js)
    events = await stream_events(js, 5)
    assert len(events) == 5
    assert_once_in_store_order(events)


@pytest.mark.parametrize(
    ("later", "atomic"),
    [
        (["c"], True),  # 3 events to send: one at a time, the first after a resync
        (["c", "d", "e", "f", "g"], True),  # 11: an atomic batch, refused for the repeat
        (["c", "d", "e", "f", "g"], False),  # 11, to a server without atomic batches
    ],
    ids=["a few events", "an atomic batch", "no atomic batches"],
)
async def test_a_lost_tail_is_published_again_though_dedupe_remembers_its_ids(
    desk, js, later, atomic
) -> None:
    await ensure_streams(js)
    if not atomic:
        config = (await js.stream_info(EVENTS)).config
        config.allow_atomic = False
        await js.update_stream(config)
    store(desk, "a", "b")
    await run_until_caught_up(desk, js)
    last = (await js.stream_info(EVENTS)).state.last_seq
    lost = json.loads((await js.get_msg(EVENTS, seq=last)).data)
    await js.delete_msg(EVENTS, last)  # the tail is gone, its message id still remembered
    store(desk, *later)
    relay = await run_until_caught_up(desk, js)
    assert relay.atomic is atomic
    events = await stream_events(js, 4 + 2 * len(later))
    assert_once_in_store_order(events)
    assert len(events) == 4 + 2 * len(later)
    assert lost["id"] in {e["id"] for e in events}
    assert [e["data"].get("external_id") for e in events if "received" in e["type"]] == [
        "a",
        "b",
        *later,
    ]


async def test_a_running_relay_notices_a_purged_stream_and_publishes_it_again(desk, js) -> None:
    await ensure_streams(js)
    store(desk, "a", "b")
    relay = Relay(desk, js, poll_interval=0.05, verify_interval=0.05)
    task = asyncio.create_task(relay.run())
    try:
        await stream_events(js, 4)
        await js.purge_stream(EVENTS)
        events = await stream_events(js, 4)
    finally:
        task.cancel()
    assert_once_in_store_order(events)
    assert len(events) == 4 and relay.republished == 4
    assert [e["data"].get("external_id") for e in events if "received" in e["type"]] == ["a", "b"]
