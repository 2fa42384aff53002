"""PostgreSQL (the store) restarted in the middle of a burst, and stopped as by a crash
(`-m immediate`): requests wait in JetStream and are taken in when the store is back;
nothing accepted is lost, nothing doubled, the projections equal a rebuild."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

import nats
import pytest

from tests.faults.consistency import assert_consistent
from tests.faults.private_postgres import private_postgres_or_skip
from tests.faults.running import Adapter, free_port, start_service, stop_service
from tests.integration.helpers import ask

pytestmark = [pytest.mark.nats, pytest.mark.postgres, pytest.mark.slow]
BURST = 1200


@pytest.mark.parametrize("mode", ["fast", "immediate"])
async def test_the_store_restarted_mid_burst_loses_and_doubles_nothing(
    fresh_streams, tmp_path, mode
) -> None:
    # a short path: the server's socket lives in it (Unix sockets have a length limit)
    with tempfile.TemporaryDirectory(prefix="pg") as short:
        postgres = private_postgres_or_skip(Path(short) / "pg", free_port())
        try:
            await _burst_through_restarts(fresh_streams, tmp_path, postgres, mode)
        finally:
            postgres.stop("immediate")


async def _burst_through_restarts(nats_url: str, data: Path, postgres, mode: str) -> None:
    service = start_service(nats_url, data, "--store", postgres.url)
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    try:
        adapter, mid_burst = Adapter(js, f"pg-{mode}"), []
        sending = asyncio.create_task(adapter.send(BURST, window=25, pause=0.1))
        for at_least in (250, 800):
            async with asyncio.timeout(60):
                while len(adapter.accepted) < at_least:
                    await asyncio.sleep(0.02)
            mid_burst.append(not sending.done())
            await asyncio.to_thread(postgres.stop, mode)
            await asyncio.sleep(1.0)
            await asyncio.to_thread(postgres.start)
        await asyncio.wait_for(sending, 120)
        counts = await assert_consistent(js, postgres.url, data, adapter.accepted)
        health = await ask(nc, "tickets.query.health", {})
    finally:
        exit_code = stop_service(service)
        await nc.close()
    assert mid_burst == [True, True]
    failing = {name: c for name, c in health["checks"].items() if not c["ok"]}
    assert health["status"] == "ready" and not failing, failing  # the watcher too
    assert counts["tickets"] == BURST
    assert exit_code == 0
