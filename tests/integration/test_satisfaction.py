"""Satisfaction by dimension, on real stores: a rating scores the policy's dimensions
too, statistics report each, and a dimension scored low again and again becomes a
problem to analyse."""

from __future__ import annotations

import dataclasses
from uuid import UUID

import pytest

from domain.errors import Invalid
from projections.problems import ProblemList
from projections.stats import Statistics
from services.application.commands import CommandService
from services.application.problems import ProblemService
from services.application.registration import Registrar
from services.automation.low_scores import LowScores
from services.readside.stats import StatsQuery, StatsService
from tests.integration.projecting import project, projector
from tests.integration.test_desk import SUPERVISOR, command, request

CUSTOMER = {"id": "app", "role": "channel"}


def closed_ticket(desk, clock, n: int) -> str:
    req = dataclasses.replace(request(f"s-{n}", content="退款到账太慢"), arrived_at=clock.now)
    [r] = Registrar(desk).register([req])
    command(CommandService(desk), "close", str(r.ticket_id), SUPERVISOR, resolution="已退款")
    return str(r.ticket_id)


def rate(desk, ticket_id: str, score: int, **dimensions: int) -> None:
    command(CommandService(desk), "rate", ticket_id, CUSTOMER, score=score, dimensions=dimensions)


def test_a_rating_scores_each_dimension_and_statistics_report_them(desk, clock, store_url) -> None:
    for n, (attitude, efficiency) in enumerate([(5, 2), (4, 3), (2, 5)]):
        rate(desk, closed_ticket(desk, clock, n), 4, attitude=attitude, efficiency=efficiency)
    stats = projector(Statistics({}), store_url)
    project(desk, stats)
    report = StatsService(stats.db, desk.policy, desk.clock).stats(StatsQuery())["stats"]
    by = report["satisfaction_by_dimension"]
    assert by["attitude"] == {"avg": pytest.approx(11 / 3), "count": 3, "satisfied": 2 / 3}
    assert by["efficiency"] == {"avg": pytest.approx(10 / 3), "count": 3, "satisfied": 1 / 3}


def test_a_dimension_the_policy_does_not_rate_is_refused(desk, clock) -> None:
    ticket_id = closed_ticket(desk, clock, 1)
    with pytest.raises(Invalid, match=r"unknown dimension\(s\) \['speed'\]"):
        rate(desk, ticket_id, 4, speed=5)
    assert not desk.load(UUID(ticket_id)).rated


def test_the_third_low_score_of_one_dimension_opens_a_problem(desk, clock, store_url) -> None:
    stats, problems = projector(Statistics({}), store_url), projector(ProblemList(), store_url)
    low = LowScores(desk, stats.db, ProblemService(desk))
    tickets = [closed_ticket(desk, clock, n) for n in range(4)]
    for n, ticket_id in enumerate(tickets[:2]):
        rate(desk, ticket_id, 3, attitude=1 + n, efficiency=5)
    project(desk, stats)
    low.examine("attitude")
    assert low.opened == 0  # two low scores: not yet a pattern
    rate(desk, tickets[2], 3, attitude=2)
    project(desk, stats)
    low.examine("attitude")
    project(desk, problems)
    with problems.db.transaction(write=False) as tx:
        rows = tx.execute("SELECT title, problem_id FROM problems").fetchall()
        [(title, problem_id)] = rows
        linked = tx.execute(
            "SELECT COUNT(*) FROM problem_tickets WHERE problem_id=?", (problem_id,)
        ).fetchone()[0]
    assert title == "Low satisfaction: attitude" and linked == 3
    rate(desk, tickets[3], 2, attitude=1)  # a fourth joins the open problem
    project(desk, stats)
    low.examine("attitude")
    project(desk, problems)
    with problems.db.transaction(write=False) as tx:
        assert tx.execute("SELECT COUNT(*) FROM problems").fetchone()[0] == 1
        assert tx.execute("SELECT COUNT(*) FROM problem_tickets").fetchone()[0] == 4
