"""Problems and improvement actions through the application, on SQLite and PostgreSQL:
numbered, checked like tickets, replayable, and on the stream beside the tickets."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from uuid import uuid4

import httpx
import pytest

from domain.errors import Forbidden, NotFound
from domain.ticket import ticket_id_for
from infra.relay import PROBLEM_TOPICS
from projections.problems import ProblemList
from services.application.messages import HistoryQuery
from services.application.problem_messages import PROBLEM_COMMANDS, ProblemQuery
from services.application.problems import ProblemService
from services.application.queries import QueryService
from services.application.registration import Registrar
from services.readside.problems import ProblemsQuery, ProblemsService
from services.readside.projections import projections_for
from tests.integration.helpers import ask, envelope, publish_request, read_stream
from tests.integration.projecting import project, projector, stream_of
from tests.integration.test_desk import request

SUPERVISOR = {"id": "S001", "role": "supervisor"}
OWNER = {"id": "A007", "role": "agent"}


def send(service: ProblemService, name: str, actor: dict = SUPERVISOR, **fields) -> dict:
    return service.execute(name, PROBLEM_COMMANDS[name].model_validate({"actor": actor, **fields}))


@pytest.fixture
def tickets(desk) -> list[str]:
    """Three tickets' numbers."""
    registered = Registrar(desk).register(
        [
            request(f"p-{i}", content=text)
            for i, text in enumerate(("登录闪退", "一登录就退出", "发票错了"))
        ]
    )
    return [desk.load(r.ticket_id).number for r in registered]


def test_a_supervisor_opens_a_problem_of_tickets_named_by_number(desk, tickets, clock) -> None:
    service = ProblemService(desk)
    reply = send(service, "open_problem", title="APP 登录闪退", tickets=tickets[:2])
    day = clock.now.astimezone(desk.policy.business_calendar.tz)
    assert reply["number"] == f"PB{day:%Y%m%d}0001" and reply["version"] == 1
    again = send(service, "open_problem", title="发票抬头", tickets=tickets[2:])
    assert again["number"] == f"PB{day:%Y%m%d}0002"
    problem = service.problem(ProblemQuery(number=reply["number"]))["problem"]
    assert len(problem["tickets"]) == 2 and problem["status"] == "open"


def test_a_problem_is_worked_from_analysis_to_a_done_action_and_replays(
    desk, tickets, clock
) -> None:
    service = ProblemService(desk)
    number = send(service, "open_problem", title="APP 登录闪退", tickets=tickets[:1])["number"]
    send(service, "link_tickets", number=number, tickets=tickets[:2])
    send(
        service,
        "record_root_cause",
        number=number,
        method="5w1h",
        analysis={"what": "登录后闪退", "why": "新版本空指针", "how": "回滚并修复"},
        root_cause="3.2.0 登录页空指针",
    )
    due = (clock.now + timedelta(days=14)).isoformat()
    send(
        service,
        "plan_action",
        number=number,
        title="修复并灰度发布",
        owner="A007",
        due=due,
        metric="first_response_seconds.p50",
        scope={"category": "account/login"},
        target={"op": "<=", "value": 1800},
    )
    done = send(
        service, "update_action", OWNER, number=number, action_id="A1", note="已发布", status="done"
    )
    now = service.problem(ProblemQuery(number=number))["problem"]
    assert done["version"] == 5 and now["actions"][0]["status"] == "done"
    assert now["root_cause"]["root_cause"] == "3.2.0 登录页空指针"
    before = service.problem(ProblemQuery(number=number, as_of=2))["problem"]
    assert len(before["tickets"]) == 2 and before["root_cause"] is None and before["actions"] == []


def test_roles_and_missing_tickets_are_refused_and_nothing_is_stored(desk, tickets) -> None:
    service = ProblemService(desk)
    with pytest.raises(Forbidden):
        send(service, "open_problem", OWNER, title="x", tickets=tickets)
    with pytest.raises(NotFound):
        send(service, "open_problem", title="x", tickets=[*tickets, "CS209901010001"])
    with pytest.raises(NotFound):
        service.problem(ProblemQuery(number="PB209901010001"))


