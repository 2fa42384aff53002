"""The process's own moves above the handler: who is brought in, and whom an escalation
reaches (the rules are `domain.responsibility`'s)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from domain.actor import Actor
from domain.classifier import mentions
from domain.policy import Policy
from domain.responsibility import Facts, escalation_to, wanted
from domain.ticket import Ticket

PROCESS = Actor.system("process")


def facts_of(t: Ticket) -> Facts:
    return Facts(t.assignee, t.type, t.category, t.priority)


def recipient(policy: Policy, t: Ticket, level: str) -> str | None:
    """Whom an escalation of this ticket to `level` reaches."""
    return escalation_to(policy, facts_of(t), level)


def escalate_to(
    t: Ticket, policy: Policy, level: str, *, reason: str, actor: Actor, now: datetime, **facts: Any
) -> None:
    """Escalate `t` to `level`, reaching whom the policy names for that level (`facts`:
    what else the event records, e.g. the target breached and its due time)."""
    to = recipient(policy, t, level)
    t.escalate(level=level, reason=reason, actor=actor, at=now, to=to, **facts)


def bring_in(t: Ticket, policy: Policy, now: datetime) -> None:
    """A complaint's supervisor and an urgent ticket's manager join it, once each."""
    if t.status == "closed":
        return
    for who in wanted(policy, facts_of(t)):
        if who.person not in t.involved and who.person != t.assignee:
            t.involve(person=who.person, role=who.role, reason=who.reason, actor=PROCESS, at=now)


def escalate_media(t: Ticket, text: str, policy: Policy, actor: Actor, now: datetime) -> None:
    """A request threatening public exposure goes to the manager at once."""
    words = mentions(text, policy.escalation.media_keywords)
    if words:
        escalate_to(t, policy, "manager", reason="media_complaint", actor=actor, now=now)
