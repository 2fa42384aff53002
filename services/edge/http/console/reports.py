"""The statistics, ticket-list and audit pages: their URL parameters (validated with
pydantic, so a bad one is answered with its reason), the queries they ask, and what
they show. Pure: parameters in, queries out; replies in, figures out.

Dates in the URL (`from`, `to`, `closed_from`, `closed_to`) are days in the policy's
time zone, both ends included: `from=2026-11-01&to=2026-11-30` is November, asked as
[11-01 00:00, 12-01 00:00). Every figure on /stats carries the link to the tickets
behind it (`/tickets?...`, the same period and the filters that pick them) and how
many tickets that list holds: a count's own tickets, a rate's denominator (its
numerator is a figure of its own), the tickets behind a percentile.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Annotated, Any, TypeVar, get_args
from urllib.parse import urlencode

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    model_validator,
)

from services.edge.http.console.charts import Bar, columns, meters
from services.readside.audit import AuditQuery
from services.readside.stats import NONE, GroupBy, StatsQuery
from services.readside.tickets import TicketFilters, TicketsQuery

PAGE = 100  # rows a page of /tickets or /audit shows
DEFAULT_DAYS = 30  # /stats without a period: the last 30 days, today included
MAX_DAYS = 366  # /stats draws a bar per day: a year at most
FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2998, 12, 31)
GROUPS: tuple[str, ...] = get_args(GroupBy)
PRIORITIES = ("urgent", "high", "normal", "low", NONE)
UUID_TEXT = re.compile(r"[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}")
Model = TypeVar("Model", bound=BaseModel)


def _day_text(value: Any) -> Any:
    if isinstance(value, date) or (
        isinstance(value, str) and re.fullmatch(r"\d{4}-\d\d-\d\d", value, re.ASCII)
    ):
        return value
    raise ValueError("expected a date, YYYY-MM-DD")


def _day_in_range(day: date) -> date:
    if not FIRST_DAY <= day <= LAST_DAY:
        raise ValueError(f"a date from {FIRST_DAY} to {LAST_DAY}")
    return day


def _plain(text: str) -> str:
    if any(c < " " or "\x7f" <= c <= "\x9f" for c in text):
        raise ValueError("contains a control character")
    return text


Day = Annotated[date, BeforeValidator(_day_text), AfterValidator(_day_in_range)]
Text = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_plain)]


class Period(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_: Day | None = Field(default=None, alias="from")
    to: Day | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Period:
        if self.from_ and self.to and self.from_ > self.to:
            raise ValueError("`from` must not be after `to`")
        return self


class StatsParams(Period):
    """/stats: a period (default the last 30 days on the service's clock, given to
    validation as `context={"today": ...}`) and what the table is grouped by."""

    group_by: GroupBy = "type"

    @model_validator(mode="after")
    def _period(self, info: ValidationInfo) -> StatsParams:
        today: date = (info.context or {}).get("today") or date.today()
        if self.to is None:
            self.to = max(today, self.from_) if self.from_ else today
        if self.from_ is None:
            self.from_ = max(self.to - timedelta(days=DEFAULT_DAYS - 1), FIRST_DAY)
        if (self.to - self.from_).days + 1 > MAX_DAYS:
            raise ValueError(f"the period is longer than {MAX_DAYS} days")
        return self


class ListParams(TicketFilters, Period):
    """/tickets: the `tickets` query's facets and flags, with days for times."""

    closed_from: Day | None = None
    closed_to: Day | None = None
    page: Annotated[int, Field(ge=1, le=100_000)] = 1
    limit: Annotated[int, Field(ge=1, le=500)] = PAGE


class AuditParams(Period):
    """/audit: a ticket (number or id), an actor, days, and the page's cursor."""

    ticket: Text | None = None
    actor: Text | None = None
    after: Annotated[int, Field(ge=0)] | None = None
    limit: Annotated[int, Field(ge=1, le=500)] = PAGE


def parse(model: type[Model], params: Mapping[str, str], **context: Any) -> Model:
    """The page's parameters; an empty one (a form's blank field) is no parameter.
    Raises pydantic's ValidationError, naming the parameter, for a bad one."""
    given = {key: value for key, value in params.items() if value != ""}
    return model.model_validate(given, context=context)


