"""A 3-node JetStream cluster on loopback, streams with 3 replicas: the stream leader is
killed during a burst; no accepted request is lost and nothing is duplicated."""

from __future__ import annotations

import asyncio
import json
import socket
import time

import nats
import pytest

from infra.nats_server import EmbeddedNats
from infra.streams import EVENTS, INTAKE
from services.bootstrap import build_service
from services.runtime.settings import Settings
from tests.integration.helpers import read_stream

pytestmark = [pytest.mark.nats, pytest.mark.slow]
BURST = 1500


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def cluster(tmp_path):
    routes = [free_port() for _ in range(3)]
    servers = []
    for i in range(3):
        others = ", ".join(f"nats://127.0.0.1:{p}" for j, p in enumerate(routes) if j != i)
        servers.append(
            EmbeddedNats(
                tmp_path / f"n{i}",
                server_name=f"n{i}",
                extra_config=f"cluster {{ name: tf, listen: 127.0.0.1:{routes[i]}, "
                f"routes: [{others}] }}",
            )
        )
    urls = [s.start() for s in servers]
    yield servers, urls
    for s in servers:
        s.stop()


async def publish_until_acked(js, count: int) -> None:
    """An adapter that retries every request (same Nats-Msg-Id) until JetStream acks it."""
    pending = set(range(count))
    while pending:
        for i in sorted(pending):
            body = {"external_id": f"c-{i}", "content": f"order {i} is late, refund please"}
            try:
                await js.publish(
                    "tickets.intake.web",
                    json.dumps(body).encode(),
                    timeout=2,
                    headers={"Nats-Msg-Id": f"web:c-{i}"},
                )
                pending.discard(i)
            except Exception:
                await asyncio.sleep(0.2)


async def leader_of(js, stream: str) -> str:
    return (await js.stream_info(stream)).cluster.leader


async def test_killing_the_stream_leader_mid_burst_loses_nothing(cluster, tmp_path, policy):
    servers, urls = cluster
    url = ",".join(urls)
    service = build_service(
        Settings(data_dir=tmp_path / "svc", nats_url=url, policy=policy, replicas=3)
    )
    await service.start()
    nc = await nats.connect(servers=urls, max_reconnect_attempts=-1)
    js = nc.jetstream()
    try:
        publisher = asyncio.create_task(publish_until_acked(js, BURST))
        await asyncio.sleep(1.0)
        leader = await leader_of(js, EVENTS)
        victim = next(s for s in servers if s.server_name == leader)
        victim.process.kill()  # kill -9 the leader of the events stream
        killed_at = time.monotonic()
        await publisher
        async with asyncio.timeout(120):
            while True:
                try:
                    total = (await js.stream_info(EVENTS)).state.messages
                    events = [
                        json.loads(m.data)
                        for m in await read_stream(js, "tickets.events.>", total, timeout=10)
                    ]
                except Exception:
                    await asyncio.sleep(0.5)
                    continue
                classified = sum(e["type"].endswith("classified.v2") for e in events)
                # A publish retried across the failover can land twice: the copy is
                # consumed (and changes nothing) a moment later, so wait for it too.
                drained = (await js.stream_info(INTAKE)).state.messages == 0
                if classified >= BURST and drained:
                    break
                await asyncio.sleep(0.5)
        recovered = time.monotonic() - killed_at
    finally:
        await nc.close()
        await service.stop()
    ids = [e["id"] for e in events]
    assert len(ids) == len(set(ids)), "an event is on the stream twice"
    received = {
        e["data"]["external_id"]
        for e in events
        if e["type"].startswith("ticketflow.ticket.received.")
    }
    assert received == {f"c-{i}" for i in range(BURST)}
    print(f"leader {leader} killed; all {BURST} tickets on the stream {recovered:.1f}s later")
