"""Two `ticketflow up` instances share one PostgreSQL store and one NATS: intake is one
work queue between them, exactly one leads (relay and read side), and when the leader is
killed mid-burst the other takes over; nothing accepted is lost, nothing is doubled."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nats
import pytest
from eventsourcing.cryptography import AESCipher

from tests.faults.running import Adapter, count_events, wait_for_events
from tests.integration.helpers import assert_every_request_once, read_stream

pytestmark = [pytest.mark.nats, pytest.mark.postgres, pytest.mark.slow]
BURST = 2000


def start(nats_url: str, store: str, data_dir: Path, key: str) -> subprocess.Popen:
    data_dir.mkdir()
    log = open(data_dir / "service.log", "ab")  # noqa: SIM115 - closed with the process
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "services.cli",
            "up",
            "--nats-url",
            nats_url,
            "--store",
            store,
            "--data-dir",
            str(data_dir),
        ],
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
        env={**os.environ, "TICKETFLOW_CIPHER_KEY": key},
    )
    assert process.stdout is not None
    assert process.stdout.readline().startswith("nats: ")
    return process


def leads(data_dir: Path) -> bool:
    return b"this instance leads" in (data_dir / "service.log").read_bytes()


async def wait_until(predicate, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.1)


async def test_the_follower_takes_over_when_the_leader_dies(
    fresh_streams, postgres_schema, tmp_path
) -> None:
    key = AESCipher.create_key(32)
    a = start(fresh_streams, postgres_schema, tmp_path / "a", key)
    await wait_until(lambda: leads(tmp_path / "a"), 20)
    b = start(fresh_streams, postgres_schema, tmp_path / "b", key)
    nc = await nats.connect(fresh_streams)
    js = nc.jetstream()
    try:
        publisher = asyncio.create_task(Adapter(js, "crash").send(BURST))
        await wait_for_events(js, 300, timeout=60)
        assert not leads(tmp_path / "b")  # one leader at a time
        os.kill(a.pid, signal.SIGKILL)
        a.wait()
        await wait_until(lambda: leads(tmp_path / "b"), 30)
        await publisher
        async with asyncio.timeout(120):
            while True:
                total = await count_events(js)
                events = [
                    json.loads(m.data)
                    for m in await read_stream(js, "tickets.events.>", total, timeout=10)
                ]
                if sum(e["type"].endswith("classified.v2") for e in events) >= BURST:
                    break
                await asyncio.sleep(0.5)
    finally:
        await nc.close()
        b.send_signal(signal.SIGTERM)
        assert b.wait(60) == 0
    assert_every_request_once(events, {f"crash-{i}" for i in range(BURST)})
