"""Hostile input over the wire: a running service on a real nats-server gets
a few hundred hypothesis-made intake messages and command requests. Bad intake lands on
`tickets.dlq.intake` with a reason and the original payload, good intake becomes one
ticket each, every command gets a contract reply, the store holds nothing else, and the
service still answers afterwards.

Examples: 300 intake messages + 300 command requests (a deterministic sample).
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nats
import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from domain.ticket import ticket_id_for
from services.bootstrap import build_service
from services.edge.nats.intake import Rejected, parse_intake
from services.runtime.service import Service
from services.runtime.settings import Settings
from tests.fuzz.budget import examples
from tests.fuzz.commanding import CODES, Seeded, hostile_commands
from tests.fuzz.strategies import intake_requests, mutated
from tests.integration.helpers import ask, read_stream

pytestmark = pytest.mark.nats
TOKENS = st.sampled_from(
    [
        "phone",
        "chat",
        "email",
        "app",
        "web",
        "monitoring",
        "internal",
        "fax",
        "EMAIL",
        "e-mail",
        "电话",
        "web.extra",
    ]
)


def sample(strategy: st.SearchStrategy, count: int) -> list[Any]:
    """`count` examples of `strategy`, the same ones on every run."""
    found: list[Any] = []

    @settings(max_examples=count, derandomize=True, database=None, phases=[Phase.generate])
    @given(strategy)
    def collect(example: Any) -> None:
        found.append(example)

    collect()
    return found[:count]


@pytest.fixture
async def service(fresh_streams: str, tmp_path: Path, policy) -> AsyncIterator[Service]:
    svc = build_service(
        Settings(
            data_dir=tmp_path,
            nats_url=fresh_streams,
            policy=policy,
            store=f"sqlite:///{tmp_path / 'tickets.db'}",
        )
    )
    await svc.start()
    yield svc
    await svc.stop()


def stored(service: Service) -> list[Any]:
    return list(service.desk.recorder.select_notifications(start=1, limit=1_000_000))


async def until(condition, timeout: float = 60.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.1)


async def test_hostile_intake_is_dead_lettered_or_becomes_one_ticket(service):
    """300 messages on tickets.intake.<token>: mutated requests, valid ones, odd tokens."""
    messages = sample(
        st.tuples(
            TOKENS,
            st.one_of(
                mutated(intake_requests()), intake_requests().map(lambda d: json.dumps(d).encode())
            ),
        ),
        examples(300),
    )
    now = datetime.now(UTC)
    good, bad = set(), []
    for token, data in messages:
        subject = f"tickets.intake.{token}"
        try:
            request = parse_intake(subject, data, lambda: now)
            good.add(ticket_id_for(request.channel, request.body.external_id))
        except Rejected:
            bad.append((subject, data))
    assert good and bad, "the sample should hold both"
    nc = await nats.connect(service.url)
    js = nc.jetstream()
    for token, data in messages:
        await js.publish(f"tickets.intake.{token}", data)
    dead = await read_stream(js, "tickets.dlq.intake", len(bad), timeout=30)
    await until(
        lambda: {n.originator_id for n in stored(service) if n.topic.endswith(".Received")} >= good
    )
    async with asyncio.timeout(30):  # a work queue: empty once every message is handled
        while (await js.stream_info("TICKETS_INTAKE")).state.messages:
            await asyncio.sleep(0.1)

    records = [json.loads(m.data) for m in dead]
    assert (await js.stream_info("TICKETS_DLQ")).state.messages == len(bad) == len(records)
    assert Counter((r["subject"], r["payload"]) for r in records) == Counter(
        (s, d.decode("utf-8", errors="replace")) for s, d in bad
    )
    assert all(r["reason"].strip() for r in records)
    events = stored(service)
    assert {n.originator_id for n in events if n.topic.startswith("domain.ticket:Ticket.")} == good
    kinds = Counter(
        n.topic.rpartition(".")[2] for n in events if n.topic.startswith("domain.ticket:Ticket.")
    )
    assert kinds["Received"] == kinds["Classified"] == len(good)
    # The service's own follow-ups: a request received long ago is overdue at once.
    assert set(kinds) <= {"Received", "Classified", "ImpactRaised", "Escalated"}
    reply = await ask(nc, "tickets.query.ticket", {"ticket_id": str(next(iter(good)))})
    assert reply["ok"], reply
    await nc.close()


async def test_hostile_commands_get_contract_replies_and_refusals_change_nothing(service):
    """300 command requests through the NATS handlers, on three seeded tickets."""
    nc = await nats.connect(service.url)
    js = nc.jetstream()
    for i, text in enumerate(["我要退款", "app crashes", "how do I log in"]):
        body = {
            "external_id": f"wire-{i}",
            "content": text,
            "customer": {"customer_id": "C1"},
        }  # one customer: no group impact
        await js.publish("tickets.intake.web", json.dumps(body).encode())
    ids = [ticket_id_for("web", f"wire-{i}") for i in range(3)]
    await until(lambda: len(stored(service)) >= 3 * 3)  # number, Received, Classified
    seeded = [Seeded(str(i), service.desk.load(i).number) for i in ids]
    versions = {s.ticket_id: 2 for s in seeded}
    before = len(stored(service))

    requests = sample(hostile_commands(seeded), examples(300))
    added = 0
    for name, data in requests:
        reply = json.loads((await nc.request(f"tickets.cmd.{name}", data, timeout=10)).data)
        if reply["ok"]:
            step = reply["version"] - versions[reply["ticket_id"]]
            assert step in ((1, 2) if name == "rate" else (1,)), (name, reply)
            versions[reply["ticket_id"]] = reply["version"]
            added += step
        else:
            assert reply["error"]["code"] in CODES, (name, data, reply)
            assert reply["error"]["message"].strip()
    assert len(stored(service)) == before + added, "a refused command changed the store"
    for ticket_id, version in versions.items():
        reply = await ask(nc, "tickets.query.ticket", {"ticket_id": ticket_id})
        assert reply["ok"] and reply["ticket"]["version"] == version
    await nc.close()