def start_of(day: date, tz: tzinfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=tz)


def end_of(day: date, tz: tzinfo) -> datetime:
    """The first moment after the day: the period's excluded end."""
    return start_of(day + timedelta(days=1), tz)


def link(path: str = "/tickets", **params: Any) -> str:
    """A URL with `params` (None left out, True/False as true/false, days as ISO)."""
    shown = {
        key: ("true" if v is True else "false" if v is False else str(v))
        for key, v in params.items()
        if v is not None
    }
    return f"{path}?{urlencode(shown)}" if shown else path


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f} %"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


@dataclass(frozen=True)
class Figure:
    """A number on /stats: its text and the tickets behind it (`href` None: no data).
    `unit` says what the text counts when that is not tickets (target instances,
    escalations): its list then holds the tickets they belong to."""

    text: str
    href: str | None
    tickets: int
    unit: str = ""


# ---- /stats ---------------------------------------------------------------------------


def stats_queries(p: StatsParams, tz: tzinfo, actor: dict) -> dict[str, StatsQuery]:
    """The `stats` questions the page asks: by day (the chart and the totals), by
    priority and by team (SLA), and by the chosen grouping (the table)."""
    assert p.from_ is not None and p.to is not None
    bounds = {"from": start_of(p.from_, tz), "to": end_of(p.to, tz)}
    wanted = dict.fromkeys(("day", "priority", "team", p.group_by))
    return {
        name: StatsQuery.model_validate({**bounds, "group_by": name, "actor": actor})
        for name in wanted
    }


def self_service(s: dict[str, Any], fig: Callable[..., Figure]) -> dict[str, Figure]:
    """The self-service rate: its solved reports are no tickets (no list behind them);
    the consultation tickets beside them are."""
    consultations, served = s["by_type"].get("consultation", 0), s["self_served"]
    rate = s["self_service_rate"]
    return {
        "rate": Figure(percent(rate), None, 0),
        "solved": Figure(str(served), None, 0),
        "whole": Figure(str(served + consultations), None, 0),
        "consultations": fig(consultations, consultations, type="consultation"),
    }


def group_filters(group_by: str, key: str, p: Period) -> dict[str, Any]:
    """The /tickets filters of one group: a facet, or the days of a day, week or month
    (within the period)."""
    if group_by not in ("day", "week", "month"):
        return {group_by: key}
    if group_by == "day":
        first = last = date.fromisoformat(key)
    elif group_by == "week":
        iso_year, iso_week = key.split("-W")
        first = date.fromisocalendar(int(iso_year), int(iso_week), 1)
        last = first + timedelta(days=6)
    else:
        year, month = map(int, key.split("-"))
        first = date(year, month, 1)
        last = date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)
    return {"from": max(first, p.from_ or first), "to": min(last, p.to or last)}


def _days(p: StatsParams, extra: Sequence[str]) -> list[str]:
    assert p.from_ is not None and p.to is not None
    days = {(p.from_ + timedelta(days=i)).isoformat() for i in range((p.to - p.from_).days + 1)}
    return sorted(days | set(extra))


def _keys(groups: Mapping[str, Any], order: Sequence[str] = ()) -> list[str]:
    """Groups in `order` first, then by name, the missing value last."""
    rank = {key: i for i, key in enumerate(order)}
    return sorted(groups, key=lambda k: (k == NONE, rank.get(k, len(rank)), k))


