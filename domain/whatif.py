"""What-if: a ticket's recorded events replayed under another policy, and both judged.

`replay_ticket` applies a ticket's events twice: as recorded, and with the targets of
each event worked out again by a `Planner` of the candidate policy (`domain.sla_plan`,
the functions the live path uses). Everything else stays as recorded: who did what and
when, the pauses on the customer, reassignments, a raised impact (group impact),
escalations, closing. So the same calendar rules, pauses and reassignments act on the
candidate's targets exactly as the service would have.

`Tally` judges target instances as the statistics do (`projections.stats`): a target
started again (reassignment, a reopening, the update cadence) is a new instance and
the one it replaces is judged then; a customer-visible update meets `update_every`;
a target met, or replaced, while the ticket waits on the customer is judged as of the
moment the wait began; at the end, a met instance is on time when met by its due, an
unmet one is breached once past its due and not judged before. The customer's
confirmation window is not a service target and is not counted.

Pure: no clock, no IO. The caller reads the events and sums the `TicketOutcome`s
(`Comparison`).
"""

from __future__ import annotations

import copy
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from domain.sla import Facts
from domain.sla_plan import Planner, facts_of
from domain.ticket import ANSWERED_BY_CUSTOMER_UPDATE, Ticket, department_target

NOT_COUNTED = frozenset({"confirmation"})  # the customer's window, not a service target
REPLANNED = frozenset({"Classified", "ImpactRaised"})  # a new plan replaces the targets


# ---- the targets each recorded event would have set under the candidate -----------------


def retarget(event: Any, t: Ticket, planner: Planner) -> Any:
    """The event as it would have been recorded under `planner`'s policy: the same
    fact, with the targets that policy sets (`t` is the ticket just before it)."""
    kind, at = type(event).__name__, event.timestamp
    if kind == "Classified":
        facts = Facts(
            event.type, event.category, event.priority, event.urgency, event.impact, t.channel
        )
        sla = planner.classified(t, facts, at)
    elif kind == "ImpactRaised":
        sla = planner.classified(t, facts_of(t, impact=event.impact, priority=event.priority), at)
    elif kind == "Assigned":
        sla = planner.assigned(t, at)
    elif kind == "ProgressUpdated":
        resumes = t.status == "waiting_on_customer" and not event.waiting_on_customer
        to_customer = event.visibility == "customer"
        sla = planner.updated(t, at, resumes=resumes, to_customer=to_customer)
        if "promised_feedback" in event.sla:  # a time someone promised: no policy's
            sla["promised_feedback"] = event.sla["promised_feedback"]
    elif kind == "Declined":
        sla = planner.declined(t, at)
    elif kind == "CustomerReplied":
        sla = planner.replied(t, at)
    elif kind == "DepartmentRequested":
        sla = {k: v for k, v in event.sla.items() if k.startswith("department:")}
        sla.update(planner.transferred(t, at))
    elif kind == "SuggestionBatched":
        sla = planner.batched(t, at)
    elif kind == "Closed":
        sla = planner.closed(t, at)
    elif kind == "Reopened":
        sla = planner.reopened(t, at)
    elif kind == "SlaReplanned":
        new, dropped = planner.replanned(t, at)
        withdrawn = [k for k in t.escalated_targets if k.partition("@")[0] in set(dropped)]
        return _with(event, new=new, dropped=dropped, withdrawn=withdrawn)
    else:
        return event
    return _with(event, sla=sla)


def _with(event: Any, **fields: Any) -> Any:
    changed = copy.copy(event)
    for name, value in fields.items():
        object.__setattr__(changed, name, value)
    return changed


def targets_set(event: Any) -> dict | None:
    """The targets an event sets (for comparing a replay with the record)."""
    if type(event).__name__ == "SlaReplanned":
        return {"new": event.new, "dropped": event.dropped}
    return getattr(event, "sla", None)


def apply(event: Any, t: Ticket | None) -> Ticket:
    """The ticket after `event` (the aggregate's own `apply`, without re-digesting)."""
    if t is None:  # the aggregate's construction, without the digest of `Ticket.Event`
        made: Ticket = super(Ticket.Event, event).mutate(None)
        return made
    event.apply(t)
    t.version = event.originator_version
    return t


