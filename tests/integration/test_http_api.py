"""The HTTP API (`/api/v1/`) of a running service: the same application as on NATS,
with the signed-in user as the actor. In the local mode (no `--auth`) a user signs in
with HTTP Basic as `name:role`."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

import httpx
import pytest

from domain.ticket import ticket_id_for
from infra.streams import INTAKE
from services.runtime.service import Service

pytestmark = pytest.mark.nats
REQUEST = {"external_id": "form-1", "content": "页面白屏,报错500", "customer": {"name": "王先生"}}
SUPERVISOR = ("S001", "supervisor")
AGENT = ("A007", "agent")
WEB = ("web-form", "channel")


@pytest.fixture
async def api(service: Service) -> AsyncIterator[httpx.AsyncClient]:
    assert service.parts.http is not None
    base = f"http://127.0.0.1:{service.parts.http.port}/api/v1"
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        yield client


async def submitted(api: httpx.AsyncClient, body: dict = REQUEST) -> dict:
    """Submit over HTTP, then wait until the intake consumer has stored the ticket."""
    reply = await api.post("/intake/web", json=body, auth=WEB)
    assert reply.status_code == 202, reply.text
    ticket_id = reply.json()["ticket_id"]
    deadline = time.monotonic() + 10
    while (found := await api.get(f"/tickets/{ticket_id}", auth=SUPERVISOR)).status_code == 404:
        assert time.monotonic() < deadline, "the submitted request never became a ticket"
        await asyncio.sleep(0.05)
    return found.json()["ticket"]


class TestIntakeOverHttp:
    async def test_a_submitted_request_becomes_a_ticket_named_by_its_channel_and_id(
        self, api
    ) -> None:
        ticket = await submitted(api)
        assert ticket["ticket_id"] == str(ticket_id_for("web", "form-1"))
        assert ticket["number"].startswith("CS") and ticket["status"] == "open"

    async def test_the_same_request_twice_is_one_ticket(self, api, service) -> None:
        first = await submitted(api)
        again = await api.post("/intake/web", json=REQUEST, auth=WEB)
        assert again.status_code == 202 and again.json()["ticket_id"] == first["ticket_id"]
        info = await service.link.js.stream_info(INTAKE)
        assert info.state.messages <= 1  # JetStream dropped the repeat by its Nats-Msg-Id

    async def test_a_bad_request_is_refused_with_its_reason_and_nothing_is_published(
        self, api, service
    ) -> None:
        before = (await service.link.js.stream_info(INTAKE)).state.last_seq
        reply = await api.post("/intake/web", json={"external_id": "x", "content": " "}, auth=WEB)
        assert reply.status_code == 422
        assert reply.json()["error"]["code"] == "invalid"
        assert "content" in reply.json()["error"]["message"]
        unknown = await api.post("/intake/fax", json=REQUEST, auth=WEB)
        assert unknown.status_code == 422 and "unknown channel" in unknown.text
        assert (await service.link.js.stream_info(INTAKE)).state.last_seq == before

    async def test_readers_may_not_submit(self, api) -> None:
        reply = await api.post("/intake/web", json=REQUEST, auth=("X1", "analytics"))
        assert reply.status_code == 403 and reply.json()["error"]["code"] == "forbidden"


class TestSigningIn:
    async def test_without_credentials_the_api_asks_for_them(self, api) -> None:
        reply = await api.get("/sla")
        assert reply.status_code == 401
        assert reply.headers["www-authenticate"].startswith("Basic")
        assert reply.json()["error"]["code"] == "unauthorized"

    async def test_the_local_mode_knows_the_roles_and_not_the_service_s_own(self, api) -> None:
        for auth in (("S001", "boss"), ("S001", "system"), ("", "supervisor")):
            assert (await api.get("/sla", auth=auth)).status_code == 401


class TestCommandsOverHttp:
    async def test_the_signed_in_user_is_the_actor(self, api) -> None:
        ticket = await submitted(api)
        reply = await api.post(
            f"/tickets/{ticket['number']}/assign", json={"assignee": "A007"}, auth=SUPERVISOR
        )
        assert reply.status_code == 200, reply.text
        assert reply.json()["ok"] and reply.headers["etag"] == f'"{reply.json()["version"]}"'
        history = (await api.get(f"/tickets/{ticket['number']}/history", auth=AGENT)).json()
        assert history["verified"] is True
        assert history["events"][-1]["actor"] == {"id": "S001", "role": "supervisor"}

    async def test_an_actor_in_the_body_is_refused(self, api) -> None:
        ticket = await submitted(api)
        body = {"assignee": "A007", "actor": {"id": "M001", "role": "manager"}}
        reply = await api.post(f"/tickets/{ticket['ticket_id']}/assign", json=body, auth=AGENT)
        assert reply.status_code == 400 and "signed-in user" in reply.json()["error"]["message"]

    async def test_the_contract_s_refusals_keep_their_codes(self, api) -> None:
        ticket = await submitted(api)
        path = f"/tickets/{ticket['number']}"
        other = await api.post(f"{path}/assign", json={"assignee": "A008"}, auth=AGENT)
        assert other.status_code == 403 and other.json()["error"]["code"] == "forbidden"
        stale = await api.post(
            f"{path}/assign", json={"assignee": "A007"}, headers={"If-Match": '"1"'}, auth=AGENT
        )
        assert stale.status_code == 409 and stale.json()["error"]["code"] == "conflict"
        unknown = await api.post(f"{path}/teleport", json={}, auth=AGENT)
        assert unknown.status_code == 404
        missing = await api.get("/tickets/CS209901010001", auth=AGENT)
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
        not_json = await api.post(f"{path}/close", content=b"{", auth=AGENT)
        assert not_json.status_code == 400 and "bad JSON" in not_json.text


class TestQueriesOverHttp:
    async def test_a_ticket_as_it_was_at_a_version(self, api) -> None:
        ticket = await submitted(api)
        await api.post(
            f"/tickets/{ticket['number']}/assign", json={"assignee": "A007"}, auth=SUPERVISOR
        )
        then = await api.get(f"/tickets/{ticket['number']}", params={"as_of": 2}, auth=AGENT)
        assert then.status_code == 200 and then.json()["ticket"]["assignee"] is None

    async def test_the_read_side_queries_take_their_fields_as_parameters(self, api) -> None:
        await submitted(api)
        sla = await api.get("/sla", params={"due_within": 3600}, auth=SUPERVISOR)
        assert sla.status_code == 200 and sla.json()["ok"] is True
        stats = await api.get("/stats", params={"group_by": "channel"}, auth=("M001", "manager"))
        assert stats.status_code == 200 and "groups" in stats.json()["stats"]
        bad = await api.get("/stats", params={"group_by": "moon"}, auth=("M001", "manager"))
        assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid"

    async def test_a_value_no_store_can_hold_is_refused_as_invalid(self, api) -> None:
        """Not an `internal` error: a number past 64 bits, a time with no UTC (year 0 or
        10000), a horizon past year 9999, a NUL (PostgreSQL refuses it in text)."""
        ticket = await submitted(api)
        for path, params in [
            (f"/tickets/{ticket['number']}", {"as_of": str(2**63)}),
            ("/audit", {"after": str(2**63)}),
            ("/audit", {"from": "0001-01-01T00:00:00+14:00"}),
            ("/stats", {"to": "9999-12-31T23:59:59-14:00"}),
            ("/sla", {"due_within": "1e308"}),
            ("/sla", {"ticket_id": "x\x00"}),
            ("/audit", {"actor_id": "A\x00"}),
            ("/board", {"category": "billing\x00"}),
        ]:
            reply = await api.get(path, params=params, auth=("M001", "manager"))
            assert reply.status_code == 400, (path, params, reply.text)
            assert reply.json()["error"]["code"] == "invalid"


async def test_the_api_describes_itself_without_signing_in(api) -> None:
    reply = await api.get("/openapi.json")
    assert reply.status_code == 200
    assert reply.json()["openapi"].startswith("3.1")
    assert "/api/v1/tickets/{ref}/assign" in reply.json()["paths"]


class TestTheEventStreamOverHttp:
    async def events(self, api, count: int, **headers: str) -> list[dict]:
        """The first `count` events of `/events` as (id, event, data) records."""
        found: list[dict] = []
        async with api.stream("GET", "/events", auth=("BI", "analytics"), headers=headers) as r:
            assert r.status_code == 200 and r.headers["content-type"].startswith(
                "text/event-stream"
            )
            record: dict = {}
            async for line in r.aiter_lines():
                if line.startswith(("id: ", "event: ", "data: ")):
                    key, _, value = line.partition(": ")
                    record[key] = value
                elif not line and "id" in record:
                    found.append(record)
                    record = {}
                    if len(found) == count:
                        break
        return found

    async def test_it_sends_each_stored_event_with_its_store_sequence(self, api) -> None:
        ticket = await submitted(api)
        events = await asyncio.wait_for(self.events(api, 2), 10)
        assert [e["event"] for e in events] == [
            "ticketflow.ticket.received.v2",
            "ticketflow.ticket.classified.v2",
        ]
        data = [json.loads(e["data"]) for e in events]
        assert [d["subject"] for d in data] == [ticket["ticket_id"]] * 2
        assert [int(e["id"]) for e in events] == [d["sequence"] for d in data]

    async def test_last_event_id_resumes_right_after_it(self, api) -> None:
        await submitted(api)
        await submitted(api, {**REQUEST, "external_id": "form-2"})
        first, second, *_ = await asyncio.wait_for(self.events(api, 4), 10)
        resumed = await asyncio.wait_for(self.events(api, 1, **{"Last-Event-ID": first["id"]}), 10)
        assert resumed[0]["id"] == second["id"]

    async def test_only_the_stream_s_readers_may_follow_it(self, api) -> None:
        reply = await api.get("/events", auth=AGENT)
        assert reply.status_code == 403


class TestWhoMayRead:
    async def test_analytics_reads_statistics_but_not_a_ticket_or_the_board(self, api) -> None:
        ticket = await submitted(api)
        analytics = ("X1", "analytics")
        assert (await api.get("/stats", auth=analytics)).status_code == 200
        for path in (f"/tickets/{ticket['number']}", "/board", "/audit"):
            refused = await api.get(path, auth=analytics)
            assert refused.status_code == 403, path
            assert refused.json()["error"]["code"] == "forbidden"

    async def test_a_channel_adapter_submits_but_reads_nothing(self, api) -> None:
        ticket = await submitted(api)
        refused = await api.get(f"/tickets/{ticket['number']}", auth=WEB)
        assert refused.status_code == 403
