"""The NATS server restarted, or killed with -9, in the middle of a burst: the service
reconnects, nothing accepted is lost, nothing is doubled on the stream, and the
projections equal a rebuild. The server writes with `sync_interval: always`, so what
it acknowledged survives even kill -9."""

from __future__ import annotations

import asyncio

import nats
import pytest

from infra.nats_server import EmbeddedNats
from tests.faults.consistency import assert_consistent
from tests.faults.running import (
    Adapter,
    free_port,
    start_service,
    stop_service,
)

pytestmark = [pytest.mark.nats, pytest.mark.slow]
BURST = 1500


@pytest.mark.parametrize("how", ["restart", "kill -9"])
async def test_the_nats_server_going_down_mid_burst_loses_and_doubles_nothing(
    tmp_path, how
) -> None:
    server = EmbeddedNats(tmp_path / "nats", port=free_port())
    url = server.start()
    data = tmp_path / "data"
    data.mkdir()
    service = start_service(url, data)
    nc = await nats.connect(url, max_reconnect_attempts=-1, reconnect_time_wait=0.2)
    js = nc.jetstream()
    try:
        adapter, mid_burst = Adapter(js, "nats"), []
        sending = asyncio.create_task(adapter.send(BURST, window=25, pause=0.1))
        for at_least in (300, 1000):  # twice: early in the burst, and later
            async with asyncio.timeout(60):
                while len(adapter.accepted) < at_least:
                    await asyncio.sleep(0.02)
            assert server.process is not None
            mid_burst.append(not sending.done())
            if how == "restart":
                server.stop()
            else:
                server.process.kill()
                server.process.wait()
            await asyncio.sleep(1.0)  # down for a moment: publishes fail and are retried
            server.start()
        await asyncio.wait_for(sending, 120)
        counts = await assert_consistent(
            js, f"sqlite:///{data / 'tickets.db'}", data, adapter.accepted
        )
    finally:
        exit_code = stop_service(service)
        await nc.close()
        server.stop()
    assert exit_code == 0
    assert adapter.accepted == {f"nats-{i}" for i in range(BURST)}
    assert counts["tickets"] == BURST
    assert mid_burst == [True, True], "a fault came after the adapter had finished"