# ---- judging target instances ------------------------------------------------------------


@dataclass
class _Instance:
    started_at: datetime | None
    due: datetime | None
    met_at: datetime | None = None


def judge(due: datetime | None, met_at: datetime | None, now: datetime) -> bool | None:
    """True on time, False breached, None not judged (running, or never started)."""
    if due is None:
        return None
    if met_at is not None:
        return met_at <= due
    return False if due < now else None


@dataclass
class Tally:
    """One ticket's target instances, as the statistics count them."""

    live: dict[str, _Instance] = field(default_factory=dict)
    on_time: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    breached: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def follow(self, event: Any, paused_at: datetime | None) -> None:
        """Count `event`; `paused_at`: when the ticket's wait on the customer began, if
        it waits (the clock stands still from then)."""
        kind, at = type(event).__name__, event.timestamp
        clock = paused_at or at
        if kind in REPLANNED:
            met = {k: i.met_at for k, i in self.live.items() if i.met_at and k in event.sla}
            self.live = {}
            for name, target in event.sla.items():
                if name not in NOT_COUNTED:
                    self.live[name] = _Instance(
                        target.get("started_at"), target.get("due"), met.get(name)
                    )
            return
        if kind == "Assigned":
            self._meet("assignment", clock)
        elif kind == "Acknowledged":
            self._meet("acknowledge", clock)
        elif kind == "ProgressUpdated" and event.visibility == "customer":
            for name in (*ANSWERED_BY_CUSTOMER_UPDATE, "update_every"):
                self._meet(name, clock, running=True)
        elif kind == "Analysed":
            self._meet("analysis", clock)
        elif kind == "DepartmentAnswered":
            self._meet(department_target(event.request_id), clock)
        elif kind == "FollowedUp":
            self._meet("follow_up", clock)
        elif kind == "Closed":
            for name in list(self.live):
                self._meet(name, clock)
        elif kind == "SlaReplanned":
            for name in event.dropped:
                old = self.live.pop(name, None)
                if old is not None and old.started_at is not None:
                    self._count(name, judge(old.due, old.met_at, clock))
            self._start(event.new, clock)
            return
        sla = getattr(event, "sla", None)
        if sla:
            self._start(sla, clock)

    def _meet(self, name: str, at: datetime, running: bool = False) -> None:
        instance = self.live.get(name)
        if instance is None or instance.met_at is not None:
            return
        if running and instance.started_at is None:
            return
        instance.met_at = at

    def _start(self, targets: Mapping[str, dict], clock: datetime) -> None:
        """(Re)start targets; a started instance replaced is judged now. The same start
        and unmet is the same instance with its due moved (a resumed pause)."""
        for name, target in targets.items():
            if name in NOT_COUNTED:
                continue
            old = self.live.get(name)
            start = target.get("started_at")
            if old and old.started_at is not None and (old.met_at or old.started_at != start):
                self._count(name, judge(old.due, old.met_at, clock))
            self.live[name] = _Instance(start, target.get("due"))

    def _count(self, name: str, outcome: bool | None) -> None:
        if outcome is True:
            self.on_time[name] += 1
        elif outcome is False:
            self.breached[name] += 1

    def judged(self, now: datetime, paused_at: datetime | None) -> dict[str, tuple[int, int]]:
        """Per target: (on time, breached), the running instances judged at `now` (or
        when the ticket's wait on the customer began)."""
        clock = paused_at or now
        result = {
            name: (self.on_time.get(name, 0), self.breached.get(name, 0))
            for name in {*self.on_time, *self.breached}
        }
        for name, instance in self.live.items():
            outcome = judge(instance.due, instance.met_at, clock)
            on_time, late = result.get(name, (0, 0))
            result[name] = (on_time + (outcome is True), late + (outcome is False))
        return result


def outcome_of(counts: tuple[int, int] | None) -> str:
    """A target's outcome on one ticket: `breached` once any instance was late, `met`
    when every judged one was on time, `open` while none is judged, `none` without it."""
    if counts is None:
        return "none"
    on_time, late = counts
    return "breached" if late else "met" if on_time else "open"


# ---- one ticket ---------------------------------------------------------------------------


