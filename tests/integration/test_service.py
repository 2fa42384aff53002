"""The running service against a real nats-server: intake, the event stream, commands,
queries, dead letters. Each test gets fresh streams on the session's server, and runs
once with an SQLite store and once with a PostgreSQL one."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import jsonschema
import pytest

from infra.cloudevents import parse_envelope
from services.runtime.settings import clock_offset_from_env
from tests.integration.helpers import ask, envelope, publish_request, read_stream, service_now

pytestmark = pytest.mark.nats
SCHEMA = json.loads(
    (Path(__file__).parents[1] / "fixtures/cloudevents/cloudevents.schema.json").read_text()
)
REQUEST = {
    "external_id": "mail-2026-11-24-0001",
    # now on the service's clock, in Beijing time: a moment in its past would breach the
    # SLA targets, and the SLA watcher would add escalations to what these tests expect
    "received_at": service_now(timezone(timedelta(hours=8))).isoformat(timespec="seconds"),
    "customer": {
        "name": "张女士",
        "company": None,
        "phone": "13812345678",
        "email": None,
        "customer_id": "C1001",
    },
    "subject": "退款",
    "content": "收到的商品与描述不符,要求退款!电话13812345678",
    "attachments": [{"name": "photo.jpg", "url": "https://files.example/1"}],
    "alert": None,
}


async def test_a_published_request_appears_as_received_then_classified(client) -> None:
    js = client.jetstream()
    await publish_request(js, "email", REQUEST)
    received, classified = [envelope(m) for m in await read_stream(js, "tickets.events.>", 2)]
    assert received["type"] == "ticketflow.ticket.received.v2"
    assert classified["type"] == "ticketflow.ticket.classified.v2"
    assert classified["data"]["actor"]["role"] == "system"
    assert received["id"] == f"{received['subject']}:1"
    assert received["sequence"] < classified["sequence"]
    assert received["ticketnumber"] == classified["ticketnumber"]
    assert received["ticketnumber"].startswith("CS")


async def test_every_event_is_a_valid_cloudevent_with_masked_contact_data(client) -> None:
    js = client.jetstream()
    await publish_request(js, "email", REQUEST)
    messages = await read_stream(js, "tickets.events.>", 2)
    for msg in messages:
        event = parse_envelope(msg.data)
        jsonschema.validate(event, SCHEMA)
        assert msg.headers["Nats-Msg-Id"] == event["id"]
        assert msg.subject == f"tickets.events.{msg.subject.split('.')[2]}.{event['subject']}"
    received = envelope(messages[0])["data"]
    assert "13812345678" not in messages[0].data.decode()
    assert received["customer"]["phone"] == "138****5678"
    assert received["content"].endswith("138****5678")


async def test_the_same_request_sent_again_makes_no_second_ticket(client, service) -> None:
    js = client.jetstream()
    await publish_request(js, "email", REQUEST)
    await read_stream(js, "tickets.events.>", 2)
    # Past JetStream's dedupe: a different message id, the same channel and external_id.
    await publish_request(js, "email", REQUEST, msg_id="retry-after-a-day")
    await publish_request(js, "email", {**REQUEST, "external_id": "mail-2"})
    events = [envelope(m) for m in await read_stream(js, "tickets.events.>", 5, timeout=3)]
    assert [e["type"].split(".")[2] for e in events] == [
        "received",
        "classified",
        "received",
        "classified",
    ]


async def test_commands_and_queries_answer_over_request_reply(client) -> None:
    js = client.jetstream()
    await publish_request(js, "email", REQUEST)
    ticket_id = envelope((await read_stream(js, "tickets.events.>", 1))[0])["subject"]
    supervisor = {"id": "S001", "role": "supervisor"}
    reply = await ask(
        client,
        "tickets.cmd.assign",
        {"ticket_id": ticket_id, "actor": supervisor, "assignee": "A007"},
    )
    assert reply["ok"] and reply["version"] == 3
    forbidden = await ask(
        client,
        "tickets.cmd.close",
        {"ticket_id": ticket_id, "actor": {"id": "x", "role": "analytics"}, "resolution": "no"},
    )
    assert forbidden["error"]["code"] == "forbidden"
    conflict = await ask(
        client,
        "tickets.cmd.close",
        {"ticket_id": ticket_id, "actor": supervisor, "resolution": "ok", "expected_version": 1},
    )
    assert conflict["error"]["code"] == "conflict"
    bad = await ask(client, "tickets.cmd.close", b"{not json")
    assert bad["error"]["code"] == "invalid"
    deep = await ask(client, "tickets.cmd.escalate", b'{"alert": ' + b"[" * 100_000 + b"]")
    assert deep["error"] == {
        "code": "invalid",
        "message": "the request is nested too deeply to read",
    }
    view = await ask(client, "tickets.query.ticket", {"number": reply["number"]})
    assert view["ticket"]["assignee"] == "A007"
    assert view["ticket"]["customer"]["phone"] == "138****5678"
    history = await ask(client, "tickets.query.history", {"ticket_id": ticket_id})
    assert history["verified"] is True
    assert [e["type"] for e in history["events"]] == ["Received", "Classified", "Assigned"]
    events = await read_stream(js, "tickets.events.>", 3)
    assert events[2].subject == f"tickets.events.Assigned.{ticket_id}"


BAD_INPUTS = [
    ("email", b"{not json", "bad JSON"),
    ("email", json.dumps({"external_id": "b1"}).encode(), "content"),
    ("email", json.dumps({"external_id": "b2", "content": "   "}).encode(), "blank"),
    ("fax", json.dumps({"external_id": "b3", "content": "hello"}).encode(), "unknown channel"),
    ("email", json.dumps({"external_id": "b4", "content": "x" * 70_000}).encode(), "over"),
    ("email", json.dumps({"external_id": 5, "content": "hello"}).encode(), "external_id"),
    ("email", json.dumps({"external_id": "b6", "content": ["a"]}).encode(), "content"),
    ("email", json.dumps(["a list"]).encode(), "JSON object"),
    ("email", json.dumps({"external_id": "", "content": "hi"}).encode(), "external_id"),
]


async def test_bad_input_goes_to_the_dead_letter_stream_with_a_reason(client, service) -> None:
    js = client.jetstream()
    for i, (channel, payload, _) in enumerate(BAD_INPUTS):
        await publish_request(js, channel, payload, msg_id=f"bad-{i}")
    await publish_request(js, "web", {"external_id": "good-1", "content": "如何修改密码?"})
    dead = [
        json.loads(m.data) for m in await read_stream(js, "tickets.dlq.intake", len(BAD_INPUTS))
    ]
    assert len(dead) == len(BAD_INPUTS)
    for record, (channel, payload, expected) in zip(dead, BAD_INPUTS, strict=True):
        assert expected in record["reason"], record["reason"]
        assert record["subject"] == f"tickets.intake.{channel}"
        assert record["payload"] == payload.decode()
    events = [envelope(m) for m in await read_stream(js, "tickets.events.>", 3, timeout=3)]
    assert len(events) == 2  # only the good request became a ticket
    assert service.parts.intake.stats.rejected == len(BAD_INPUTS)


async def test_three_customers_with_the_same_problem_raise_group_impact(client) -> None:
    js = client.jetstream()
    for i, customer in enumerate(("C1", "C2", "C3")):
        await publish_request(
            js,
            "app",
            {
                "external_id": f"g{i}",
                "content": "我要退款,质量太差",
                "customer": {"customer_id": customer},
            },
        )
    events = await read_stream(js, "tickets.events.ImpactRaised.>", 3, timeout=10)
    assert len(events) == 3
    for msg in events:
        ticket = (
            await ask(client, "tickets.query.ticket", {"ticket_id": envelope(msg)["subject"]})
        )["ticket"]
        assert (ticket["impact"], ticket["priority"]) == ("group", "high")
        assert len(ticket["linked"]) == 2
    (opened,) = await read_stream(js, "tickets.events.ProblemOpened.>", 1, timeout=10)
    problem = envelope(opened)
    assert problem["type"] == "ticketflow.problem.problem_opened.v1"
    assert len(problem["data"]["tickets"]) == 3 and problem["data"]["actor"]["role"] == "system"


async def test_a_ticket_is_numbered_by_the_day_on_the_service_s_clock(client) -> None:
    """The suite runs every service some weeks ahead (the guard against tests that
    expect today's date): a new ticket's number carries the service's day, not today's."""
    beijing = timezone(timedelta(hours=8))
    before = service_now(beijing)
    await publish_request(client.jetstream(), "email", {**REQUEST, "external_id": "by-day"})
    received = envelope((await read_stream(client.jetstream(), "tickets.events.>", 1))[0])
    days = {f"CS{moment:%Y%m%d}" for moment in (before, service_now(beijing))}
    assert received["ticketnumber"][:10] in days
    if clock_offset_from_env():
        assert not received["ticketnumber"].startswith(f"CS{datetime.now(beijing):%Y%m%d}")
