"""Commands under hostile input, in-process on a real SQLite store seeded with
tickets in every status. Each request gets `ok: true` with the transition the contract
describes, or `ok: false` with a contract error code and a message, and then nothing in
the store changed. No other exception may escape (the handler would answer `internal`).

Examples: 2,000 well-formed requests (refused only for role, status, version or ticket)
+ 1,500 hostile ones (mutated, random bytes, random JSON) = 3,500 (CI profile); 14,000
with HYPOTHESIS_PROFILE=long.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from domain.ticket import Ticket
from infra.store import store_env
from services.application.article_messages import PublishArticle
from services.application.articles import KnowledgeBase
from services.application.commands import CommandService
from services.application.desk import TicketDesk
from services.application.messages import COMMANDS, IntakeRequest
from services.application.registration import Registrar, Request
from tests.conftest import FixedClock
from tests.fuzz.budget import examples
from tests.fuzz.commanding import (
    CODES,
    EVENTS,
    NOW,
    Seeded,
    command_requests,
    expected_codes,
    expected_status,
    hostile_commands,
    reply_to,
)

SUPERVISOR = {"id": "S001", "role": "supervisor"}
AGENT = {"id": "A007", "role": "agent"}


class Desk:
    """The store under fuzz, its seeded tickets, and each ticket as last loaded."""

    def __init__(self, desk: TicketDesk, seeded: list[Seeded]) -> None:
        self.desk, self.seeded = desk, seeded
        self.service = CommandService(desk)
        self.tickets = {s.ticket_id: desk.load(UUID(s.ticket_id)) for s in seeded}

    def stored_events(self) -> int:
        return self.desk.recorder.max_notification_id() or 0

    def named(self, command) -> Ticket | None:
        """The seeded ticket a validated command names, None when it names none."""
        for s in self.seeded:
            if command.ticket_id:
                if command.ticket_id == s.ticket_id:
                    return self.tickets[s.ticket_id]
            elif command.number == s.number:
                return self.tickets[s.ticket_id]
        return None


def _seed(desk: TicketDesk) -> list[Seeded]:
    """Tickets open, assigned, in progress, waiting on the customer, closed, rated."""
    requests = [
        Request("web", IntakeRequest(external_id=f"fuzz-{i}", content=text), desk.clock())
        for i, text in enumerate(
            [
                "我要退款",
                "app crashes",
                "how do I log in",
                "物流太慢",
                "invoice please",
                "terrible service",
            ]
        )
    ]
    registered = Registrar(desk).register(requests)
    article = PublishArticle(
        title="How do I log in?",
        body="Reset your password, then sign in again.",
        language="en",
        categories=["account/login"],
        replies=["Please reset your password and sign in again."],
        actor={"id": "S001", "role": "supervisor"},
    )
    KnowledgeBase(desk).execute("publish_article", article)  # KB0001, answered with
    service = CommandService(desk)
    steps = [
        [],
        ["assign"],
        ["assign", "ack"],
        ["assign", "ack", "wait"],
        ["assign", "close"],
        ["assign", "close", "rate"],
    ]
    for r, todo in zip(registered, steps, strict=True):
        tid = str(r.ticket_id)
        bodies = {
            "assign": {"assignee": "A007", "actor": SUPERVISOR},
            "ack": {"actor": AGENT},
            "wait": {
                "note": "please send a photo",
                "waiting_on_customer": True,
                "visibility": "customer",
                "actor": AGENT,
            },
            "close": {"resolution": "done", "actor": AGENT},
            "rate": {"score": 5, "actor": {"id": "web", "role": "channel"}},
        }
        names = {"ack": "acknowledge", "wait": "update"}
        for step in todo:
            name = names.get(step, step)
            service.execute(name, COMMANDS[name].model_validate({"ticket_id": tid, **bodies[step]}))
    return [Seeded(str(r.ticket_id), desk.load(r.ticket_id).number) for r in registered]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, policy) -> Iterator[Desk]:
    tmp: Path = tmp_path_factory.mktemp("fuzz-commands")
    clock = FixedClock(NOW)
    desk = TicketDesk(policy, store_env("sqlite:///:memory:", tmp), clock=clock)
    yield Desk(desk, _seed(desk))
    desk.close()


def check(store: Desk, name: str, data: bytes) -> dict:
    """Send one request; check the reply and the store against the contract."""
    before = store.stored_events()
    reply = reply_to(store.service, name, data)
    event(f"{name}: " + ("ok" if reply["ok"] else reply["error"]["code"]))
    json.dumps(reply, ensure_ascii=False).encode("utf-8")  # the reply can be sent
    if not reply["ok"]:
        assert reply["error"]["code"] in CODES, reply
        assert reply["error"]["message"].strip(), reply
        assert store.stored_events() == before, f"refused, yet the store changed: {reply}"
    command = _validated(name, data)
    if command is None:
        assert not reply["ok"] and reply["error"]["code"] == "invalid", reply
        return reply
    ticket = store.named(command)
    codes = expected_codes(name, command, ticket, store.desk.policy.classification.categories)
    if codes:
        assert not reply["ok"], f"accepted, but the contract says {codes}: {reply}"
        assert reply["error"]["code"] in codes, (reply, codes)
        return reply
    assert reply["ok"], f"refused, but the contract allows it: {reply}"
    assert ticket is not None
    after = store.desk.load(ticket.id)
    assert vars(after) == vars(store.desk.repository.get(ticket.id))  # the library's replay
    reopens = name == "rate" and command.score <= store.desk.policy.rating.reopen_at_or_below
    new_events = [*EVENTS[name], *(["Reopened"] if reopens else [])]
    assert after.version == ticket.version + len(new_events)
    assert store.stored_events() == before + len(new_events)
    contact = {"contact": reply.get("contact")} if name == "reveal_contact" else {}
    assert reply == {
        "ok": True,
        "ticket_id": str(ticket.id),
        "number": ticket.number,
        "version": after.version,
        **contact,
    }
    if name == "reveal_contact":
        assert set(reply["contact"]) == {"name", "company", "phone", "email"}
    stored = store.desk.recorder.select_events(ticket.id, gt=ticket.version)
    assert [e.topic.rpartition(".")[2] for e in stored] == new_events
    assert after.status == expected_status(name, command, ticket, reopens)
    store.tickets[str(ticket.id)] = after
    return reply


def _validated(name: str, data: bytes):
    try:
        return COMMANDS[name].model_validate(json.loads(data))
    except Exception:
        return None


@settings(max_examples=examples(2_000))
@given(data=st.data())
def test_a_well_formed_command_gets_the_contracts_answer(store, data):
    """2,000 examples."""
    request = data.draw(command_requests(store.seeded))
    check(store, request["name"], json.dumps(request["body"]).encode())


@settings(max_examples=examples(1_500))
@given(data=st.data())
def test_a_hostile_command_is_refused_with_a_code_or_accepted_as_the_contract_says(store, data):
    """1,500 examples."""
    name, raw = data.draw(hostile_commands(store.seeded))
    check(store, name, raw)


# ---- regressions: what the fuzzing found ------------------------------------------------
@pytest.mark.parametrize(
    ("name", "data", "named"),
    [
        (
            "acknowledge",
            b'{"number": "\xed\xa0\x80CS1", "actor": {"id": "A007", "role": "agent"}}',
            "number holds a lone surrogate",
        ),
        (
            "close",
            b'{"number": "CS1", "actor": {"id": "A\\u0000", "role": "agent"}, "resolution": "x"}',
            "actor.id: .*control character",
        ),
        (
            "assign",
            b'{"number": "CS1", "actor": {"id": "S001", "role": "supervisor"}, '
            b'"assignee": "A\\n7"}',
            "assignee: .*control character",
        ),
        (
            "update",
            b'{"number": "CS1", "actor": {"id": "A007", "role": "agent"}, "note": "n", '
            b'"expected_done_at": "9999-12-31T23:59:59-14:00"}',
            "expected_done_at: .*outside 1970-2999",
        ),
        (
            "update",
            b'{"number": "CS1", "actor": {"id": "A007", "role": "agent"}, "note": "n", '
            b'"waiting_on_customer": "yes"}',
            "waiting_on_customer: ",
        ),
        (
            "rate",
            b'{"number": "CS1", "actor": {"id": "web", "role": "channel"}, "score": "5"}',
            "score: ",
        ),
        (
            "close",
            b'{"number": "CS1", "actor": {"id": "A007", "role": "agent"}, "resolution": "x",'
            b' "expected_version": "3"}',
            "expected_version: ",
        ),
    ],
    ids=[
        "surrogateBytes",
        "nulInActorId",
        "newlineInAssignee",
        "dueBeyondYear9999",
        "boolAsString",
        "scoreAsString",
        "versionAsString",
    ],
)
def test_a_request_that_crashed_or_slipped_through_is_invalid(store, name, data, named):
    """A lone surrogate reached uuid5 (`internal`: UnicodeEncodeError); a NUL in an id
    would stop the PostgreSQL read models; a due in year 10000 would stop the relay
    (OverflowError converting to UTC); strings were read as numbers and booleans."""
    reply = reply_to(store.service, name, data)
    assert reply["ok"] is False and reply["error"]["code"] == "invalid"
    assert re.search(named, reply["error"]["message"]), reply
