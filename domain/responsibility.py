"""Who answers for a ticket above its handler: its supervisor and its manager.

- The **supervisor** is the handler's own (`[[agents]] supervisor`); for a ticket
  nobody listed holds, the supervisor of a team whose queue holds it (`[[teams]]
  supervisor`).
- The **manager** is the manager of that team (`[[teams]] manager`), else the
  service's manager (`escalation.manager`).
An escalation goes to that person; a complaint brings the supervisor in, an urgent
ticket the manager (`wanted`). Pure: the policy and the ticket's facts only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from domain.team_scope import ticket_teams

if TYPE_CHECKING:
    from domain.policy import Policy


@dataclass(frozen=True)
class Facts:
    assignee: str | None
    type: str | None
    category: str | None
    priority: str | None


@dataclass(frozen=True)
class Involvement:
    person: str
    role: str  # supervisor or manager
    reason: str  # complaint or urgent


def _teams(policy: Policy, t: Facts) -> list[str]:
    return sorted(
        ticket_teams(policy.agents, assignee=t.assignee, type=t.type, category=t.category)
    )


def supervisor_of(policy: Policy, t: Facts) -> str | None:
    handler = next((a for a in policy.agents if a.id == t.assignee), None)
    if handler is not None and handler.supervisor:
        return handler.supervisor
    teams = {team.id: team for team in policy.teams}
    for team in _teams(policy, t):
        if team in teams and teams[team].supervisor:
            return teams[team].supervisor
    return None


def manager_of(policy: Policy, t: Facts) -> str | None:
    teams = {team.id: team for team in policy.teams}
    for team in _teams(policy, t):
        if team in teams and teams[team].manager:
            return teams[team].manager
    return policy.escalation.manager


def escalation_to(policy: Policy, t: Facts, level: str) -> str | None:
    """The person an escalation to `level` reaches (None: the policy names nobody)."""
    return supervisor_of(policy, t) if level == "supervisor" else manager_of(policy, t)


def wanted(policy: Policy, t: Facts) -> list[Involvement]:
    """Who the process brings in: a complaint's supervisor, an urgent ticket's manager."""
    found = []
    if t.type == "complaint" and (person := supervisor_of(policy, t)):
        found.append(Involvement(person, "supervisor", "complaint"))
    if t.priority == "urgent" and (person := manager_of(policy, t)):
        found.append(Involvement(person, "manager", "urgent"))
    return found
