"""The Problem aggregate: what several tickets have in common, its root cause, and what
is done about it (improvement actions whose effect is measured).

The process: record the feedback (the linked tickets), analyse the root cause (5W1H or
a fishbone), plan actions that are specific, measurable, owned and due ("first
response p50 in account/login ≤ 30 min within 30 days"), track them to done, then
compare the same statistic before and after: the verdict says whether it worked.

Like a ticket's, every event carries `prev`, the digest of the event before it, so a
problem's history verifies; `apply` bodies hold no clock, ids or IO (they run again on
every replay). Events are named apart from the ticket's (`ProblemOpened`, not
`Opened`), so that a projection reading the stream never takes one for the other.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate

from domain.actor import Actor
from domain.errors import Forbidden, IllegalState, Invalid
from domain.ticket import ChainedEvent

PROBLEM_NAMESPACE = UUID("2b7c1d9e-5f3a-4c8b-a6e2-91d4f0c3b757")
STATUSES = ("open", "closed")
ACTION_STATUSES = ("planned", "in_progress", "done", "dropped")
METHODS = {
    "5w1h": ("what", "why", "when", "where", "who", "how"),
    "fishbone": ("people", "machines", "materials", "methods", "environment", "measurement"),
}
# The statistics an action may be held to, and which way is better.
LOWER_IS_BETTER = frozenset(
    {
        "tickets",
        "first_response_seconds.p50",
        "first_response_seconds.p90",
        "resolution_seconds.p50",
        "resolution_seconds.p90",
        "reopen_rate",
        "escalations",
    }
)
HIGHER_IS_BETTER = frozenset({"sla_compliance", "fcr_rate", "csat", "self_service_rate"})
METRICS = LOWER_IS_BETTER | HIGHER_IS_BETTER
SCOPES = ("category", "type", "channel", "team")
VERDICTS = ("pending", "effective", "improved", "not_effective")


def problem_id_for(number: str) -> UUID:
    return uuid5(PROBLEM_NAMESPACE, number)


def verdict(metric: str, baseline: float | None, result: float | None, target: dict) -> str:
    """`effective` when the result meets the target; `improved` when it is only better
    than the baseline; `not_effective` otherwise (also when there was nothing to measure
    after the action)."""
    if result is None:
        return "not_effective"
    value = float(target["value"])
    if (result <= value) if target["op"] == "<=" else (result >= value):
        return "effective"
    if baseline is None:
        return "not_effective"
    better = result < baseline if metric in LOWER_IS_BETTER else result > baseline
    return "improved" if better else "not_effective"


class Problem(Aggregate):
    """Several tickets, one cause: from ProblemOpened to ProblemClosed."""

    class Event(ChainedEvent):
        pass

    class ProblemOpened(Event, Aggregate.Created):
        number: str
        title: str
        category: str | None
        tickets: list  # ticket ids

        def apply(self, p: Problem) -> None:
            p.number, p.title, p.category = self.number, self.title, self.category
            p.tickets = list(self.tickets)

    class TicketsLinked(Event):
        number: str
        tickets: list  # ticket ids not linked before

        def apply(self, p: Problem) -> None:
            p.tickets = [*p.tickets, *self.tickets]

    class RootCauseRecorded(Event):
        """The analysis and the confirmed root cause; a later one revises it (the
        history keeps every version)."""

        number: str
        method: str
        analysis: dict
        root_cause: str

        def apply(self, p: Problem) -> None:
            p.root_cause = {
                "method": self.method,
                "analysis": self.analysis,
                "root_cause": self.root_cause,
                "recorded_at": self.timestamp,
                "by": self.actor,
            }

    class ActionPlanned(Event):
        number: str
        action_id: str
        title: str
        owner: str
        due: datetime
        metric: str
        scope: dict
        target: dict  # {"op": "<=" or ">=", "value": n}
        evaluate_after: str  # a duration: the length of the windows compared

        def apply(self, p: Problem) -> None:
            p.actions[self.action_id] = {
                "action_id": self.action_id,
                "title": self.title,
                "owner": self.owner,
                "due": self.due,
                "metric": self.metric,
                "scope": self.scope,
                "target": self.target,
                "evaluate_after": self.evaluate_after,
                "planned_at": self.timestamp,
                "status": "planned",
                "done_at": None,
                "notes": [],
                "baseline": None,
                "result": None,
                "verdict": "pending",
                "overdue": False,
            }

    class ActionUpdated(Event):
        number: str
        action_id: str
        note: str
        status: str

        def apply(self, p: Problem) -> None:
            action = p.actions[self.action_id]
            action["status"] = self.status
            action["notes"] = [*action["notes"], {"at": self.timestamp, "note": self.note}]
            if self.status == "done":
                action["done_at"] = self.timestamp

    class ActionOverdue(Event):
        """An action passed its due date before it was done: escalated to the
        supervisor, once per action (like an SLA target's breach)."""

        number: str
        action_id: str
        due: datetime
        escalated_to: str  # "supervisor"

        def apply(self, p: Problem) -> None:
            p.actions[self.action_id]["overdue"] = True

    class ProblemRecurred(Event):
        """Tickets of the problem keep arriving after its actions were done: the problem
        is flagged, for a supervisor to look again (not closed by itself)."""

        number: str
        tickets: list

        def apply(self, p: Problem) -> None:
            p.recurring = True

    class EffectEvaluated(Event):
        """The metric over the window before the action was planned (`baseline`) and
        the same length of time after it was done (`result`), and the verdict."""

        number: str
        action_id: str
        baseline: float | None
        result: float | None
        verdict: str
        before: list  # [from, to) of the baseline window, RFC 3339
        after: list  # [from, to) of the result window

        def apply(self, p: Problem) -> None:
            action = p.actions[self.action_id]
            action.update(
                baseline=self.baseline,
                result=self.result,
                verdict=self.verdict,
                before=self.before,
                after=self.after,
            )

    class ProblemClosed(Event):
        number: str
        resolution: str

        def apply(self, p: Problem) -> None:
            p.status, p.resolution, p.closed_at = "closed", self.resolution, self.timestamp

    # ---- state ------------------------------------------------------------------

    chain_head: str = ""
    number: str = ""
    title: str = ""
    category: str | None = None
    status: str = "open"
    resolution: str | None = None
    root_cause: dict | None = None
    recurring: bool = False
    closed_at: datetime | None = None

    def __init__(self, **_: Any) -> None:  # fields are set by ProblemOpened.apply
        self.actions: dict[str, dict] = {}
        self.tickets: list[str] = []

    # ---- commands (guards, then one event) ---------------------------------------

    @classmethod
    def open(
        cls,
        *,
        number: str,
        title: str,
        category: str | None,
        tickets: list[str],
        actor: Actor,
        at: datetime,
    ) -> Problem:
        return cls._create(
            cls.ProblemOpened,
            id=problem_id_for(number),
            timestamp=at,
            actor=actor.record(),
            prev="",
            number=number,
            title=title,
            category=category,
            tickets=list(dict.fromkeys(tickets)),
        )

    def _record(self, event_class: type, *, actor: Actor, at: datetime, **fields: Any) -> None:
        self.trigger_event(
            event_class,
            timestamp=at,
            actor=actor.record(),
            prev=self.chain_head,
            number=self.number,
            **fields,
        )

    def _require_open(self, action: str) -> None:
        if self.status == "closed":
            raise IllegalState(f"cannot {action}: problem {self.number} is closed")

    def link(self, *, tickets: list[str], actor: Actor, at: datetime) -> list[str]:
        """Link the tickets not linked yet; the ones already linked change nothing."""
        self._require_open("link tickets")
        linked = set(self.tickets)
        new = [t for t in dict.fromkeys(tickets) if t not in linked]
        if new:
            self._record(self.TicketsLinked, actor=actor, at=at, tickets=new)
            if self.acted_on():
                self._record(self.ProblemRecurred, actor=actor, at=at, tickets=new)
        return new

    def acted_on(self) -> bool:
        """Every action that was not dropped is done (and there is one)."""
        kept = [a for a in self.actions.values() if a["status"] != "dropped"]
        return bool(kept) and all(a["status"] == "done" for a in kept)

    def mark_overdue(self, *, action_id: str, actor: Actor, at: datetime) -> bool:
        """Escalate an action past its due date and not done; once. False: nothing to do."""
        action = self._action(action_id)
        if action.get("overdue") or action["status"] in ("done", "dropped") or action["due"] > at:
            return False
        self._record(
            self.ActionOverdue,
            actor=actor,
            at=at,
            action_id=action_id,
            due=action["due"],
            escalated_to="supervisor",
        )
        return True

    def record_root_cause(
        self, *, method: str, analysis: dict, root_cause: str, actor: Actor, at: datetime
    ) -> None:
        self._require_open("record a root cause")
        if method not in METHODS:
            raise Invalid(f"method {method!r} is not one of {sorted(METHODS)}")
        unknown = set(analysis) - set(METHODS[method])
        if unknown:
            raise Invalid(f"{method} has no {sorted(unknown)}; it has {list(METHODS[method])}")
        self._record(
            self.RootCauseRecorded,
            actor=actor,
            at=at,
            method=method,
            analysis=analysis,
            root_cause=root_cause,
        )

    def plan_action(
        self,
        *,
        action_id: str,
        title: str,
        owner: str,
        due: datetime,
        metric: str,
        scope: dict,
        target: dict,
        evaluate_after: str,
        actor: Actor,
        at: datetime,
    ) -> None:
        self._require_open("plan an action")
        if metric not in METRICS:
            raise Invalid(f"metric {metric!r} is not one of {sorted(METRICS)}")
        if set(scope) - set(SCOPES):
            raise Invalid(f"scope takes only {list(SCOPES)}")
        if target.get("op") not in ("<=", ">="):
            raise Invalid("target op must be '<=' or '>='")
        if due <= at:
            raise Invalid("an action is due after it is planned")
        self._record(
            self.ActionPlanned,
            actor=actor,
            at=at,
            action_id=action_id,
            title=title,
            owner=owner,
            due=due,
            metric=metric,
            scope=scope,
            target=target,
            evaluate_after=evaluate_after,
        )

    def update_action(
        self, *, action_id: str, note: str, status: str, actor: Actor, at: datetime
    ) -> None:
        action = self._action(action_id)
        if actor.id != action["owner"] and actor.role not in ("supervisor", "manager"):
            raise Forbidden(f"only the owner ({action['owner']}), a supervisor or a manager")
        if status not in ACTION_STATUSES[1:]:
            raise Invalid(f"status {status!r} is not one of {list(ACTION_STATUSES[1:])}")
        if action["status"] in ("done", "dropped"):
            raise IllegalState(f"action {action_id} is already {action['status']}")
        self._record(
            self.ActionUpdated, actor=actor, at=at, action_id=action_id, note=note, status=status
        )

    def record_effect(
        self,
        *,
        action_id: str,
        baseline: float | None,
        result: float | None,
        before: list[str],
        after: list[str],
        actor: Actor,
        at: datetime,
    ) -> str:
        action = self._action(action_id)
        if action["status"] != "done":
            raise IllegalState(f"action {action_id} is not done: nothing to evaluate yet")
        found = verdict(action["metric"], baseline, result, action["target"])
        self._record(
            self.EffectEvaluated,
            actor=actor,
            at=at,
            action_id=action_id,
            baseline=baseline,
            result=result,
            verdict=found,
            before=before,
            after=after,
        )
        return found

    def close(self, *, resolution: str, actor: Actor, at: datetime) -> None:
        self._require_open("close")
        self._record(self.ProblemClosed, actor=actor, at=at, resolution=resolution)

    def _action(self, action_id: str) -> dict:
        if action_id not in self.actions:
            raise Invalid(f"problem {self.number} has no action {action_id!r}")
        return self.actions[action_id]
