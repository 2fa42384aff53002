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

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from domain.sla import Facts
from domain.sla_plan import Planner, facts_of
from domain.ticket import ANSWERED_BY_CUSTOMER_UPDATE, Ticket, department_target

NOT_COUNTED = frozenset({"confirmation"})  # the customer's window, not a service target
REPLANNED = frozenset({"Classified", "ImpactRaised"})  # a new plan replaces the targets
# The target each kind of event meets; a customer-visible update meets several.
MEETS = {
    "Assigned": "assignment",
    "Acknowledged": "acknowledge",
    "Analysed": "analysis",
    "FollowedUp": "follow_up",
}
ANSWERED_BY_UPDATE = (*ANSWERED_BY_CUSTOMER_UPDATE, "update_every")


# ---- the targets each recorded event would have set under the candidate -----------------


def retarget(event: Any, t: Ticket, planner: Planner) -> Any:
    """The event as it would have been recorded under `planner`'s policy: the same
    fact, with the targets that policy sets (`t` is the ticket just before it)."""
    kind = type(event).__name__
    if kind == "SlaReplanned":  # its targets are `new` and `dropped`, not `sla`
        new, dropped = planner.replanned(t, event.timestamp)
        withdrawn = [k for k in t.escalated_targets if k.partition("@")[0] in set(dropped)]
        return _with(event, new=new, dropped=dropped, withdrawn=withdrawn)
    targets = _RETARGET.get(kind)
    if targets is None:  # an event that sets no targets
        return event
    return _with(event, sla=targets(event, t, planner, event.timestamp))


def _classified(event: Any, t: Ticket, planner: Planner, at: datetime) -> dict:
    facts = Facts(
        event.type, event.category, event.priority, event.urgency, event.impact, t.channel
    )
    return planner.classified(t, facts, at)


def _impact_raised(event: Any, t: Ticket, planner: Planner, at: datetime) -> dict:
    return planner.classified(t, facts_of(t, impact=event.impact, priority=event.priority), at)


def _progress_updated(event: Any, t: Ticket, planner: Planner, at: datetime) -> dict:
    resumes = t.status == "waiting_on_customer" and not event.waiting_on_customer
    to_customer = event.visibility == "customer"
    sla = planner.updated(t, at, resumes=resumes, to_customer=to_customer)
    if "promised_feedback" in event.sla:  # a time someone promised: no policy's
        sla["promised_feedback"] = event.sla["promised_feedback"]
    return sla


def _department_requested(event: Any, t: Ticket, planner: Planner, at: datetime) -> dict:
    sla = {k: v for k, v in event.sla.items() if k.startswith("department:")}
    sla.update(planner.transferred(t, at))
    return sla


# The targets each kind of event sets under a policy (by the event's class name).
_RETARGET: dict[str, Callable[[Any, Ticket, Planner, datetime], dict]] = {
    "Classified": _classified,
    "ImpactRaised": _impact_raised,
    "Assigned": lambda event, t, planner, at: planner.assigned(t, at),
    "ProgressUpdated": _progress_updated,
    "Declined": lambda event, t, planner, at: planner.declined(t, at),
    "CustomerReplied": lambda event, t, planner, at: planner.replied(t, at),
    "DepartmentRequested": _department_requested,
    "SuggestionBatched": lambda event, t, planner, at: planner.batched(t, at),
    "Closed": lambda event, t, planner, at: planner.closed(t, at),
    "Reopened": lambda event, t, planner, at: planner.reopened(t, at),
}


def _with(event: Any, **fields: Any) -> Any:
    """A copy of the (frozen) event with some fields replaced: what `copy.copy` and
    `object.__setattr__` would make, built the way the library builds a decoded event."""
    changed = object.__new__(type(event))
    object.__setattr__(changed, "__dict__", {**event.__dict__, **fields})
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


# One target instance: (started_at, due, met_at). A plain tuple of instants: cheaper to
# make and to replace than an object, and the garbage collector does not track it.
_Instance = tuple[datetime | None, datetime | None, datetime | None]


def judge(due: datetime | None, met_at: datetime | None, now: datetime) -> bool | None:
    """True on time, False breached, None not judged (running, or never started)."""
    if due is None:
        return None
    if met_at is not None:
        return met_at <= due
    return False if due < now else None


