"""Kill -9 the service mid-burst, start it again: nothing accepted is lost, nothing doubled."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import nats
import pytest

from infra.streams import EVENTS, INTAKE
from tests.integration.helpers import assert_every_request_once, read_stream

pytestmark = [pytest.mark.nats, pytest.mark.slow]
BURST = 3000


def start_service(nats_url: str, data_dir: Path, *extra: str) -> subprocess.Popen:
    log = open(data_dir / "service.log", "ab")  # noqa: SIM115 - closed with the process
    process = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "up", "--nats-url", nats_url,
         "--data-dir", str(data_dir), *extra],
        stdout=subprocess.PIPE, stderr=log, text=True)
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line.startswith("nats: "), f"service did not start: {line!r}"
    return process


@pytest.fixture
async def js(fresh_streams: str):
    nc = await nats.connect(fresh_streams)
    js = nc.jetstream()
    yield js
    await nc.close()


async def publish_burst(js, count: int) -> None:
    futures = []
    for i in range(count):
        body = {"external_id": f"crash-{i}", "content": f"my order {i} has not arrived, refund?"}
        futures.append(await js.publish_async(
            "tickets.intake.web", json.dumps(body).encode(),
            headers={"Nats-Msg-Id": f"web:crash-{i}"}))
    await asyncio.wait_for(asyncio.gather(*futures), 60)


async def count_events(js) -> int:
    try:
        return (await js.stream_info(EVENTS)).state.messages
    except nats.js.errors.NotFoundError:
        return 0


async def wait_for_events(js, at_least: int, timeout: float) -> int:
    """At least this many events on the stream (group impact may add ImpactRaised)."""
    async with asyncio.timeout(timeout):
        while (n := await count_events(js)) < at_least:
            await asyncio.sleep(0.05)
    return n


async def wait_for_tickets(js, count: int, timeout: float) -> None:
    """Until every ticket's Received and Classified are on the stream."""
    async with asyncio.timeout(timeout):
        while True:
            total = await count_events(js)
            events = await read_stream(js, "tickets.events.>", total, timeout=10)
            if sum(m.subject.startswith("tickets.events.Classified.") for m in events) >= count:
                return
            await asyncio.sleep(0.5)


async def test_kill_minus_nine_mid_burst_loses_and_doubles_nothing(fresh_streams, js,
                                                                    tmp_path) -> None:
    service = start_service(fresh_streams, tmp_path)
    try:
        publisher = asyncio.create_task(publish_burst(js, BURST))
        for at_least in (200, 1800):  # kill twice, at different points of the burst
            await wait_for_events(js, at_least, timeout=60)
            os.kill(service.pid, signal.SIGKILL)
            service.wait()
            service = start_service(fresh_streams, tmp_path)
        await publisher
        await wait_for_tickets(js, BURST, timeout=120)
        await asyncio.sleep(1.0)  # anything extra would show up now
    finally:
        service.send_signal(signal.SIGTERM)
        assert service.wait(30) == 0
    total = await count_events(js)
    events = [json.loads(m.data) for m in await read_stream(js, "tickets.events.>", total)]
    assert len(events) == total
    assert_every_request_once(events, {f"crash-{i}" for i in range(BURST)})
    kinds = [e["type"].split(".")[2] for e in events]
    assert kinds.count("classified") == BURST
    assert (await js.stream_info(INTAKE)).state.messages == 0  # every request acknowledged