def test_only_a_ticket_can_be_linked_not_another_problem(desk, tickets) -> None:
    service = ProblemService(desk)
    opened = send(service, "open_problem", title="登录闪退", tickets=tickets[:2])
    with pytest.raises(NotFound, match="no ticket"):
        send(
            service, "link_tickets", problem_id=opened["problem_id"], tickets=[opened["problem_id"]]
        )
    with pytest.raises(NotFound, match="no ticket"):  # an id nothing is stored under
        send(service, "link_tickets", number=opened["number"], tickets=[str(uuid4())])
    linked = send(service, "link_tickets", number=opened["number"], tickets=tickets[2:])
    problem = service.problem(ProblemQuery(number=opened["number"]))["problem"]
    assert linked["version"] == 2 and len(problem["tickets"]) == 3


def test_problem_events_go_to_the_stream_and_the_read_models_take_them_in_stride(
    desk, tickets, store_url
) -> None:
    service = ProblemService(desk)
    number = send(service, "open_problem", title="APP 登录闪退", tickets=tickets[:2])["number"]
    send(service, "close_problem", number=number, resolution="fixed")
    kinds = [e["type"] for _, e in stream_of(desk)]
    assert "ticketflow.problem.problem_opened.v1" in kinds
    assert "ticketflow.problem.problem_closed.v1" in kinds
    assert len(PROBLEM_TOPICS) >= 7
    for projection in projections_for(desk.policy):
        applied = project(desk, projector(projection, store_url))
        assert len(applied) == len(kinds)  # every event applied, none refused


@pytest.mark.nats
async def test_over_nats_a_problem_is_opened_and_read_like_a_ticket(client) -> None:
    js = client.jetstream()
    await publish_request(js, "app", {"external_id": "n-1", "content": "APP 登录闪退"})
    ticket_id = str(ticket_id_for("app", "n-1"))
    deadline = asyncio.get_running_loop().time() + 10
    while not (await ask(client, "tickets.query.ticket", {"ticket_id": ticket_id}))["ok"]:
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.05)
    body = {"actor": SUPERVISOR, "title": "APP 登录闪退", "tickets": [ticket_id]}
    opened = await ask(client, "tickets.cmd.open_problem", body)
    assert opened["ok"] and opened["number"].startswith("PB"), opened
    refused = await ask(client, "tickets.cmd.open_problem", {**body, "actor": OWNER})
    assert refused["error"]["code"] == "forbidden"
    read = await ask(client, "tickets.query.problem", {"number": opened["number"]})
    assert read["problem"]["tickets"] == [ticket_id]
    judged = await ask(
        client,
        "tickets.cmd.evaluate_action",
        {"actor": SUPERVISOR, "number": opened["number"], "action_id": "A1"},
    )
    assert judged["error"]["code"] == "illegal_state" and "no action" in judged["error"]["message"]
    (event,) = await read_stream(js, "tickets.events.ProblemOpened.>", 1)
    assert envelope(event)["ticketnumber"] == opened["number"]


