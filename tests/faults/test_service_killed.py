"""kill -9 of the service at random points of a burst, several times, and again while the
customers reply: nothing accepted is lost, no reply becomes a ticket or is recorded
twice, nothing is doubled on the stream, the projections equal a rebuild."""

from __future__ import annotations

import asyncio
import os
import random
import signal

import nats
import pytest

from tests.faults.consistency import assert_consistent, wait_until_settled
from tests.faults.running import Adapter, start_service, stop_service, wait_for_events

pytestmark = [pytest.mark.nats, pytest.mark.slow]
BURST, KILLS, REPLIES = 2500, 4, 300


@pytest.mark.parametrize("seed", [20261124])
async def test_kill_minus_nine_at_random_points_loses_and_doubles_nothing(
    fresh_streams, tmp_path, seed
) -> None:
    rng = random.Random(seed)
    # kill points: numbers of events on the stream, random within the burst's span
    points = sorted(rng.sample(range(50, 2 * BURST), KILLS))
    nc = await nats.connect(fresh_streams)
    js = nc.jetstream()
    store_url = f"sqlite:///{tmp_path / 'tickets.db'}"
    service = start_service(fresh_streams, tmp_path)
    try:
        adapter = Adapter(js, "kill")
        sending = asyncio.create_task(adapter.send(BURST))
        for at_least in points:
            await wait_for_events(js, at_least)
            await asyncio.sleep(rng.uniform(0, 0.05))  # not always right after a batch
            os.kill(service.pid, signal.SIGKILL)
            service.wait()
            service = start_service(fresh_streams, tmp_path)
        await sending
        await wait_until_settled(js, store_url, tmp_path)  # the replies find their tickets
        replying = asyncio.create_task(adapter.reply(REPLIES, window=20))
        await asyncio.sleep(rng.uniform(0.05, 0.3))
        os.kill(service.pid, signal.SIGKILL)
        service.wait()
        service = start_service(fresh_streams, tmp_path)
        await replying
        counts = await assert_consistent(js, store_url, tmp_path, adapter.accepted)
    finally:
        assert stop_service(service) == 0
        await nc.close()
    asked = {f"kill-{i}" for i in range(BURST)} | {f"kill-{i}-re" for i in range(REPLIES)}
    assert adapter.accepted == asked
    assert (counts["tickets"], counts["replies"]) == (BURST, REPLIES)
