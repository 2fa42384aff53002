"""The stream loses its tail, or the read side loses its consumer, while the service
runs: the store is the truth, so the relay publishes again what the stream lost, the
read side creates its consumer again, and everything ends equal."""

from __future__ import annotations

import asyncio

import nats
import pytest

from infra.streams import EVENTS
from tests.faults.consistency import assert_consistent, wait_until_settled
from tests.faults.running import Adapter, start_service, stop_service

pytestmark = [pytest.mark.nats, pytest.mark.slow]
READ_SIDE = "ticketflow-read-side"


@pytest.fixture
async def running(fresh_streams, tmp_path):
    service = start_service(fresh_streams, tmp_path)
    nc = await nats.connect(fresh_streams)
    try:
        yield nc.jetstream(), f"sqlite:///{tmp_path / 'tickets.db'}", tmp_path
    finally:
        exit_code = stop_service(service)
        await nc.close()
    assert exit_code == 0


async def test_a_deleted_tail_is_published_again_from_the_store(running) -> None:
    js, store_url, data = running
    adapter = Adapter(js, "tail")
    await adapter.send(400)
    await wait_until_settled(js, store_url, data)
    last = (await js.stream_info(EVENTS)).state.last_seq
    for seq in range(last - 99, last + 1):  # the last 100 events are gone
        await js.delete_msg(EVENTS, seq)
    await adapter.send(600)  # and the service goes on taking requests
    counts = await assert_consistent(js, store_url, data, adapter.accepted)
    assert counts["tickets"] == 600


async def test_a_purged_stream_is_published_again_from_the_store(running) -> None:
    js, store_url, data = running
    adapter = Adapter(js, "purge")
    await adapter.send(300)
    stored = await wait_until_settled(js, store_url, data)
    await js.purge_stream(EVENTS)
    counts = await assert_consistent(js, store_url, data, adapter.accepted)
    assert counts["events"] == len(stored)  # all of them again, once each


async def test_the_read_sides_consumer_deleted_is_created_again_and_catches_up(running) -> None:
    js, store_url, data = running
    adapter = Adapter(js, "consumer")
    sending = asyncio.create_task(adapter.send(800, window=50, pause=0.05))
    async with asyncio.timeout(60):
        while len(adapter.accepted) < 200:
            await asyncio.sleep(0.02)
    await js.delete_consumer(EVENTS, READ_SIDE)  # mid-burst
    await sending
    await assert_consistent(js, store_url, data, adapter.accepted)
    assert (await js.consumer_info(EVENTS, READ_SIDE)).name == READ_SIDE
