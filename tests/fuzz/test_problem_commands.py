"""Problem commands under hostile input, in-process on a real SQLite store holding
tickets and a problem with an action. Each request is accepted, or refused with a
contract error code and a message and then nothing in the store changed. No other
exception may escape (the handler would answer `internal`)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from domain.errors import TicketError
from infra.store import store_env
from services.application.desk import TicketDesk
from services.application.messages import IntakeRequest, reason_of
from services.application.problem_messages import PROBLEM_COMMANDS
from services.application.problems import ProblemService
from services.application.registration import Registrar, Request
from tests.conftest import FixedClock
from tests.fuzz.budget import examples
from tests.fuzz.commanding import CODES, ROLES
from tests.fuzz.strategies import clean_text, mutated, rfc3339

NOW = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def store(tmp_path_factory, policy) -> Iterator[tuple[ProblemService, list[str], str]]:
    """Three tickets, and a problem of the first two with one planned action."""
    path: Path = tmp_path_factory.mktemp("problem-fuzz") / "tickets.db"
    desk = TicketDesk(policy, store_env(f"sqlite:///{path}", path.parent), clock=FixedClock(NOW))
    bodies = [{"external_id": f"f{i}", "content": "登录闪退"} for i in range(3)]
    requests = [Request("email", IntakeRequest.model_validate(b), NOW) for b in bodies]
    numbers = [desk.load(r.ticket_id).number for r in Registrar(desk).register(requests)]
    service = ProblemService(desk)
    actor = {"id": "S001", "role": "supervisor"}
    opened = service.execute(
        "open_problem",
        PROBLEM_COMMANDS["open_problem"].model_validate(
            {"title": "登录闪退", "tickets": numbers[:2], "actor": actor}
        ),
    )
    plan = {
        "number": opened["number"],
        "title": "修复",
        "owner": "A007",
        "due": (NOW + timedelta(days=7)).isoformat(),
        "metric": "tickets",
        "target": {"op": "<=", "value": 3},
        "actor": actor,
    }
    service.execute("plan_action", PROBLEM_COMMANDS["plan_action"].model_validate(plan))
    yield service, numbers, opened["number"]
    desk.close()


@st.composite
def problem_requests(draw: st.DrawFn, numbers: list[str], problem: str) -> tuple[str, dict]:
    name = draw(st.sampled_from(sorted(PROBLEM_COMMANDS)))
    refs = st.sampled_from([*numbers, "CS209901010001", "not-a-ticket"])
    methods = st.sampled_from(["5w1h", "fishbone", "swot"])
    headings = st.sampled_from(["what", "why", "people", "methods", "nonsense"])
    fields: dict[str, Any] = {
        "open_problem": {"title": clean_text, "tickets": st.lists(refs, max_size=4)},
        "link_tickets": {"tickets": st.lists(refs, min_size=1, max_size=4)},
        "record_root_cause": {
            "method": methods,
            "analysis": st.dictionaries(
                headings, st.one_of(clean_text, st.lists(clean_text, max_size=3)), max_size=3
            ),
            "root_cause": clean_text,
        },
        "plan_action": {
            "title": clean_text,
            "owner": st.sampled_from(["A007", "S001", ""]),
            "due": rfc3339(),
            "metric": st.sampled_from(["tickets", "csat", "happiness"]),
            "target": st.fixed_dictionaries(
                {"op": st.sampled_from(["<=", ">=", "<"]), "value": st.floats(allow_nan=True)}
            ),
            "evaluate_after": st.sampled_from(["30d", "2wd", "0s", "soon"]),
        },
        "update_action": {
            "action_id": st.sampled_from(["A1", "A2", ""]),
            "note": clean_text,
            "status": st.sampled_from(["in_progress", "done", "dropped", "finished"]),
        },
        "close_problem": {"resolution": clean_text},
    }[name]
    body = draw(st.fixed_dictionaries(fields))
    body["actor"] = {"id": draw(st.sampled_from(["S001", "A007", "M001"])),
                     "role": draw(st.sampled_from(ROLES))}  # fmt: skip
    if name != "open_problem":
        body["number"] = draw(st.sampled_from([problem, "PB209901010001"]))
    return name, body


def reply_to(service: ProblemService, name: str, data: bytes) -> dict:
    """What the NATS handler would answer (parse, validate, call)."""
    try:
        document = json.loads(data)
    except (ValueError, RecursionError) as error:
        return {"ok": False, "error": {"code": "invalid", "message": type(error).__name__}}
    try:
        command = PROBLEM_COMMANDS[name].model_validate(document)
    except ValidationError as error:
        return {"ok": False, "error": {"code": "invalid", "message": reason_of(error)}}
    try:
        return service.execute(name, command)
    except TicketError as error:
        return {"ok": False, "error": {"code": error.code, "message": error.message}}


@settings(max_examples=examples(600), deadline=None)
@given(data=st.data())
def test_every_problem_command_is_answered_by_the_contract(store, data) -> None:
    service, numbers, problem = store
    name, body = data.draw(problem_requests(numbers, problem))
    raw = data.draw(st.one_of(st.just(json.dumps(body).encode()), mutated(st.just(body))))
    before = service.desk.recorder.max_notification_id() or 0
    reply = reply_to(service, name, raw)
    event(f"{name}: " + ("ok" if reply["ok"] else reply["error"]["code"]))
    if not reply["ok"]:
        assert reply["error"]["code"] in CODES, reply
        assert reply["error"]["message"].strip(), reply
        assert (service.desk.recorder.max_notification_id() or 0) == before, reply
