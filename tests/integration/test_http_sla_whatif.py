"""The SLA what-if over HTTP (`POST /api/v1/admin/sla-whatif`) on a running service: a
manager gets the whole report of the tickets received in a period under a candidate
policy; a bad policy is refused naming its key and nothing changes; roles that may not
ask are refused."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest

from infra.policy_file import policy_from_text
from services.runtime.service import Service
from tests.integration.test_http_api import AGENT, submitted

pytestmark = pytest.mark.nats
MANAGER = ("M001", "manager")
PATH = "/admin/sla-whatif"
ONE_SECOND = """
[[sla]]
clock = "wall"
first_response = "1s"
resolution = "1s"
"""


@pytest.fixture
async def api(service: Service) -> AsyncIterator[httpx.AsyncClient]:
    assert service.parts.http is not None
    base = f"http://127.0.0.1:{service.parts.http.port}/api/v1"
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        yield client


async def tickets(api: httpx.AsyncClient, count: int) -> list[str]:
    numbers = []
    for i in range(count):
        body = {"external_id": f"wi-{i}", "content": f"页面白屏,报错500 ({i})"}
        numbers.append((await submitted(api, body))["number"])
    return numbers


class TestTheWhatIfOverHttp:
    async def test_a_manager_gets_the_report_of_the_period(self, api, service) -> None:
        start = service.desk.clock() - timedelta(minutes=5)  # the service runs ahead
        numbers = await tickets(api, 3)
        await asyncio.sleep(1.2)  # past the candidate's one-second targets
        end = service.desk.clock()
        body = {"policy": ONE_SECOND, "from": start.isoformat(), "to": end.isoformat()}
        reply = await api.post(PATH, json=body, auth=MANAGER, timeout=60)
        assert reply.status_code == 200, reply.text
        report = reply.json()
        assert report["tickets"] == 3
        assert set(report) >= {"from", "to", "policy_version", "recorded", "whatif", "seconds"}
        versions = report["policy_version"]
        assert versions["running"] == service.desk.policy.version != versions["whatif"]
        assert report["whatif"]["sla_targets"]["breached"] > 0
        assert report["recorded"]["sla_targets"]["breached"] == 0  # all still running
        changed = {(c["number"], c["target"]): c for c in report["changed"]}
        for number in numbers:
            change = changed[(number, "first_response")]
            assert (change["recorded"], change["whatif"]) == ("open", "breached")
        auditor = await api.post(PATH, json=body, auth=("AU1", "auditor"), timeout=60)
        assert auditor.status_code == 200
        assert auditor.json()["changed"] == report["changed"]  # the same answer again

    async def test_a_bad_policy_is_refused_naming_its_key_and_changes_nothing(
        self,
        api,
        service,
    ) -> None:
        await tickets(api, 1)
        before = service.desk.recorder.max_notification_id()
        bad = {"policy": '[[sla]]\nfirst_respons = "1h"\n'}
        reply = await api.post(PATH, json=bad, auth=MANAGER)
        assert reply.status_code == 400
        assert reply.json()["error"]["code"] == "invalid"
        assert "sla.0.first_respons" in reply.json()["error"]["message"]
        period = {"policy": ONE_SECOND, "from": "2026-11-02T00:00:00Z", "to": "2026-11-01T00:00Z"}
        backwards = await api.post(PATH, json=period, auth=MANAGER)
        assert backwards.status_code == 400 and "`from` must be before `to`" in backwards.text
        not_toml = await api.post(PATH, json={"policy": "x = ["}, auth=MANAGER)
        assert not_toml.status_code == 400 and "not valid TOML" in not_toml.text
        actor = {"policy": ONE_SECOND, "actor": {"id": "X", "role": "system"}}
        named = await api.post(PATH, json=actor, auth=MANAGER)
        assert named.status_code == 400 and "signed-in user" in named.text
        assert service.desk.recorder.max_notification_id() == before

    async def test_an_agent_or_a_supervisor_is_refused(self, api) -> None:
        for who in (AGENT, ("S001", "supervisor"), ("X1", "analytics")):
            reply = await api.post(PATH, json={"policy": ONE_SECOND}, auth=who)
            assert reply.status_code == 403, who
            assert reply.json()["error"]["code"] == "forbidden"
        assert (await api.post(PATH, json={"policy": ONE_SECOND})).status_code == 401


class TestReplanningOverHttp:
    async def test_a_manager_replans_one_ticket_then_every_open_one(self, api, service) -> None:
        first, second = await tickets(api, 2)
        service.desk.policy = policy_from_text(ONE_SECOND.replace('"1s"', '"48h"'))
        one = await api.post(f"/tickets/{first}/replan", json={}, auth=MANAGER)
        assert one.status_code == 200, one.text
        assert one.json()["replanned"] is True
        assert one.json()["policy_version"] == service.desk.policy.version
        every = await api.post("/admin/replan", json={"all_open": True}, auth=MANAGER)
        assert every.status_code == 200, every.text
        assert every.json()["numbers"] == [second]  # the first is on the policy already
        again = await api.post(f"/tickets/{first}/replan", json={}, auth=MANAGER)
        assert again.json()["replanned"] is False

    async def test_an_agent_may_not_replan(self, api) -> None:
        [number] = await tickets(api, 1)
        reply = await api.post(f"/tickets/{number}/replan", json={}, auth=AGENT)
        assert reply.status_code == 403
