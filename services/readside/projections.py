"""The read models ticketflow keeps, each fed from TICKETS_EVENTS by its projector:

sla     -> sla_* tables   -> the `sla` and `board` queries, the SLA watcher
audit   -> audit_* tables -> the `audit` query
stats   -> stats_* tables -> the `stats` query
reports -> reports tables -> group impact (who reported the same problem, and when)
problems -> problem_* tables -> the `problems` query
articles -> kb_articles      -> the `articles` and `suggest_articles` queries
"""

from __future__ import annotations

from domain.calendar import parse_duration
from domain.policy import Policy
from projections.articles import ArticleList
from projections.audit import AuditTrail
from projections.base import Projection
from projections.problems import ProblemList
from projections.reports import ReportsByProblem
from projections.sla import SlaView
from projections.stats import Statistics


def projections_for(policy: Policy) -> list[Projection]:
    teams = {a.id: a.team for a in policy.agents}
    sla = SlaView(policy.business_calendar, policy.agents, policy.goals.at_risk_share)
    rules = policy.group_impact
    window = parse_duration(rules.within).seconds
    reports = ReportsByProblem(rules.similarity, window)
    return [sla, AuditTrail(), Statistics(teams), reports, ProblemList(), ArticleList()]
