"""SLA targets (docs/process.md): which rule applies, when each target is due, and its state.

Pure functions: `now` and the calendar are always parameters. A ticket keeps its
targets as plain dicts (they live inside stored events):
`{"clock": "wall"|"business", "duration": "30m", "started_at": dt|None, "due": dt|None}`
plus `met_at`, which the aggregate sets. A target with no `started_at` is planned
but not running yet (acknowledge waits for an assignment).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, field_validator

from domain.calendar import BusinessCalendar, parse_duration

TARGETS = (
    "first_response",
    "assignment",
    "acknowledge",
    "update_every",
    "resolution",
    "transferred",
    "analysis",
    "batched",
)
# Targets that start when the ticket arrives; the others start on a later event.
STARTS_ON_RECEIPT = ("first_response", "update_every", "resolution", "analysis")
WHEN_KEYS = ("type", "category", "priority", "urgency", "impact", "channel")
AT_RISK_SHARE = 0.8  # the default of the policy's `goals.at_risk_share`


class SlaRule(BaseModel):
    """One `[[sla]]` entry of the policy file; rules are tried in order."""

    model_config = ConfigDict(extra="forbid")

    when: dict[str, str | list[str]] = {}
    clock: Literal["wall", "business"] = "business"
    # A target's own clock, where it differs from the rule's (`{ assignment = "business" }`).
    clocks: dict[str, Literal["wall", "business"]] = {}
    first_response: str | None = None
    assignment: str | None = None
    acknowledge: str | None = None
    update_every: str | None = None
    resolution: str | None = None
    transferred: str | None = None  # starts when the ticket is first sent to a department
    analysis: str | None = None  # the preliminary analysis (`analyse`), from arrival
    batched: str | None = None  # feedback on a suggestion, from its monthly batch

    @field_validator("when")
    @classmethod
    def _known_keys(cls, when: dict) -> dict:
        unknown = sorted(set(when) - set(WHEN_KEYS))
        if unknown:
            raise ValueError(f"unknown key(s) {unknown} in `when`; use {list(WHEN_KEYS)}")
        return when

    @field_validator("clocks")
    @classmethod
    def _known_targets(cls, clocks: dict) -> dict:
        unknown = sorted(set(clocks) - set(TARGETS))
        if unknown:
            raise ValueError(f"unknown target(s) {unknown} in `clocks`; use {list(TARGETS)}")
        return clocks

    def clock_of(self, target: str) -> str:
        return self.clocks.get(target, self.clock)

    @field_validator(*TARGETS)
    @classmethod
    def _duration(cls, text: str | None) -> str | None:
        if text is not None:
            parse_duration(text)
        return text

    def matches(self, facts: dict) -> bool:
        for key, wanted in self.when.items():
            value = facts.get(key)
            if isinstance(wanted, list):
                if value not in wanted:
                    return False
            elif key == "category" and isinstance(value, str):
                if value != wanted and not value.startswith(wanted + "/"):
                    return False
            elif value != wanted:
                return False
        return True

    def targets(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in TARGETS if getattr(self, name)}


# Why a breach escalates, by target: a late department blocks the handler; a broken
# promise is one the customer heard; every other target is an SLA breach.
BREACH_REASONS = {"department": "department_late", "promised_feedback": "promise_broken"}


def breach_reason(target: str) -> str:
    return BREACH_REASONS.get(target.partition(":")[0], "sla_breach")


def fixed(due_at: datetime, start: datetime) -> dict:
    """A target due at a given instant (a department's due, a promised time)."""
    seconds = max(int((due_at - start).total_seconds()), 0)
    return {"clock": "wall", "duration": f"{seconds}s", "started_at": start, "due": due_at}


def select_rule(rules: list[SlaRule], facts: dict) -> SlaRule | None:
    return next((rule for rule in rules if rule.matches(facts)), None)


def due(target: dict, start: datetime, calendar: BusinessCalendar) -> datetime:
    return calendar.due(start, parse_duration(target["duration"]), target["clock"])


def started(target: dict, start: datetime, calendar: BusinessCalendar) -> dict:
    """The target running from `start`."""
    fresh = {k: v for k, v in target.items() if k != "met_at"}
    return {**fresh, "started_at": start, "due": due(target, start, calendar)}


def plan(
    rule: SlaRule | None,
    *,
    received_at: datetime,
    now: datetime,
    calendar: BusinessCalendar,
    previous: dict | None = None,
) -> dict:
    """The targets of a newly (re)classified ticket.

    Receipt targets run from `received_at`; `assignment` from now; `acknowledge`
    waits for an assignment. On reclassification a running target keeps its start.
    """
    previous = previous or {}
    result: dict[str, dict] = {}
    if rule is None:
        return result
    for name, duration in rule.targets().items():
        target = {
            "clock": rule.clock_of(name),
            "duration": duration,
            "started_at": None,
            "due": None,
        }
        start = (previous.get(name) or {}).get("started_at")
        if start is None and name in STARTS_ON_RECEIPT:
            start = received_at
        elif start is None and name == "assignment":
            start = now
        result[name] = started(target, start, calendar) if start else target
    return result


@dataclass(frozen=True)
class Facts:
    """What the SLA rules look at (the `when` keys): a ticket's classification, its
    priority and the channel it came in on."""

    type: str | None
    category: str | None
    priority: str
    urgency: str | None
    impact: str | None
    channel: str


def replan(
    rules: list[SlaRule],
    facts: Facts,
    *,
    received_at: datetime,
    now: datetime,
    calendar: BusinessCalendar,
    previous: dict | None = None,
) -> dict:
    """The targets of a ticket with these facts: the first rule that matches them,
    planned. Intake, reclassification and group impact all plan through here."""
    rule = select_rule(rules, asdict(facts))
    return plan(rule, received_at=received_at, now=now, calendar=calendar, previous=previous)


def restart(sla: dict, names: tuple[str, ...], now: datetime, calendar: BusinessCalendar) -> dict:
    """Targets among `names` that the ticket tracks, running again from `now`."""
    return {n: started(sla[n], now, calendar) for n in names if n in sla}


def resume(sla: dict, paused_at: datetime, now: datetime, calendar: BusinessCalendar) -> dict:
    """Unmet running targets with their due moved on by the time spent waiting on the customer."""
    moved = {}
    for name, target in sla.items():
        if target.get("met_at") or not target.get("due"):
            continue
        if target["clock"] == "wall":
            new_due = target["due"] + (now - paused_at)
        else:
            waited = calendar.business_seconds_between(paused_at, now)
            new_due = calendar.add_business_seconds(target["due"], waited)
        moved[name] = {**target, "due": new_due}
    return moved


def state(
    target: dict, now: datetime, calendar: BusinessCalendar, share: float = AT_RISK_SHARE
) -> str:
    """`met`, `breached`, `at_risk` (≥ `share` of its time used, the policy's
    `goals.at_risk_share`), `on_track`, or `pending` (not started: acknowledge before an
    assignment, a consultation's feedback before any transfer)."""
    due_at, met_at, start = target.get("due"), target.get("met_at"), target.get("started_at")
    if due_at is None or start is None:  # never ran (closing answers it without meeting it)
        return "pending"
    if met_at:
        return "met" if met_at <= due_at else "breached"
    if now >= due_at:
        return "breached"
    return "at_risk" if used_share(target, now, calendar) >= share else "on_track"


def used_share(target: dict, now: datetime, calendar: BusinessCalendar) -> float:
    start, due_at = target["started_at"], target["due"]
    if target["clock"] == "wall":
        total, used = (due_at - start), (now - start)
        return used / total if total > timedelta(0) else 1.0
    total_s = calendar.business_seconds_between(start, due_at)
    used_s = calendar.business_seconds_between(start, now)
    return used_s / total_s if total_s > 0 else 1.0


def at_risk_from(
    target: dict, calendar: BusinessCalendar, share: float = AT_RISK_SHARE
) -> datetime | None:
    """The instant `share` of the target's time is used (None for a target not running)."""
    start, due_at = target.get("started_at"), target.get("due")
    if not start or not due_at or due_at <= start:
        return None
    if target["clock"] == "wall":
        return start + (due_at - start) * share
    total = calendar.business_seconds_between(start, due_at)
    return calendar.add_business_seconds(start, total * share)
