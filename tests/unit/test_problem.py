"""The Problem aggregate: tickets with one cause, its analysis, and actions whose
effect is judged against a target and the baseline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.actor import Actor
from domain.errors import Forbidden, IllegalState, Invalid
from domain.problem import Problem, problem_id_for, verdict

AT = datetime(2026, 12, 3, 2, 0, tzinfo=UTC)
SUPERVISOR, OWNER = Actor("S001", "supervisor"), Actor("A007", "agent")


def opened(**fields) -> Problem:
    defaults = {"number": "PB202612030001", "title": "APP 登录闪退", "category": "account/login"}
    return Problem.open(
        **{**defaults, **fields}, tickets=["t1", "t2", "t1"], actor=SUPERVISOR, at=AT
    )


def planned(problem: Problem, **fields) -> Problem:
    defaults = {
        "action_id": "A1",
        "title": "fix the login crash",
        "owner": "A007",
        "due": AT + timedelta(days=14),
        "metric": "first_response_seconds.p50",
        "scope": {"category": "account/login"},
        "target": {"op": "<=", "value": 1800},
        "evaluate_after": "30d",
    }
    problem.plan_action(**{**defaults, **fields}, actor=SUPERVISOR, at=AT)
    return problem


def test_a_problem_is_named_by_its_number_and_links_each_ticket_once() -> None:
    p = opened()
    assert p.id == problem_id_for("PB202612030001") and p.tickets == ["t1", "t2"]
    assert p.link(tickets=["t2", "t3"], actor=SUPERVISOR, at=AT) == ["t3"]
    assert p.link(tickets=["t3"], actor=SUPERVISOR, at=AT) == []  # nothing new, no event
    assert [type(e).__name__ for e in p.collect_events()] == ["ProblemOpened", "TicketsLinked"]


def test_each_event_names_the_digest_of_the_one_before() -> None:
    p = opened()
    p.link(tickets=["t3"], actor=SUPERVISOR, at=AT)
    first, second = p.collect_events()
    assert first.prev == "" and second.prev != "" and p.chain_head


class TestRootCause:
    def test_an_analysis_takes_only_its_method_s_headings_and_can_be_revised(self) -> None:
        p = opened()
        why = {"what": "APP 闪退", "why": "新版本登录页空指针", "how": "回滚"}
        p.record_root_cause(
            method="5w1h", analysis=why, root_cause="空指针", actor=SUPERVISOR, at=AT
        )
        p.record_root_cause(
            method="fishbone",
            analysis={"machines": ["旧机型内存不足"], "methods": ["发布未灰度"]},
            root_cause="未灰度发布",
            actor=SUPERVISOR,
            at=AT + timedelta(hours=1),
        )
        assert p.root_cause is not None and p.root_cause["root_cause"] == "未灰度发布"
        with pytest.raises(Invalid, match="people"):
            p.record_root_cause(
                method="fishbone", analysis={"why": "x"}, root_cause="x", actor=SUPERVISOR, at=AT
            )


class TestActions:
    def test_an_action_is_specific_measurable_owned_and_due(self) -> None:
        with pytest.raises(Invalid, match="metric"):
            planned(opened(), metric="happiness")
        with pytest.raises(Invalid, match="due after"):
            planned(opened(), due=AT - timedelta(days=1))
        with pytest.raises(Invalid, match="op"):
            planned(opened(), target={"op": "<", "value": 1})
        assert planned(opened()).actions["A1"]["verdict"] == "pending"

    def test_the_owner_a_supervisor_or_a_manager_moves_it_to_done(self) -> None:
        p = planned(opened())
        with pytest.raises(Forbidden, match="owner"):
            p.update_action(
                action_id="A1", note="x", status="in_progress", actor=Actor("A008", "agent"), at=AT
            )
        p.update_action(action_id="A1", note="发布修复", status="done", actor=OWNER, at=AT)
        assert p.actions["A1"]["done_at"] == AT
        with pytest.raises(IllegalState, match="already done"):
            p.update_action(action_id="A1", note="again", status="done", actor=OWNER, at=AT)

    def test_an_effect_is_judged_only_once_the_action_is_done(self) -> None:
        p = planned(opened())
        args = {"action_id": "A1", "before": [], "after": [], "actor": SUPERVISOR, "at": AT}
        with pytest.raises(IllegalState, match="not done"):
            p.record_effect(baseline=3600, result=1200, **args)
        p.update_action(action_id="A1", note="done", status="done", actor=OWNER, at=AT)
        assert p.record_effect(baseline=3600, result=1200, **args) == "effective"
        assert p.actions["A1"]["baseline"] == 3600 and p.actions["A1"]["result"] == 1200


@pytest.mark.parametrize(
    ("metric", "baseline", "result", "target", "expected"),
    [
        ("first_response_seconds.p50", 3600, 1500, {"op": "<=", "value": 1800}, "effective"),
        ("first_response_seconds.p50", 3600, 2400, {"op": "<=", "value": 1800}, "improved"),
        ("first_response_seconds.p50", 3600, 4000, {"op": "<=", "value": 1800}, "not_effective"),
        ("fcr_rate", 0.7, 0.8, {"op": ">=", "value": 0.85}, "improved"),
        ("fcr_rate", 0.7, 0.9, {"op": ">=", "value": 0.85}, "effective"),
        ("tickets", 40, None, {"op": "<=", "value": 10}, "not_effective"),
    ],
)
def test_the_verdict_reads_the_metric_s_direction(
    metric, baseline, result, target, expected
) -> None:
    assert verdict(metric, baseline, result, target) == expected


def test_a_closed_problem_takes_no_more_work() -> None:
    p = opened()
    p.close(resolution="fixed in 3.2.1", actor=SUPERVISOR, at=AT)
    with pytest.raises(IllegalState, match="closed"):
        p.link(tickets=["t9"], actor=SUPERVISOR, at=AT)


def test_the_edge_offers_exactly_the_metrics_the_domain_judges() -> None:
    from typing import get_args

    from domain.problem import METRICS
    from services.application.problem_messages import Metric

    assert set(get_args(Metric)) == METRICS


def test_an_action_past_its_due_date_and_not_done_is_escalated_once() -> None:
    p = planned(opened())
    due = p.actions["A1"]["due"]
    assert not p.mark_overdue(action_id="A1", actor=SUPERVISOR, at=due - timedelta(seconds=1))
    assert p.mark_overdue(action_id="A1", actor=SUPERVISOR, at=due + timedelta(seconds=1))
    assert not p.mark_overdue(action_id="A1", actor=SUPERVISOR, at=due + timedelta(days=1))
    assert p.actions["A1"]["overdue"]


def test_tickets_arriving_after_every_action_is_done_flag_the_problem() -> None:
    p = planned(opened())
    p.link(tickets=["t3"], actor=SUPERVISOR, at=AT)
    assert not p.recurring  # an action still runs
    p.update_action(action_id="A1", note="done", status="done", actor=OWNER, at=AT)
    p.link(tickets=["t4"], actor=SUPERVISOR, at=AT)
    assert p.recurring and type(p.collect_events()[-1]).__name__ == "ProblemRecurred"