@pytest.mark.nats
async def test_over_http_the_signed_in_supervisor_opens_and_analyses_a_problem(service) -> None:
    base = f"http://127.0.0.1:{service.parts.http.port}/api/v1"
    supervisor = ("S001", "supervisor")
    async with httpx.AsyncClient(base_url=base, timeout=10) as api:
        opened = await api.post("/problems", json={"title": "APP 登录闪退"}, auth=supervisor)
        assert opened.status_code == 200, opened.text
        number = opened.json()["number"]
        analysis = {
            "method": "fishbone",
            "analysis": {"methods": ["未灰度发布"]},
            "root_cause": "x",
        }
        done = await api.post(
            f"/problems/{number}/record_root_cause", json=analysis, auth=supervisor
        )
        assert done.status_code == 200 and done.headers["etag"] == '"2"'
        read = await api.get(f"/problems/{number}", params={"as_of": 1}, auth=supervisor)
        assert read.json()["problem"]["root_cause"] is None
        refused = await api.post(
            f"/problems/{number}/record_root_cause", json=analysis, auth=("A007", "agent")
        )
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
        wrong = {**analysis, "analysis": {"why": "x"}}
        invalid = await api.post(
            f"/problems/{number}/record_root_cause", json=wrong, auth=supervisor
        )
        assert invalid.status_code == 400 and "fishbone has no ['why']" in invalid.text
        unknown = await api.post(f"/problems/{number}/open_problem", json={}, auth=supervisor)
        assert unknown.status_code == 404
        judged = await api.post(
            f"/problems/{number}/evaluate_action", json={"action_id": "A1"}, auth=supervisor
        )
        assert judged.status_code == 409 and "no action" in judged.json()["error"]["message"]


def test_the_list_shows_each_problem_its_tickets_and_its_overdue_actions(
    desk, tickets, store_url, clock
) -> None:
    service = ProblemService(desk)
    first = send(service, "open_problem", title="APP 登录闪退", tickets=tickets[:2])["number"]
    due = (clock.now + timedelta(days=1)).isoformat()
    action = {"title": "修复", "owner": "A007", "due": due, "metric": "tickets"}
    send(service, "plan_action", number=first, **action, target={"op": "<=", "value": 2})
    second = send(service, "open_problem", title="发票抬头", tickets=tickets[2:])["number"]
    send(service, "close_problem", number=second, resolution="模板已改")
    view = projector(ProblemList(), store_url)
    project(desk, view)
    listed = ProblemsService(view.db, desk.clock)

    def ask(**fields) -> list[dict]:
        return listed.problems(ProblemsQuery.model_validate(fields))["problems"]

    rows = {row["number"]: row for row in ask()}
    assert (rows[first]["tickets"], rows[first]["actions"], rows[first]["overdue_actions"]) == (
        2,
        1,
        0,
    )
    assert [row["number"] for row in ask(status="closed")] == [second]
    ticket_id = str(desk.resolve(None, tickets[0]))
    assert [row["number"] for row in ask(ticket_id=ticket_id)] == [first]
    clock.advance(days=2)  # the action's due date passes, not done
    assert {row["number"]: row for row in ask()}[first]["overdue_actions"] == 1
    send(service, "update_action", number=first, action_id="A1", note="done", status="done")
    send(service, "link_tickets", number=first, tickets=tickets[2:])  # still they come
    project(desk, view)
    assert {row["number"]: row for row in ask()}[first]["recurring"] is True


def test_a_problem_is_read_as_it_was_at_a_moment(desk, tickets, clock) -> None:
    service = ProblemService(desk)
    number = send(service, "open_problem", title="APP 登录闪退", tickets=tickets[:1])["number"]
    opened_at = clock.now
    clock.advance(hours=1)
    send(service, "link_tickets", number=number, tickets=tickets[1:2])
    then = service.problem(ProblemQuery(number=number, as_of=opened_at + timedelta(minutes=30)))
    assert len(then["problem"]["tickets"]) == 1 and then["problem"]["version"] == 1
    with pytest.raises(NotFound, match="did not exist"):
        service.problem(ProblemQuery(number=number, as_of=opened_at - timedelta(days=1)))


def test_a_problem_s_history_verifies_like_a_ticket_s(desk, tickets) -> None:
    service = ProblemService(desk)
    number = send(service, "open_problem", title="APP 登录闪退", tickets=tickets[:1])["number"]
    send(service, "link_tickets", number=number, tickets=tickets[1:2])
    history = QueryService(desk).history(HistoryQuery(number=number))
    assert history["verified"] is True
    assert [e["type"] for e in history["events"]] == ["ProblemOpened", "TicketsLinked"]