def stats_view(replies: Mapping[str, dict], p: StatsParams, w: Mapping[str, str]) -> dict[str, Any]:
    """Everything /stats shows, each number a Figure linked to its tickets."""
    s = replies["day"]["stats"]
    period = {"from": p.from_, "to": p.to}

    def fig(value: Any, tickets: int, text: str | None = None, /, **filters: Any) -> Figure:
        if value is None:
            return Figure("—", None, 0)
        return Figure(text or str(value), link(**{**period, **filters}), tickets)

    def other(value: int, unit: str, tickets: int, **filters: Any) -> Figure:
        """A count of something else than tickets, linked to the tickets it is of."""
        return Figure(str(value), link(**{**period, **filters}), tickets, unit)

    def rate(value: float | None, tickets: int, **filters: Any) -> Figure:
        return fig(value, tickets, percent(value), **filters)

    counts = [
        ("tickets_total", fig(s["tickets"], s["tickets"])),
        ("open", fig(s["open"], s["open"], status="open")),
        ("closed_now", fig(s["closed"], s["closed"], status="closed")),
    ]

    created = {day: g["tickets"] for day, g in s["groups"].items()}
    closed = s["closed_by_day"]
    per_day: list[dict[str, Any]] = []
    slots: list[tuple[str, list[Bar]]] = []
    for day in _days(p, list(closed)):
        n, m = created.get(day, 0), closed.get(day, 0)
        made = fig(n, n, **{"from": day, "to": day})
        done = fig(m, m, closed_from=day, closed_to=day)
        per_day.append({"day": day, "created": made, "closed": done})
        bars = [
            Bar(n, f"{day} {w['created']}: {n}", made.href, "created"),
            Bar(m, f"{day} {w['closed_on_day']}: {m}", done.href, "closed"),
        ]
        slots.append((day[5:], bars))
    per_day_chart = columns(slots, title=w["per_day"], empty=w["no_data"])

    def sla_rows(by: str, order: Sequence[str] = ()) -> list[dict[str, Any]]:
        groups = replies[by]["stats"]["groups"]
        rows = []
        for key in _keys(groups, order):
            g = groups[key]
            judged, late = g["sla_tickets"]["judged"], g["sla_tickets"]["breached"]
            on_time, missed = g["sla_targets"]["on_time"], g["sla_targets"]["breached"]
            rows.append(
                {
                    "key": key,
                    "compliance": rate(g["sla_compliance"], judged, sla_judged=True, **{by: key}),
                    "on_time": other(on_time, "targets", judged, sla_judged=True, **{by: key}),
                    "late": other(missed, "targets", late, breached=True, **{by: key}),
                    "late_tickets": fig(late, late, breached=True, **{by: key}),
                    "value": g["sla_compliance"],
                }
            )
        return rows

    def sla_chart(rows: list[dict[str, Any]], title: str) -> Any:
        bars = [
            (
                r["key"],
                Bar(
                    r["value"],
                    f"{r['key']}: {r['compliance'].text} ({r['on_time'].text} {w['on_time']}, "
                    f"{r['late'].text} {w['late']})",
                    r["compliance"].href,
                    "sla",
                    r["compliance"].text,
                ),
            )
            for r in rows
        ]
        return meters(bars, title=title, empty=w["no_data"])

    by_priority, by_team = sla_rows("priority", PRIORITIES), sla_rows("team")
    judged, late = s["sla_tickets"]["judged"], s["sla_tickets"]["breached"]
    sla = {
        "compliance": rate(s["sla_compliance"], judged, sla_judged=True),
        "on_time": other(s["sla_targets"]["on_time"], "targets", judged, sla_judged=True),
        "late": other(s["sla_targets"]["breached"], "targets", late, breached=True),
        "late_tickets": fig(late, late, breached=True),
        "by_priority": by_priority,
        "by_team": by_team,
        "priority_chart": sla_chart(by_priority, w["sla_by_priority"]),
        "team_chart": sla_chart(by_team, w["sla_by_team"]),
    }

    times = []
    for key, flag in (("first_response_seconds", "responded"), ("resolution_seconds", "resolved")):
        t = s[key]
        times.append(
            {
                "key": key,
                "p50": fig(t["p50"], t["count"], duration(t["p50"]), **{flag: True}),
                "p90": fig(t["p90"], t["count"], duration(t["p90"]), **{flag: True}),
                "avg": fig(t["avg"], t["count"], duration(t["avg"]), **{flag: True}),
                "measured": fig(t["count"], t["count"], **{flag: True}),
            }
        )

    closed_once, ratings = s["closed_once"], s["ratings"]
    fcr_goal, csat_goal = s["goals"]["fcr_rate"]["goal"], s["goals"]["csat"]["goal"]
    quality: dict[str, Any] = {
        "fcr": {
            "rate": rate(s["fcr_rate"], closed_once, closed_once=True),
            "part": fig(s["first_contact"], s["first_contact"], first_contact=True),
            "whole": fig(closed_once, closed_once, closed_once=True),
            "goal": percent(fcr_goal),
            "met": bool(s["goals"]["fcr_rate"]["met"]),
        },
        "csat": {
            "rate": rate(s["csat"], ratings, rated=True),
            "part": fig(s["satisfied"], s["satisfied"], satisfied=True),
            "whole": fig(ratings, ratings, rated=True),
            "low": fig(ratings - s["satisfied"], ratings - s["satisfied"], rated_low=True),
            "goal": percent(csat_goal),
            "met": bool(s["goals"]["csat"]["met"]),
        },
        "reopen": {
            "rate": rate(s["reopen_rate"], closed_once, closed_once=True),
            "part": fig(s["reopened"], s["reopened"], closed_once=True, reopened=True),
            "whole": fig(closed_once, closed_once, closed_once=True),
        },
        "escalations": other(s["escalations"], "escalations", s["escalated"], escalated=True),
        "escalated": fig(s["escalated"], s["escalated"], escalated=True),
        "self_service": self_service(s, fig),
    }
    q = quality
    goals = (  # (label, the rate in the reply, its figures, the goal it is held to)
        ("fcr", "fcr_rate", "fcr", (fcr_goal,)),
        ("csat", "csat", "csat", (csat_goal,)),
        ("reopen_rate", "reopen_rate", "reopen", ()),
    )
    quality_chart = meters(
        [
            (
                w[label],
                Bar(
                    s[rate],
                    _said(w[label], q[key]),
                    q[key]["rate"].href,
                    key,
                    q[key]["rate"].text,
                    *goal,
                ),
            )
            for label, rate, key, goal in goals
        ],
        title=w["quality"],
        empty=w["no_data"],
    )

    frequent = [
        {
            "category": item["category"],
            "count": fig(item["count"], item["count"], category=item["category"]),
            "share": fig(
                item["share"],
                item["count"],
                percent(item["share"]),
                **{"category": item["category"]},
            ),
        }
        for item in s["high_frequency"]
    ]

    groups = replies[p.group_by]["stats"]["groups"]
    order = PRIORITIES if p.group_by == "priority" else ()
    table = []
    for key in _keys(groups, order):
        g, f = groups[key], group_filters(p.group_by, key, p)
        table.append(
            {
                "key": key,
                "tickets": fig(g["tickets"], g["tickets"], **f),
                "open": fig(g["open"], g["open"], status="open", **f),
                "closed": fig(g["closed"], g["closed"], status="closed", **f),
                "sla": rate(g["sla_compliance"], g["sla_tickets"]["judged"], sla_judged=True, **f),
                "fcr": rate(g["fcr_rate"], g["closed_once"], closed_once=True, **f),
                "csat": rate(g["csat"], g["ratings"], rated=True, **f),
                "reopen": rate(g["reopen_rate"], g["closed_once"], closed_once=True, **f),
                "escalations": other(
                    g["escalations"], "escalations", g["escalated"], escalated=True, **f
                ),
            }
        )

    return {
        "params": p,
        "groups": GROUPS,
        "as_of": s["period"]["as_of"],
        "counts": counts,
        "per_day": per_day,
        "per_day_chart": per_day_chart,
        "sla": sla,
        "times": times,
        "quality": quality,
        "quality_chart": quality_chart,
        "frequent": frequent,
        "table": table,
    }


