"""The service judges an improvement action itself: the metric over the window before
the action was planned, the same over the window after it was done, the verdict."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from domain.errors import IllegalState
from projections.problems import ProblemList
from projections.stats import Statistics
from services.application.commands import CommandService
from services.application.problem_messages import EvaluateAction, ProblemQuery
from services.application.problems import ProblemService
from services.application.registration import Registrar
from services.automation.effects import Effects
from services.readside.stats import StatsService
from tests.integration.projecting import project, projector
from tests.integration.test_desk import SUPERVISOR, command, request
from tests.integration.test_problems import send

LOGIN = ("登录不了,一直提示密码错误", "APP登录失败", "无法登录账号")


def answered_after(desk, clock, key: str, text: str, wait: timedelta) -> str:
    """A login ticket, answered to the customer after `wait`."""
    arriving = request(key, content=text)
    (registered,) = Registrar(desk).register([replace(arriving, arrived_at=clock.now)])
    clock.advance(seconds=wait.total_seconds())
    ticket_id = str(registered.ticket_id)
    command(
        CommandService(desk), "update", ticket_id, SUPERVISOR, note="在查", visibility="customer"
    )
    return ticket_id


@pytest.fixture
def effects(desk, store_url, clock):
    """The evaluator over the statistics and problems views, fed what the desk stored."""
    stats, problems = projector(Statistics({}), store_url), projector(ProblemList(), store_url)

    def caught_up() -> Effects:
        project(desk, stats)
        project(desk, problems)
        return Effects(
            ProblemService(desk), StatsService(stats.db, desk.policy, clock), problems.db, clock
        )

    return caught_up


def test_an_action_that_sped_up_first_responses_is_judged_effective(desk, clock, effects) -> None:
    for i, text in enumerate(LOGIN):  # before: two hours to a first answer
        answered_after(desk, clock, f"slow-{i}", text, timedelta(hours=2))
    service = ProblemService(desk)
    number = send(service, "open_problem", title="登录问题", category="account/login")["number"]
    due = (clock.now + timedelta(days=7)).isoformat()
    send(
        service,
        "plan_action",
        number=number,
        title="登录问题一线直接答复",
        owner="A007",
        due=due,
        metric="first_response_seconds.p50",
        scope={"category": "account/login"},
        target={"op": "<=", "value": 1800},  # p50 within 30 min
        evaluate_after="30d",
    )
    clock.advance(days=1)
    send(service, "update_action", number=number, action_id="A1", note="已培训", status="done")
    for i, text in enumerate(LOGIN):  # after: ten minutes
        answered_after(desk, clock, f"fast-{i}", text, timedelta(minutes=10))
    evaluator = effects()
    assert evaluator.evaluate_due() >= 1.0 and evaluator.evaluated == 0  # the window runs
    clock.advance(days=31)
    effects().evaluate_due()
    (action,) = service.problem(ProblemQuery(number=number))["problem"]["actions"]
    assert (action["baseline"], action["result"], action["verdict"]) == (7200.0, 600.0, "effective")
    assert (
        effects().evaluate_due()
        and service.problem(ProblemQuery(number=number))["problem"]["version"] == 4
    )  # judged once: opened, planned, done, evaluated


def test_asked_before_the_window_ends_it_says_when(desk, clock, effects) -> None:
    service = ProblemService(desk)
    number = send(service, "open_problem", title="登录问题")["number"]
    due = (clock.now + timedelta(days=7)).isoformat()
    target = {"op": ">=", "value": 0.9}
    send(
        service,
        "plan_action",
        number=number,
        title="x",
        owner="A007",
        due=due,
        metric="csat",
        target=target,
    )
    send(service, "update_action", number=number, action_id="A1", note="done", status="done")
    ask = EvaluateAction.model_validate({"number": number, "action_id": "A1", "actor": SUPERVISOR})
    with pytest.raises(IllegalState, match="ends at"):
        effects().evaluate_action(ask)
    clock.advance(days=31)
    reply = effects().evaluate_action(ask)
    assert reply["verdict"] == "not_effective"  # nothing measured after: no ratings at all


def test_an_action_past_its_due_date_is_escalated_once_by_its_deadline(
    desk, clock, effects
) -> None:
    service = ProblemService(desk)
    number = send(service, "open_problem", title="登录问题")["number"]
    due = clock.now + timedelta(hours=5)
    target = {"op": "<=", "value": 10}
    send(service, "plan_action", number=number, title="x", owner="A007", due=due.isoformat(),
         metric="tickets", target=target)  # fmt: skip
    wait = effects().evaluate_due()
    assert 59 <= wait <= 60  # the next deadline is hours away: it looks again in a minute
    clock.advance(hours=5, seconds=1)
    effects().evaluate_due()
    effects().evaluate_due()
    problem = service.problem(ProblemQuery(number=number))["problem"]
    assert problem["actions"][0]["overdue"] is True and problem["version"] == 3
    history = [type(e).__name__ for e in desk.events.get(service.resolve(None, number))]
    assert history.count("ActionOverdue") == 1
