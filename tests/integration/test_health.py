"""Health, metrics and ticket log lines of a running service, against a real nats-server.

Each test gets fresh streams on the session's server and a store of its own.
"""

from __future__ import annotations

import asyncio
import json
import logging
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path

import nats
import pytest

from domain.ticket import ticket_id_for
from infra.logs import JsonFormatter
from services.bootstrap import build_service
from services.runtime.service import Service
from services.runtime.settings import Settings
from tests.integration.helpers import ask, publish_request
from tests.prometheus_text import parse

pytestmark = pytest.mark.nats
PROJECTIONS = {"sla", "audit", "stats", "reports", "problems", "articles"}


async def started(nats_url: str, data_dir: Path, policy, **settings) -> Service:
    svc = build_service(Settings(data_dir=data_dir, nats_url=nats_url, policy=policy, **settings))
    await svc.start()
    return svc


@pytest.fixture
async def service(fresh_streams: str, tmp_path: Path, policy) -> AsyncIterator[Service]:
    svc = await started(fresh_streams, tmp_path, policy, metrics_port=0)
    yield svc
    await svc.stop()


async def health_when(nc: nats.NATS, done, timeout: float = 20.0) -> dict:
    """Ask `tickets.query.health` until `done(reply)`; the last reply otherwise."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        reply = await ask(nc, "tickets.query.health", {})
        if done(reply) or asyncio.get_running_loop().time() > deadline:
            return reply
        await asyncio.sleep(0.2)


def caught_up(reply: dict) -> bool:
    checks = reply["checks"]
    return (
        reply["status"] == "ready"
        and checks["relay"]["lag_events"] == 0
        and checks["intake"]["lag_messages"] == 0
        and not any(checks["projections"]["lag_events"].values())
    )


def get(url: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read().decode()


async def test_a_running_service_is_ready_with_no_lag_once_a_burst_is_caught_up(client) -> None:
    js = client.jetstream()
    for i in range(60):
        await publish_request(js, "web", {"external_id": f"burst-{i}", "content": "页面白屏"})
    reply = await health_when(client, caught_up)
    assert reply["ok"] and reply["status"] == "ready", reply
    checks = reply["checks"]
    assert all(check["ok"] for check in checks.values()), checks
    assert checks["relay"]["stream_position"] > 0
    assert checks["relay"]["store_position"] >= checks["relay"]["stream_position"]
    assert set(checks["projections"]["lag_events"]) == PROJECTIONS
    assert checks["projections"]["stream_last"] >= 120  # Received, Classified, ...
    assert checks["leader"]["here"] is True
    assert checks["sla_watcher"]["breaches_escalated"] == 0
    assert checks["dlq"]["messages"] == 0
    assert reply["uptime_seconds"] > 0 and reply["version"]


async def test_relay_lag_counts_events_stored_but_not_yet_on_the_stream(
    fresh_streams, tmp_path, policy
) -> None:
    # A front process alone: intake stores, but no leader runs the relay.
    front = await started(fresh_streams, tmp_path, policy, role="front")
    nc = await nats.connect(front.url)
    try:
        for i in range(3):
            await publish_request(
                nc.jetstream(), "chat", {"external_id": f"lag-{i}", "content": "退款"}
            )
        reply = await health_when(nc, lambda r: r["checks"]["relay"].get("lag_events") == 6)
    finally:
        await nc.close()
        await front.stop()
    checks = reply["checks"]
    assert checks["relay"]["lag_events"] == 6  # Received and Classified of three tickets
    assert checks["relay"]["stream_position"] == 0
    assert checks["leader"]["ok"] is False
    assert "no instance leads" in checks["leader"]["error"]
    assert checks["sla_watcher"]["ok"] is False
    assert reply["status"] == "starting"  # failing checks within the start-up grace


async def test_the_metrics_endpoint_serves_prometheus_text_and_counts_dead_letters(
    service, client
) -> None:
    js = client.jetstream()
    await publish_request(js, "email", b"{not json", msg_id="bad-1")
    await publish_request(js, "email", {"external_id": "m-1", "content": "退款"})
    await health_when(client, lambda r: r["checks"]["dlq"].get("messages") == 1 and caught_up(r))
    await asyncio.sleep(0.6)  # past the report cache
    base = f"http://127.0.0.1:{service.parts.metrics.port}"
    status, kind, text = await asyncio.to_thread(get, f"{base}/metrics")
    assert status == 200 and kind.startswith("text/plain; version=0.0.4")
    families = parse(text)
    assert families["ticketflow_dlq_messages"].value() == 1
    assert families["ticketflow_intake_requests_total"].value(outcome="rejected") == 1
    assert families["ticketflow_tickets_received_total"].value() == 1
    assert families["ticketflow_relay_lag_events"].value() == 0
    assert families["ticketflow_intake_lag_messages"].value() == 0
    for name in PROJECTIONS:
        assert families["ticketflow_projection_lag_events"].value(projection=name) == 0
    assert families["ticketflow_sla_breaches_total"].kind == "counter"
    assert families["ticketflow_intake_batch_seconds"].kind == "histogram"
    assert families["ticketflow_ready"].value() == 1


async def test_readyz_and_healthz_answer_for_probes(service, client) -> None:
    await health_when(client, caught_up)
    base = f"http://127.0.0.1:{service.parts.metrics.port}"
    assert (await asyncio.to_thread(get, f"{base}/healthz"))[0] == 200
    status, kind, body = await asyncio.to_thread(get, f"{base}/readyz")
    assert (status, kind) == (200, "application/json")
    assert json.loads(body)["status"] == "ready"
    assert (await asyncio.to_thread(get, f"{base}/nothing"))[0] == 404


async def test_the_metrics_query_answers_the_same_text_over_nats(client) -> None:
    reply = await ask(client, "tickets.query.metrics", {})
    assert reply["ok"] and reply["content_type"].startswith("text/plain; version=0.0.4")
    assert "ticketflow_relay_lag_events" in parse(reply["text"])


async def test_an_unknown_member_in_a_health_query_is_invalid(client) -> None:
    reply = await ask(client, "tickets.query.health", {"verbose": True})
    assert reply["ok"] is False and reply["error"]["code"] == "invalid"


async def test_ticket_log_lines_carry_the_ticket_id_and_number(client, caplog) -> None:
    caplog.set_level(logging.INFO, logger="ticketflow")
    js = client.jetstream()
    await publish_request(js, "phone", {"external_id": "p-1", "content": "账号被盗"})
    await health_when(client, caught_up)
    ticket_id = str(ticket_id_for("phone", "p-1"))
    found = await ask(client, "tickets.query.ticket", {"ticket_id": ticket_id})
    number = found["ticket"]["number"]
    reply = await ask(
        client,
        "tickets.cmd.assign",
        {"number": number, "assignee": "A007", "actor": {"id": "S001", "role": "supervisor"}},
    )
    assert reply["ok"], reply
    lines = [json.loads(JsonFormatter().format(r)) for r in caplog.records]
    registered = [line for line in lines if line["message"].startswith("registered")]
    assigned = [line for line in lines if line.get("command") == "assign"]
    for line in (*registered, *assigned):
        assert line["ticket_id"] == ticket_id and line["number"] == number, line
    assert len(registered) == 1 and len(assigned) == 1


async def test_a_dead_letter_log_line_carries_the_reason_and_subject(client, caplog) -> None:
    caplog.set_level(logging.INFO, logger="ticketflow")
    await publish_request(client.jetstream(), "fax", {"external_id": "f-1", "content": "x"})
    await health_when(client, lambda r: r["checks"]["dlq"].get("messages") == 1)
    lines = [json.loads(JsonFormatter().format(r)) for r in caplog.records]
    rejected = [line for line in lines if line["message"].startswith("intake: rejected")]
    assert rejected and rejected[0]["subject"] == "tickets.intake.fax"
    assert "unknown channel" in rejected[0]["reason"]