def _said(name: str, figures: Mapping[str, Any]) -> str:
    """A rate in words: `First-contact resolution: 66.7 % (2 / 3), goal 85.0 %`."""
    goal = f", ≥ {figures['goal']}" if "goal" in figures else ""
    return (
        f"{name}: {figures['rate'].text} ({figures['part'].text} / {figures['whole'].text}){goal}"
    )


# ---- /tickets -------------------------------------------------------------------------


def list_query(p: ListParams, tz: tzinfo, actor: dict) -> TicketsQuery:
    filters = p.model_dump(exclude_none=True, include=set(TicketFilters.model_fields))
    times = {
        "from": p.from_ and start_of(p.from_, tz),
        "to": p.to and end_of(p.to, tz),
        "closed_from": p.closed_from and start_of(p.closed_from, tz),
        "closed_to": p.closed_to and end_of(p.closed_to, tz),
    }
    given = {key: value for key, value in times.items() if value is not None}
    return TicketsQuery.model_validate(
        {**filters, **given, "page": p.page, "limit": p.limit, "actor": actor}
    )


def list_view(reply: dict, p: ListParams) -> dict[str, Any]:
    asked = p.model_dump(exclude_none=True, by_alias=True, exclude={"page", "limit"})
    kept = {**asked, **({"limit": p.limit} if p.limit != PAGE else {})}
    pages = reply["pages"]
    return {
        "params": p,
        "filters": [(key, value) for key, value in asked.items()],
        "rows": [
            {
                **r,
                "first_response": duration(r["first_response_seconds"]),
                "resolution": duration(r["resolution_seconds"]),
            }
            for r in reply["tickets"]
        ],
        "count": reply["count"],
        "page": p.page,
        "pages": pages,
        "previous": link(**kept, page=p.page - 1) if p.page > 1 else None,
        "next": link(**kept, page=p.page + 1) if p.page < pages else None,
        "stats": link("/stats", **{"from": p.from_, "to": p.to}),
    }