class Tally:
    """One ticket's target instances, as the statistics count them."""

    __slots__ = ("breached", "live", "on_time")

    def __init__(self) -> None:
        self.live: dict[str, _Instance] = {}
        self.on_time: dict[str, int] = {}
        self.breached: dict[str, int] = {}

    def follow(self, event: Any, paused_at: datetime | None) -> None:
        """Count `event`; `paused_at`: when the ticket's wait on the customer began, if
        it waits (the clock stands still from then)."""
        kind, at = type(event).__name__, event.timestamp
        clock = paused_at or at
        if kind in REPLANNED:
            met = {k: i[2] for k, i in self.live.items() if i[2] and k in event.sla}
            self.live = {}
            for name, target in event.sla.items():
                if name not in NOT_COUNTED:
                    self.live[name] = (target.get("started_at"), target.get("due"), met.get(name))
            return
        meets = MEETS.get(kind)
        if meets is not None:
            self._meet(meets, clock)
        elif kind == "ProgressUpdated" and event.visibility == "customer":
            for name in ANSWERED_BY_UPDATE:
                self._meet(name, clock, running=True)
        elif kind == "DepartmentAnswered":
            self._meet(department_target(event.request_id), clock)
        elif kind == "Closed":
            for name in list(self.live):
                self._meet(name, clock)
        elif kind == "SlaReplanned":
            for name in event.dropped:
                old = self.live.pop(name, None)
                if old is not None and old[0] is not None:
                    self._count(name, judge(old[1], old[2], clock))
            self._start(event.new, clock)
            return
        sla = getattr(event, "sla", None)
        if sla:
            self._start(sla, clock)

    def _meet(self, name: str, at: datetime, running: bool = False) -> None:
        instance = self.live.get(name)
        if instance is None or instance[2] is not None:
            return
        if running and instance[0] is None:
            return
        self.live[name] = (instance[0], instance[1], at)

    def _start(self, targets: Mapping[str, dict], clock: datetime) -> None:
        """(Re)start targets; a started instance replaced is judged now. The same start
        and unmet is the same instance with its due moved (a resumed pause)."""
        for name, target in targets.items():
            if name in NOT_COUNTED:
                continue
            old = self.live.get(name)
            start = target.get("started_at")
            if old and old[0] is not None and (old[2] or old[0] != start):
                self._count(name, judge(old[1], old[2], clock))
            self.live[name] = (start, target.get("due"), None)

    def _count(self, name: str, outcome: bool | None) -> None:
        if outcome is True:
            self.on_time[name] = self.on_time.get(name, 0) + 1
        elif outcome is False:
            self.breached[name] = self.breached.get(name, 0) + 1

    def judged(self, now: datetime, paused_at: datetime | None) -> dict[str, tuple[int, int]]:
        """Per target: (on time, breached), the running instances judged at `now` (or
        when the ticket's wait on the customer began)."""
        clock = paused_at or now
        result = {
            name: (self.on_time.get(name, 0), self.breached.get(name, 0))
            for name in {*self.on_time, *self.breached}
        }
        for name, (_, due, met_at) in self.live.items():
            outcome = judge(due, met_at, clock)
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
        if self.recorded == self.whatif:  # most tickets: nothing to compare name by name
            return []
        rows = []
        for name in sorted({*self.recorded, *self.whatif}):
            before = outcome_of(self.recorded.get(name))
            after = outcome_of(self.whatif.get(name))
            if before != after:
                rows.append(
                    {"number": self.number, "target": name, "recorded": before, "whatif": after}
                )
        return rows


class Replay:
    """One ticket replayed an event at a time, as recorded and under `planner`'s
    policy (`replay_ticket`, fed from a pass over the log: the events of one ticket
    come in order, the first its `Received`). Events after `as_of` are not applied;
    `wants_more` turns false at the first of them, so the caller need not decode the
    rest."""

    __slots__ = ("as_of", "mismatches", "planner", "recorded", "t", "wants_more", "whatif")

    def __init__(self, planner: Planner, as_of: datetime) -> None:
        self.planner, self.as_of = planner, as_of
        self.t: Ticket | None = None
        self.recorded, self.whatif = Tally(), Tally()
        self.mismatches = 0
        self.wants_more = True

    def add(self, event: Any) -> None:
        if not self.wants_more:
            return
        if event.timestamp > self.as_of:
            self.wants_more = False
            return
        t = self.t
        if t is None:
            self.t = apply(event, None)
            return
        replayed = retarget(event, t, self.planner)
        if replayed is not event and targets_set(replayed) != targets_set(event):
            self.mismatches += 1
        paused_at = t.paused_at
        self.recorded.follow(event, paused_at)
        self.whatif.follow(replayed, paused_at)
        replayed.apply(t)  # `apply`, inline
        t.version = replayed.originator_version

    def outcome(self) -> TicketOutcome:
        t = self.t
        assert t is not None, "a ticket's events begin with its Received"
        return TicketOutcome(
            number=t.number,
            type=t.type,
            priority=t.priority,
            assignee=t.assignee,
            recorded=self.recorded.judged(self.as_of, t.paused_at),
            whatif=self.whatif.judged(self.as_of, t.paused_at),
            mismatches=self.mismatches,
        )


def replay_ticket(events: Iterable[Any], planner: Planner, as_of: datetime) -> TicketOutcome:
    """One ticket's events (in order, the first its `Received`), as recorded and under
    `planner`'s policy, each judged at `as_of`; events after `as_of` are not applied.

    One replay serves both: the targets differ, but the ticket's course (its status,
    its waits on the customer, its assignee) is the recorded one in both."""
    replay = Replay(planner, as_of)
    for event in events:
        replay.add(event)
        if not replay.wants_more:
            break
    return replay.outcome()


# ---- many tickets -------------------------------------------------------------------------

NONE = "none"


@dataclass
class _Side:
    targets: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))
    groups: dict[str, dict[str, list[int]]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(lambda: [0, 0]))
    )

    def add(self, counts: dict[str, tuple[int, int]], keys: dict[str, str]) -> None:
        on_time = late = 0
        for name, (met, breached) in counts.items():
            total = self.targets[name]
            total[0] += met
            total[1] += breached
            on_time += met
            late += breached
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
