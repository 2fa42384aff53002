"""Which tickets an agent or a supervisor may act on and see: their team's.

An agent's team is theirs in the directory (`[[agents]] team`). A supervisor's teams
are those naming them (`[[teams]] supervisor`) and those of the agents they supervise
(`[[agents]] supervisor`). The rule applies to people the directory lists; an id it does
not list keeps the contract's rule that an unlisted actor is still accepted (there is no
team to hold it to). Managers are not held to a team.

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


class Led(Protocol):
    """A member or a team, with who supervises it."""

    id: str
    supervisor: str | None


def supervised_teams(
    agents: Sequence[Member], teams: Sequence[Led], supervisor: str
) -> frozenset[str]:
    """The teams a supervisor leads: empty for one the directory does not name."""
    led = {t.id for t in teams if t.supervisor == supervisor}
    led |= {a.team for a in agents if getattr(a, "supervisor", None) == supervisor}
    return frozenset(led)


def teams_of(agents: Sequence[Member], teams: Sequence[Led], actor: Actor) -> frozenset[str]:
    """The teams whose tickets the actor works; empty: not held to a team."""
    if actor.role == "agent":
        return frozenset(a.team for a in agents if a.id == actor.id)
    if actor.role == "supervisor":
        return supervised_teams(agents, teams, actor.id)
    return frozenset()


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


def check_scope(
    agents: Sequence[Member],
    teams: Sequence[Led],
    actor: Actor,
    *,
    assignee: str | None,
    collaborators: Sequence[str],
    type: str | None,
    category: str | None,
) -> None:
    """Raise Forbidden when a listed agent or supervisor acts on another team's ticket
    (one they hold or help with is always theirs)."""
    if actor.id in (assignee, *collaborators):
        return
    mine = teams_of(agents, teams, actor)
    if not mine:
        return
    held = ticket_teams(agents, assignee=assignee, type=type, category=category)
    if held and not held & mine:
        who = (
            f"agent {actor.id} of team {sorted(mine)[0]!r}"
            if actor.role == "agent"
            else (f"supervisor {actor.id} of team(s) {sorted(mine)}")
        )
        by = f"assigned to {assignee}, " if assignee else ""
        raise Forbidden(
            f"{who} acts only on tickets of their team's queue or assigned to them; "
            f"this ticket is {by}in the queue of team(s) {sorted(held)}"
        )