# ---- /audit ---------------------------------------------------------------------------

SAID = (
    "assignee",
    "level",
    "type",
    "category",
    "priority",
    "visibility",
    "score",
    "note",
    "next_step",
    "resolution",
    "reason",
    "comment",
)
DESCRIPTION_CHARS = 160


def audit_query(p: AuditParams, tz: tzinfo, actor: dict) -> AuditQuery:
    q: dict[str, Any] = {"limit": p.limit, "after": p.after, "actor": actor}
    if p.ticket:
        q["ticket_id" if UUID_TEXT.fullmatch(p.ticket) else "number"] = p.ticket
    if p.actor:
        q["actor_id"] = p.actor
    if p.from_:
        q["from"] = start_of(p.from_, tz)
    if p.to:
        q["to"] = end_of(p.to, tz)
    return AuditQuery.model_validate(q)


def first_line(value: Any) -> str:
    lines = [line.strip() for line in str(value).splitlines()]
    return next((line for line in lines if line), "")


def describe(kind: str, data: Mapping[str, Any]) -> str:
    """An event in one short line of plain text (the page escapes it)."""
    parts = []
    if kind == "Received":
        said = data.get("subject") or data.get("content") or ""
        parts.append(f"{data.get('channel') or '?'}: {first_line(said)}")
    for key in SAID:
        value = data.get(key)
        if value not in (None, "", [], {}):
            parts.append(f"{key}: {first_line(value)}")
    text = " · ".join(parts)
    return text if len(text) <= DESCRIPTION_CHARS else text[: DESCRIPTION_CHARS - 1] + "…"


def local_second(text: str, tz: tzinfo) -> str:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")


def audit_view(reply: dict, p: AuditParams, tz: tzinfo) -> dict[str, Any]:
    asked = p.model_dump(exclude_none=True, by_alias=True, exclude={"after", "limit"})
    kept = {**asked, **({"limit": p.limit} if p.limit != PAGE else {})}
    rows = [
        {
            "sequence": e["sequence"],
            "time": e["time"],
            "local": local_second(e["time"], tz),
            "number": e["number"],
            "ticket_id": e["ticket_id"],
            "actor": e["actor_id"] or "—",
            "role": e["actor_role"] or "",
            "event": e["event_type"],
            "status": e["status_after"] or "",
            "what": describe(e["event_type"], e["data"] or {}),
        }
        for e in reply["events"]
    ]
    return {
        "params": p,
        "page_size": PAGE,
        "rows": rows,
        "first": link("/audit", **kept) if p.after is not None else None,
        "next": link("/audit", **kept, after=reply["next"]) if reply["next"] is not None else None,
    }
