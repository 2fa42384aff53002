"""Which tickets an agent may act on ("agent: their tickets and their team's queue").

The rule applies to agents the policy's directory lists; an id it does not list keeps the
contract's rule that an unlisted actor is still accepted (there is no team to hold it to).

A ticket belongs to a team's queue:
- while an agent the directory lists holds it: that agent's team;
- otherwise: each team with an agent skilled in its category (`billing` covers
  `billing/refund`) or its type, the teams intake would propose it to. Language and
  channel skills do not count: nearly every ticket would match them.
A ticket no team covers is in the shared queue, open to every agent (else nobody could
take it). The assignee and the collaborators may always act on it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from domain.actor import Actor
from domain.errors import Forbidden


class Member(Protocol):
    id: str
    team: str
    skills: list[str]


def covers(agent: Member, *, type: str | None, category: str | None) -> bool:
    """The agent has a skill for this type or category."""
    topics = {type, category, (category or "").partition("/")[0]} - {None, ""}
    return bool(topics & set(agent.skills))


def ticket_teams(
    agents: Sequence[Member], *, assignee: str | None, type: str | None, category: str | None
) -> frozenset[str]:
    """The teams whose queue holds the ticket; empty: the shared queue."""
    holder = next((a for a in agents if a.id == assignee), None)
    if holder is not None:
        return frozenset({holder.team})
    return frozenset(a.team for a in agents if covers(a, type=type, category=category))


def check_agent_scope(
    agents: Sequence[Member],
    actor: Actor,
    *,
    assignee: str | None,
    collaborators: Sequence[str],
    type: str | None,
    category: str | None,
) -> None:
    """Raise Forbidden when a listed agent acts on another team's ticket."""
    if actor.role != "agent" or actor.id in (assignee, *collaborators):
        return
    me = next((a for a in agents if a.id == actor.id), None)
    if me is None:
        return
    teams = ticket_teams(agents, assignee=assignee, type=type, category=category)
    if teams and me.team not in teams:
        held = f"assigned to {assignee}, " if assignee else ""
        raise Forbidden(
            f"agent {me.id} of team {me.team!r} acts only on tickets of that "
            f"team's queue or assigned to them; this ticket is {held}in the "
            f"queue of team(s) {sorted(teams)}"
        )
