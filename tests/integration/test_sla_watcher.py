"""The SLA watcher with a short policy: an unanswered ticket is escalated once, about on
time; an answered one is not; a still-unmet target goes on to the manager; deadlines
survive a restart."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import nats
import pytest

from domain.sla import SlaRule
from domain.ticket import ticket_id_for
from services.bootstrap import build_service
from services.runtime.service import Service
from services.runtime.settings import Settings
from tests.integration.helpers import ask, publish_request

pytestmark = [pytest.mark.nats, pytest.mark.slow]
FIRST_RESPONSE = 2.0  # seconds


@pytest.fixture
def short_policy(policy):
    rule = SlaRule(when={}, clock="wall", first_response=f"{int(FIRST_RESPONSE)}s")
    return policy.model_copy(
        update={
            "sla": [rule],
            "escalation": policy.escalation.model_copy(update={"manager_after": "2s"}),
        }
    )


async def started(url: str, data_dir: Path, policy) -> Service:
    service = build_service(Settings(data_dir=data_dir, nats_url=url, policy=policy))
    await service.start()
    return service


async def escalations(nc, ticket_id: str) -> list[dict]:
    history = await ask(nc, "tickets.query.history", {"ticket_id": ticket_id})
    return [e for e in history["events"] if e["type"] == "Escalated"]


async def wait_for(predicate, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await predicate():
            return
        await asyncio.sleep(0.05)


async def test_an_unanswered_ticket_is_escalated_once_about_on_time(
    fresh_streams, tmp_path, short_policy
) -> None:
    service = await started(fresh_streams, tmp_path, short_policy)
    nc = await nats.connect(fresh_streams)
    try:
        js = nc.jetstream()
        await publish_request(js, "web", {"external_id": "quiet", "content": "hello?"})
        await publish_request(js, "web", {"external_id": "answered", "content": "hello!"})
        await asyncio.sleep(0.5)
        quiet_id, answered_id = (str(ticket_id_for("web", x)) for x in ("quiet", "answered"))
        quiet = await ask(nc, "tickets.query.ticket", {"ticket_id": quiet_id})
        assert quiet["ok"], quiet
        reply = await ask(
            nc,
            "tickets.cmd.update",
            {
                "ticket_id": answered_id,
                "actor": {"id": "A1", "role": "agent"},
                "note": "on it",
                "visibility": "customer",
            },
        )
        assert reply["ok"], reply

        async def escalated_to_manager() -> bool:
            return len(await escalations(nc, quiet_id)) >= 2

        await wait_for(escalated_to_manager, timeout=FIRST_RESPONSE + 8)
        found = await escalations(nc, quiet_id)
        assert [(e["data"]["level"], e["data"]["reason"], e["actor"]["role"]) for e in found] == [
            ("supervisor", "sla_breach", "system"),
            ("manager", "sla_breach", "system"),
        ]
        assert found[0]["data"]["target"] == "first_response"
        assert await escalations(nc, answered_id) == []
        lateness = [
            late
            for tid, target, late in service.parts.watcher.escalated
            if tid == quiet_id and target == "first_response"
        ]
        assert lateness and lateness[0] < 1.0, lateness
        sla = await ask(nc, "tickets.query.sla", {"state": "breached"})
        assert [t["ticket_id"] for t in sla["targets"]] == [quiet_id]
    finally:
        await nc.close()
        await service.stop()


async def test_deadlines_survive_a_restart(fresh_streams, tmp_path, short_policy) -> None:
    service = await started(fresh_streams, tmp_path, short_policy)
    nc = await nats.connect(fresh_streams)
    await publish_request(nc.jetstream(), "web", {"external_id": "r1", "content": "hi"})
    await asyncio.sleep(0.5)
    ticket_id = str(ticket_id_for("web", "r1"))
    assert (await ask(nc, "tickets.query.ticket", {"ticket_id": ticket_id}))["ok"]
    await service.stop()  # down before the target is due
    await asyncio.sleep(FIRST_RESPONSE)
    service = await started(fresh_streams, tmp_path, short_policy)
    try:

        async def escalated() -> bool:
            return bool(await escalations(nc, ticket_id))

        await wait_for(escalated, timeout=5)
        found = await escalations(nc, ticket_id)
        assert [e["data"]["level"] for e in found][:1] == ["supervisor"]
    finally:
        await nc.close()
        await service.stop()
