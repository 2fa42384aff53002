"""The `stats` query (docs/contract.md), served from `projections.stats`.

The period is the tickets *received* in [`from`, `to`) (either bound optional). For
those tickets, as of the moment asked:
- `tickets`; `open` / `closed`: not closed / closed now; `by_status`, `by_type`,
  `by_category`, `by_priority`, `by_channel`: counts (`"none"` for a missing value).
- `first_response_seconds`: received -> first customer-visible update, or the first
  close if that came first. `resolution_seconds`: received -> first close (the Closed
  event's `handling_seconds`). Each `{avg, p50, p90, count}`; null without data.
  Percentiles by nearest rank (`percentile`).
- `sla_compliance`: target instances met on or before their due / instances met or
  past due (`projections.stats.judge`); `sla_targets` gives both counts.
- `fcr_rate` (first-contact resolution, 一次性解决率; the process's target ≥ 85 %): tickets
  closed at least once that were never reopened and never escalated (at any level,
  for any reason, SLA breaches included) / tickets closed at least once.
- `csat`: tickets whose last rating is 4 or 5 / rated tickets (`ratings`).
- `reopen_rate`: tickets reopened at least once / tickets closed at least once.
- `escalations`: Escalated events of these tickets.
- `by_demand`, `by_mood`: the communication record's counts.
- `satisfaction_by_dimension`: per dimension rated (the last rating of each ticket),
  `{"avg", "count", "satisfied"}` (`satisfied`: the share of 4 and 5).
- `goals`: `{"fcr_rate": {"goal", "value", "met"}, "csat": {...}}`, the policy's
  `[goals]`; `met` is null while the rate has no data.
- `high_frequency`: categories with at least `policy.stats.high_frequency_share` of
  the tickets, `{category, count, share}`, most frequent first.
- The counts behind the ratios, so that each figure can name its tickets:
  `closed_once` (tickets closed at least once: the denominator of `fcr_rate` and
  `reopen_rate`), `first_contact` and `reopened` (their numerators), `satisfied` (the
  numerator of `csat`; `ratings` is its denominator), `escalated` (tickets escalated at
  least once), `sla_tickets` `{judged, breached}` (tickets with at least one target
  instance judged / judged late).
- `self_service_rate`: consultations solved by a knowledge-base article on a channel's
  self-service page, without a ticket (`self_served`) / those plus the consultation
  tickets; null when there are none. A report counts in the period of its moment, in
  the category of its article (the article's first) and the channel that sent it.
- `closed_by_day` (top level only): the tickets closed now, by the day of their last
  close in the policy calendar's time zone (`{"2026-11-24": 3}`); its values add up to
  `closed`.
Ratios are 0–1, null when the denominator is 0. With `group_by`, `groups` maps each
slice's key to the same metrics (and with `then_by`, each slice has `groups` of its
own: team × week); day (`2026-11-24`), week (`2026-W48`, ISO) and month
(`2026-11`) are of `received_at` in the policy calendar's time zone; agent and team
are the last assignee's.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from domain.policy import Policy
from infra.readdb import ReadDB
from projections.base import utc_text
from projections.stats import SELF_SERVICE, TARGETS, TICKETS, judge
from services.application.messages import Actor, QueryTime

GroupBy = Literal[
    "type",
    "category",
    "priority",
    "channel",
    "agent",
    "team",
    "demand",
    "mood",
    "policy_version",
    "day",
    "week",
    "month",
]
NONE = "none"  # the key of a missing value (an unassigned ticket's agent, ...)
FIELD_OF = {
    "type": "type",
    "category": "category",
    "priority": "priority",
    "channel": "channel",
    "agent": "assignee",
    "team": "team",
    "demand": "demand",
    "mood": "mood",
    "policy_version": "policy_version",
}
# The rates the policy sets goals for (`[goals]`): the figure, and the goal's key.
GOALS = {"fcr_rate": "first_contact_resolution", "csat": "satisfaction"}


class StatsQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_: QueryTime | None = Field(default=None, alias="from")
    to: QueryTime | None = None
    group_by: GroupBy | None = None
    then_by: GroupBy | None = None  # a second dimension inside each group (team × week)
    actor: Actor | None = None

    @model_validator(mode="after")
    def _ordered(self) -> StatsQuery:
        if self.from_ and self.to and self.from_ >= self.to:
            raise ValueError("`from` must be before `to`")
        if self.then_by and not self.group_by:
            raise ValueError("then_by slices each group: give group_by too")
        if self.then_by and self.then_by == self.group_by:
            raise ValueError("then_by must differ from group_by")
        return self


@dataclass(frozen=True)
class Facts:
    """One ticket as the report sees it."""

    channel: str | None
    type: str | None
    category: str | None
    priority: str | None
    assignee: str | None
    team: str | None
    status: str
    received_at: datetime
    first_response_seconds: float | None
    resolution_seconds: float | None
    closed_once: bool
    reopens: int
    escalations: int
    score: int | None
    sla_on_time: int = 0
    sla_judged: int = 0
    demand: str | None = None
    mood: str | None = None
    dimensions: dict[str, int] | None = None  # the last rating's scores per dimension
    ticket_id: str = ""
    number: str | None = None
    closed_at: datetime | None = None  # the last close (while closed)
    policy_version: str | None = None  # the policy that set the ticket's targets


@dataclass(frozen=True)
class SelfServed:
    """A consultation an article solved on a self-service page: no ticket was opened.
    Sliced like a ticket: its channel, its article's category, its moment."""

    channel: str | None
    category: str | None
    received_at: datetime
    type: str = "consultation"


