"""The targets each event sets, worked out from a policy: one function per kind of event.

The live path (the commands, intake, the automations) calls these to fill an event's
`sla`; the what-if (`domain.whatif`) calls the same ones, under a candidate policy,
while it replays recorded events. So the two cannot drift: replaying a ticket under
the policy that recorded it gives back exactly its recorded targets.

A target the policy's rules set is stamped with the policy's version (`"policy"`);
one restarted or shifted keeps the version that set it. Targets that are instants
someone named (a department's due, a promised feedback time) are no policy's and
carry none.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from domain.sla import (
    STARTS_ON_RECEIPT,
    TARGETS,
    Facts,
    SlaRule,
    plan,
    restart,
    resume,
    select_rule,
    started,
)
from domain.ticket import Ticket

POLICY_KEY = "policy"  # the version a target came from, inside the target's dict
UNKNOWN = "unknown"  # a target recorded before versions were, in force unknown


def version_of(name: str, target: dict) -> str | None:
    """The policy version a target came from: `unknown` for one recorded before targets
    carried it; None for an instant someone named (a department's due, a promise)."""
    if name.startswith("department:") or name == "promised_feedback":
        return None
    return target.get(POLICY_KEY) or UNKNOWN


def facts_of(t: Ticket, **override: Any) -> Facts:
    """What the rules look at, as the ticket stands (or with some facts changed)."""
    facts = {
        "type": t.type,
        "category": t.category,
        "priority": t.priority or "normal",
        "urgency": t.urgency,
        "impact": t.impact,
        "channel": t.channel,
    }
    return Facts(**{**facts, **override})


class Planner:
    """The targets a policy sets on each event; `policy` is a `domain.policy.Policy`."""

    def __init__(self, policy: Any) -> None:
        self.policy = policy
        self.version: str = policy.version
        self.calendar = policy.business_calendar
        self._rules: dict[Facts, SlaRule | None] = {}  # the rule each set of facts selects

    def _stamp(self, targets: dict) -> dict:
        return {name: {**target, POLICY_KEY: self.version} for name, target in targets.items()}

    def _targets(
        self, facts: Facts, received_at: datetime, now: datetime, previous: dict | None = None
    ) -> dict:
        """`policy.targets` (`domain.sla.replan`: the first rule matching the facts,
        planned), remembering the rule each set of facts selects: a what-if plans
        thousands of tickets with the same few facts."""
        try:
            rule = self._rules[facts]
        except KeyError:
            rule = self._rules[facts] = select_rule(self.policy.sla, asdict(facts))
        except TypeError:  # facts that cannot be a key: select every time
            rule = select_rule(self.policy.sla, asdict(facts))
        return plan(
            rule, received_at=received_at, now=now, calendar=self.calendar, previous=previous
        )

    # ---- the rules' targets -------------------------------------------------------------

    def classified(self, t: Ticket, facts: Facts, now: datetime) -> dict:
        """(Re)classification and a raised impact: the first matching rule, planned;
        running targets keep their start."""
        return self._stamp(self._targets(facts, t.received_at, now, previous=t.sla))

    def replanned(self, t: Ticket, now: datetime) -> tuple[dict, list[str]]:
        """The rule targets this policy sets on an open ticket (`SlaReplanned`): the
        targets to (re)start, and those to drop. A target already settled (met, or past
        its due) keeps its recorded form and outcome; so does a running one that the new
        plan would make late already. Otherwise a running target keeps its start, and
        one the earlier policy lacked runs from now (it cannot have been late before it
        existed). A dropped target is one the policy no longer has and that was not met."""
        fresh = self._targets(facts_of(t), t.received_at, now)
        changed: dict[str, dict] = {}
        for name, target in fresh.items():
            old = t.sla.get(name)
            if old is not None and _settled(old, now):
                continue
            if old is not None and old.get("started_at"):
                target = started(target, old["started_at"], self.calendar)
                if target["due"] <= now:  # already late under the new plan: not fair to
                    continue  # hold it to a goal it could not meet; the old plan stays
            elif old is None and name in STARTS_ON_RECEIPT:
                target = started(target, now, self.calendar)
            elif old is not None:  # planned, not running: stays waiting for its start
                target = {**target, "started_at": None, "due": None}
            new = {**target, POLICY_KEY: self.version}
            if old is None or _definition(old) != _definition(new):
                changed[name] = new
        dropped = [
            name
            for name, old in t.sla.items()
            if name in TARGETS and name not in fresh and not old.get("met_at")
        ]
        return changed, sorted(dropped)

    # ---- targets started again ----------------------------------------------------------

    def assigned(self, t: Ticket, now: datetime) -> dict:
        return restart(t.sla, ("acknowledge",), now, self.calendar)

    def declined(self, t: Ticket, now: datetime) -> dict:
        """Back to the queue: assignment runs again; acknowledge waits for the next one."""
        sla = restart(t.sla, ("assignment",), now, self.calendar)
        if "acknowledge" in t.sla:
            sla["acknowledge"] = {**t.sla["acknowledge"], "started_at": None, "due": None}
        return sla

    def reopened(self, t: Ticket, now: datetime) -> dict:
        return restart(t.sla, ("resolution", "update_every"), now, self.calendar)

    def updated(self, t: Ticket, now: datetime, *, resumes: bool, to_customer: bool) -> dict:
        """A progress update: the end of a wait on the customer moves the running dues on;
        a customer-visible one starts the update cadence again."""
        sla: dict = {}
        if resumes and t.paused_at:
            sla.update(resume(t.sla, t.paused_at, now, self.calendar))
        if to_customer:
            sla.update(restart(t.sla, ("update_every",), now, self.calendar))
        return sla

    def replied(self, t: Ticket, now: datetime) -> dict:
        """The customer's reply ends a wait on them: the running dues move on."""
        waiting = t.status == "waiting_on_customer" and t.paused_at is not None
        return resume(t.sla, t.paused_at, now, self.calendar) if waiting and t.paused_at else {}

    def transferred(self, t: Ticket, now: datetime) -> dict:
        """The first request to another department starts the consultation's feedback."""
        feedback = t.sla.get("transferred")
        if feedback and not feedback.get("started_at"):
            return {"transferred": started(feedback, now, self.calendar)}
        return {}

    def batched(self, t: Ticket, now: datetime) -> dict:
        target = t.sla.get("batched")
        return {"batched": started(target, now, self.calendar)} if target else {}

    # ---- after closing ------------------------------------------------------------------

    def closed(self, t: Ticket, now: datetime) -> dict:
        """The follow-up visit (for the policy's priorities) and the customer's
        confirmation window."""
        follow = self.policy.follow_up
        sla = {}
        if t.priority in follow.priorities:
            target = {"clock": follow.clock, "duration": follow.within}
            sla["follow_up"] = started(target, now, self.calendar)
        asking = {"clock": "wall", "duration": self.policy.customer.confirm_within}
        sla["confirmation"] = started(asking, now, self.calendar)
        return self._stamp(sla)


def _settled(target: dict, now: datetime) -> bool:
    """Met, or past its due: its outcome is history."""
    return bool(target.get("met_at")) or bool(target.get("due") and target["due"] <= now)


def _definition(target: dict) -> tuple:
    return tuple(target.get(k) for k in ("clock", "duration", "started_at", "due", POLICY_KEY))