@dataclass(frozen=True)
class TicketOutcome:
    number: str
    type: str | None
    priority: str | None
    assignee: str | None
    recorded: dict[str, tuple[int, int]]  # target -> (on time, breached)
    whatif: dict[str, tuple[int, int]]
    mismatches: int  # events whose replayed targets differ from the recorded ones

    def changed(self) -> list[dict[str, str]]:
        rows = []
        for name in sorted({*self.recorded, *self.whatif}):
            before = outcome_of(self.recorded.get(name))
            after = outcome_of(self.whatif.get(name))
            if before != after:
                rows.append(
                    {"number": self.number, "target": name, "recorded": before, "whatif": after}
                )
        return rows


def replay_ticket(events: Iterable[Any], planner: Planner, as_of: datetime) -> TicketOutcome:
    """One ticket's events (in order, the first its `Received`), as recorded and under
    `planner`'s policy, each judged at `as_of`; events after `as_of` are not applied.

    One replay serves both: the targets differ, but the ticket's course (its status,
    its waits on the customer, its assignee) is the recorded one in both."""
    t: Ticket | None = None
    recorded, whatif = Tally(), Tally()
    mismatches = 0
    for event in events:
        if event.timestamp > as_of:
            break
        if t is None:
            t = apply(event, None)
            continue
        replayed = retarget(event, t, planner)
        if replayed is not event and targets_set(replayed) != targets_set(event):
            mismatches += 1
        recorded.follow(event, t.paused_at)
        whatif.follow(replayed, t.paused_at)
        apply(replayed, t)
    assert t is not None, "a ticket's events begin with its Received"
    return TicketOutcome(
        number=t.number,
        type=t.type,
        priority=t.priority,
        assignee=t.assignee,
        recorded=recorded.judged(as_of, t.paused_at),
        whatif=whatif.judged(as_of, t.paused_at),
        mismatches=mismatches,
    )


# ---- many tickets -------------------------------------------------------------------------

NONE = "none"


@dataclass
class _Side:
    targets: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))
    groups: dict[str, dict[str, list[int]]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(lambda: [0, 0]))
    )

    def add(self, counts: dict[str, tuple[int, int]], keys: dict[str, str]) -> None:
        on_time = sum(c[0] for c in counts.values())
        late = sum(c[1] for c in counts.values())
        for name, (met, breached) in counts.items():
            self.targets[name][0] += met
            self.targets[name][1] += breached
        for dimension, key in (("overall", ""), *keys.items()):
            total = self.groups[dimension][key]
            total[0] += on_time
            total[1] += late

    def report(self) -> dict[str, Any]:
        overall = self.groups["overall"][""]
        return {
            "sla_compliance": _ratio(*overall),
            "sla_targets": {"met": overall[0], "breached": overall[1]},
            "targets": {
                name: {"met": met, "breached": late}
                for name, (met, late) in sorted(self.targets.items())
            },
            **{
                f"by_{dimension}": {
                    key: {"sla_compliance": _ratio(*c), "met": c[0], "breached": c[1]}
                    for key, c in sorted(self.groups[dimension].items())
                }
                for dimension in ("type", "priority", "team")
            },
        }


def _ratio(met: int, breached: int) -> float | None:
    return met / (met + breached) if met + breached else None


class Comparison:
    """The sum of many tickets' outcomes: compliance as recorded and under the
    candidate, overall and by type, priority and team (the last assignee's)."""

    def __init__(self, team_of: Mapping[str, str]) -> None:
        self.team_of = team_of
        self.sides = (_Side(), _Side())
        self.changed: list[dict[str, str]] = []
        self.tickets = 0
        self.mismatches = 0

    def add(self, outcome: TicketOutcome) -> None:
        keys = {
            "type": outcome.type or NONE,
            "priority": outcome.priority or NONE,
            "team": self.team_of.get(outcome.assignee or "", NONE),
        }
        self.sides[0].add(outcome.recorded, keys)
        self.sides[1].add(outcome.whatif, keys)
        self.changed.extend(outcome.changed())
        self.tickets += 1
        self.mismatches += outcome.mismatches

    def report(self) -> dict[str, Any]:
        return {
            "tickets": self.tickets,
            "recorded": self.sides[0].report(),
            "whatif": self.sides[1].report(),
            "changed": sorted(self.changed, key=lambda c: (c["number"], c["target"])),
        }