# ---- the math: pure functions ---------------------------------------------------------


def percentile(values: Sequence[float], p: int) -> float | None:
    """Nearest rank: the smallest value with at least p % of the values at or below it,
    i.e. sorted(values)[ceil(p/100 · n) − 1]; always one of the values. None if empty."""
    if not 0 < p <= 100:
        raise ValueError(f"percentile {p} must be in (0, 100]")
    if not values:
        return None
    rank = -(-p * len(values) // 100)  # ceil in integers: no float rounding at the edges
    return float(sorted(values)[rank - 1])


def summary(values: Sequence[float]) -> dict[str, float | int | None]:
    avg = sum(values) / len(values) if values else None
    return {
        "avg": avg,
        "p50": percentile(values, 50),
        "p90": percentile(values, 90),
        "count": len(values),
    }


def ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def counts(keys: Iterable[str | None]) -> dict[str, int]:
    return dict(sorted(Counter(k or NONE for k in keys).items()))


def high_frequency(categories: Sequence[str | None], share: float) -> list[dict[str, Any]]:
    """Categories whose share of the volume is at least `share`, most frequent first."""
    found = [
        {"category": c, "count": n, "share": n / len(categories)}
        for c, n in counts(categories).items()
        if n / len(categories) >= share
    ]
    return sorted(found, key=lambda e: (-e["count"], e["category"]))


def first_contact(f: Facts) -> bool:
    return f.closed_once and f.reopens == 0 and f.escalations == 0


def metrics(
    facts: Sequence[Facts], high_frequency_share: float, served: Sequence[SelfServed] = ()
) -> dict[str, Any]:
    consultations = sum(f.type == "consultation" for f in facts)
    closed_once = [f for f in facts if f.closed_once]
    scores = [f.score for f in facts if f.score is not None]
    on_time, judged = sum(f.sla_on_time for f in facts), sum(f.sla_judged for f in facts)
    return {
        "tickets": len(facts),
        "open": sum(f.status != "closed" for f in facts),
        "closed": sum(f.status == "closed" for f in facts),
        "by_status": counts(f.status for f in facts),
        **{
            f"by_{key}": counts(getattr(f, key) for f in facts)
            for key in ("type", "category", "priority", "channel", "demand", "mood")
        },
        "first_response_seconds": summary(
            [f.first_response_seconds for f in facts if f.first_response_seconds is not None]
        ),
        "resolution_seconds": summary(
            [f.resolution_seconds for f in facts if f.resolution_seconds is not None]
        ),
        "sla_compliance": ratio(on_time, judged),
        "sla_targets": {"on_time": on_time, "breached": judged - on_time},
        "fcr_rate": ratio(sum(map(first_contact, closed_once)), len(closed_once)),
        "csat": ratio(sum(s >= 4 for s in scores), len(scores)),
        "ratings": len(scores),
        "satisfaction_by_dimension": by_dimension(facts),
        "reopen_rate": ratio(sum(f.reopens > 0 for f in closed_once), len(closed_once)),
        "escalations": sum(f.escalations for f in facts),
        "self_service_rate": ratio(len(served), len(served) + consultations),
        "self_served": len(served),
        "high_frequency": high_frequency([f.category for f in facts], high_frequency_share),
        "closed_once": len(closed_once),
        "first_contact": sum(map(first_contact, closed_once)),
        "reopened": sum(f.reopens > 0 for f in closed_once),
        "satisfied": sum(s >= 4 for s in scores),
        "escalated": sum(f.escalations > 0 for f in facts),
        "sla_tickets": {
            "judged": sum(f.sla_judged > 0 for f in facts),
            "breached": sum(late(f) for f in facts),
        },
    }


def by_dimension(facts: Sequence[Facts]) -> dict[str, dict[str, Any]]:
    """Per rated dimension: the average score, how many rated it, the share of 4 and 5."""
    scored: dict[str, list[int]] = defaultdict(list)
    for f in facts:
        for name, value in (f.dimensions or {}).items():
            scored[name].append(value)
    return {
        name: {
            "avg": sum(values) / len(values),
            "count": len(values),
            "satisfied": ratio(sum(v >= 4 for v in values), len(values)),
        }
        for name, values in sorted(scored.items())
    }


def goals(stats: dict[str, Any], wanted: dict[str, float]) -> dict[str, dict[str, Any]]:
    """Each rate beside its goal: `met` true or false, null while the rate has no data."""
    found = {}
    for figure, key in GOALS.items():
        value, goal = stats[figure], wanted[key]
        found[figure] = {
            "goal": goal,
            "value": value,
            "met": None if value is None else value >= goal,
        }
    return found


def late(f: Facts) -> bool:
    """At least one of the ticket's target instances was judged late."""
    return f.sla_judged > f.sla_on_time


def closed_by_day(facts: Sequence[Facts], tz: tzinfo) -> dict[str, int]:
    """The tickets closed now, by the local day of their last close."""
    days = Counter(
        f.closed_at.astimezone(tz).date().isoformat()
        for f in facts
        if f.status == "closed" and f.closed_at is not None
    )
    return dict(sorted(days.items()))


def group_key(f: Facts | SelfServed, group_by: GroupBy, tz: tzinfo) -> str:
    if group_by in FIELD_OF:
        return getattr(f, FIELD_OF[group_by], None) or NONE
    local = f.received_at.astimezone(tz)
    if group_by == "day":
        return local.date().isoformat()
    if group_by == "week":
        year, week, _ = local.isocalendar()
        return f"{year}-W{week:02d}"
    return f"{local.year}-{local.month:02d}"


def groups(
    facts: Sequence[Facts],
    group_by: GroupBy,
    tz: tzinfo,
    high_frequency_share: float,
    then_by: GroupBy | None = None,
    served: Sequence[SelfServed] = (),
) -> dict[str, dict[str, Any]]:
    """The metrics of each slice; with `then_by`, each slice holds `groups` of its own."""
    sliced: dict[str, list[Facts]] = defaultdict(list)
    for f in facts:
        sliced[group_key(f, group_by, tz)].append(f)
    served_in: dict[str, list[SelfServed]] = defaultdict(list)
    for report in served:
        served_in[group_key(report, group_by, tz)].append(report)
    found = {}
    for key in sorted({*sliced, *served_in}):
        found[key] = metrics(sliced[key], high_frequency_share, served_in[key])
        if then_by:
            found[key]["groups"] = groups(
                sliced[key], then_by, tz, high_frequency_share, served=served_in[key]
            )
    return found


# ---- the service ----------------------------------------------------------------------

COLUMNS = (
    "ticket_id",
    "channel",
    "type",
    "category",
    "priority",
    "assignee",
    "team",
    "status",
    "paused_at",
    "received_at",
    "first_response_at",
    "first_closed_at",
    "resolution_seconds",
    "reopens",
    "escalations",
    "score",
    "sla_on_time",
    "sla_breached",
    "number",
    "last_closed_at",
    "demand",
    "mood",
    "dimensions",
    "policy_version",
)


class StatsService:
    def __init__(self, db: ReadDB, policy: Policy, clock: Callable[[], datetime]) -> None:
        self.db, self.policy, self.clock = db, policy, clock

    def stats(self, q: StatsQuery) -> dict:
        now = self.clock()
        facts, served = self.facts(q.from_, q.to, now), self.self_served(q.from_, q.to)
        share = self.policy.stats.high_frequency_share
        stats: dict[str, Any] = {
            "period": {
                "from": q.from_ and q.from_.isoformat(),
                "to": q.to and q.to.isoformat(),
                "as_of": now.isoformat(),
            },
            **metrics(facts, share, served),
        }
        wanted = self.policy.goals.model_dump()
        stats["goals"] = goals(stats, wanted)
        tz = self.policy.business_calendar.tz
        stats["closed_by_day"] = closed_by_day(facts, tz)
        if q.group_by:
            stats["groups"] = groups(facts, q.group_by, tz, share, q.then_by, served)
        return {"ok": True, "stats": stats}

    def self_served(self, start: datetime | None, end: datetime | None) -> list[SelfServed]:
        """The consultations solved by an article without a ticket, in [start, end)."""
        where, params = ["solved = 1"], list[str]()
        if start:
            where.append("at >= ?")
            params.append(utc_text(start))
        if end:
            where.append("at < ?")
            params.append(utc_text(end))
        with self.db.transaction(write=False) as tx:
            rows = tx.execute(
                f"SELECT channel, category, at FROM {SELF_SERVICE} WHERE {' AND '.join(where)}",
                params,
            ).fetchall()
        return [SelfServed(ch, cat, datetime.fromisoformat(at)) for ch, cat, at in rows]

    def facts(self, start: datetime | None, end: datetime | None, now: datetime) -> list[Facts]:
        where, params = ["1=1"], list[str]()
        if start:
            where.append("t.received_at >= ?")
            params.append(utc_text(start))
        if end:
            where.append("t.received_at < ?")
            params.append(utc_text(end))
        period = " AND ".join(where)
        with self.db.transaction(write=False) as tx:
            rows = tx.execute(
                f"SELECT {', '.join('t.' + c for c in COLUMNS)} FROM {TICKETS} t WHERE {period}",
                params,
            ).fetchall()
            targets = tx.execute(
                f"SELECT s.ticket_id, s.due, s.met_at FROM {TARGETS} s JOIN "
                f"{TICKETS} t ON t.ticket_id = s.ticket_id WHERE "
                f"s.due IS NOT NULL AND {period}",
                params,
            ).fetchall()
        live: dict[str, list[tuple[str, str | None]]] = defaultdict(list)
        for ticket_id, due, met_at in targets:
            live[ticket_id].append((due, met_at))
        as_of = utc_text(now)
        return [_facts(dict(zip(COLUMNS, row, strict=True)), live[row[0]], as_of) for row in rows]


def _facts(row: dict[str, Any], targets: list[tuple[str, str | None]], now: str) -> Facts:
    """A row and its running targets, judged now (or when its wait on the customer began)."""
    received = datetime.fromisoformat(row["received_at"])
    first_response = row["first_response_at"] and datetime.fromisoformat(row["first_response_at"])
    outcomes = [judge(due, met_at, row["paused_at"] or now) for due, met_at in targets]
    on_time = row["sla_on_time"] + outcomes.count(True)
    return Facts(
        channel=row["channel"],
        type=row["type"],
        category=row["category"],
        priority=row["priority"],
        assignee=row["assignee"],
        team=row["team"],
        status=row["status"],
        received_at=received,
        first_response_seconds=(
            max((first_response - received).total_seconds(), 0.0) if first_response else None
        ),
        resolution_seconds=row["resolution_seconds"],
        closed_once=row["first_closed_at"] is not None,
        reopens=int(row["reopens"]),
        escalations=int(row["escalations"]),
        score=None if row["score"] is None else int(row["score"]),
        sla_on_time=on_time,
        sla_judged=on_time + row["sla_breached"] + outcomes.count(False),
        ticket_id=row["ticket_id"],
        number=row["number"],
        closed_at=row["last_closed_at"] and datetime.fromisoformat(row["last_closed_at"]),
        demand=row["demand"],
        mood=row["mood"],
        dimensions=json.loads(row["dimensions"]) if row["dimensions"] else None,
        policy_version=row["policy_version"] or "unknown",
    )
