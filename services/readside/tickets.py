"""The `tickets` query (an extension): the tickets behind a `stats` figure, a page at a
time, newest first.

It reads the same rows as `stats` (`StatsService.facts`), judged at the same moment,
and narrows them with the same definitions, so a list holds exactly the tickets a
figure counts:
- the period: tickets received in [`from`, `to`);
- facets: `type`, `category`, `priority`, `channel`, `agent` (the last assignee),
  `team` (the last assignee's), `demand`, `mood`, `policy_version` (the policy that
  set the targets; `"unknown"` before versions), each `"none"` for a missing value as
  in `stats`;
  `status` `open` (not closed now) or `closed` (closed now); `closed_from`/`closed_to`:
  closed now, the last close in [`closed_from`, `closed_to`) (`closed_by_day`);
- flags, each true (the ticket has it) or false (it has not): `responded` (a first
  response), `resolved` (a resolution time), `closed_once`, `first_contact` (closed at
  least once, never reopened nor escalated), `reopened`, `escalated`, `rated`,
  `satisfied` (last rating 4 or 5), `rated_low` (last rating below 4), `sla_judged`
  (at least one SLA target instance judged), `breached` (at least one judged late).

The reply `{"ok": true, "as_of", "count", "page", "pages", "tickets": [...]}`: `count`
tickets match; each row is a ticket's facts with its SLA instances judged as of `as_of`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import to_jsonable_python

from services.application.messages import Actor, QueryKey, QueryTime
from services.readside.stats import FIELD_OF, NONE, Facts, StatsService, first_contact, late

Facet = Annotated[QueryKey, Field(min_length=1, max_length=200)]
FACETS = FIELD_OF  # the query's facet -> the field of Facts it compares (`"none"`: no value)
FLAGS: dict[str, Callable[[Facts], bool]] = {
    "responded": lambda f: f.first_response_seconds is not None,
    "resolved": lambda f: f.resolution_seconds is not None,
    "closed_once": lambda f: f.closed_once,
    "first_contact": first_contact,
    "reopened": lambda f: f.reopens > 0,
    "escalated": lambda f: f.escalations > 0,
    "rated": lambda f: f.score is not None,
    "satisfied": lambda f: f.score is not None and f.score >= 4,
    "rated_low": lambda f: f.score is not None and f.score < 4,
    "sla_judged": lambda f: f.sla_judged > 0,
    "breached": late,
}


class TicketFilters(BaseModel):
    """What narrows the list, besides the times: facets and flags."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    type: Facet | None = None
    category: Facet | None = None
    priority: Facet | None = None
    channel: Facet | None = None
    agent: Facet | None = None
    team: Facet | None = None
    demand: Facet | None = None
    mood: Facet | None = None
    policy_version: Facet | None = None
    status: Literal["open", "closed"] | None = None
    responded: bool | None = None
    resolved: bool | None = None
    closed_once: bool | None = None
    first_contact: bool | None = None
    reopened: bool | None = None
    escalated: bool | None = None
    rated: bool | None = None
    satisfied: bool | None = None
    rated_low: bool | None = None
    sla_judged: bool | None = None
    breached: bool | None = None


class TicketsQuery(TicketFilters):
    """The tickets behind a `stats` figure (see `services.readside.tickets`)."""

    from_: QueryTime | None = Field(default=None, alias="from")
    to: QueryTime | None = None
    closed_from: QueryTime | None = None
    closed_to: QueryTime | None = None
    page: Annotated[int, Field(ge=1, le=100_000)] = 1
    limit: Annotated[int, Field(ge=1, le=500)] = 100
    actor: Actor | None = None

    @model_validator(mode="after")
    def _ordered(self) -> TicketsQuery:
        if self.from_ and self.to and self.from_ >= self.to:
            raise ValueError("`from` must be before `to`")
        if self.closed_from and self.closed_to and self.closed_from >= self.closed_to:
            raise ValueError("`closed_from` must be before `closed_to`")
        return self


def matches(f: Facts, q: TicketsQuery) -> bool:
    """Whether the ticket is one the query's facets, closing times and flags name."""
    for facet, field in FACETS.items():
        wanted = getattr(q, facet)
        if wanted is not None and (getattr(f, field) or NONE) != wanted:
            return False
    if q.status is not None and (f.status == "closed") != (q.status == "closed"):
        return False
    if q.closed_from or q.closed_to:
        if f.status != "closed" or f.closed_at is None:
            return False
        if (q.closed_from and f.closed_at < q.closed_from) or (
            q.closed_to and f.closed_at >= q.closed_to
        ):
            return False
    return all(
        FLAGS[flag](f) == wanted for flag in FLAGS if (wanted := getattr(q, flag)) is not None
    )


def row(f: Facts) -> dict:
    return {
        "ticket_id": f.ticket_id,
        "number": f.number,
        "received_at": f.received_at,
        "channel": f.channel,
        "type": f.type,
        "category": f.category,
        "priority": f.priority,
        "agent": f.assignee,
        "team": f.team,
        "status": f.status,
        "closed_at": f.closed_at if f.status == "closed" else None,
        "first_response_seconds": f.first_response_seconds,
        "resolution_seconds": f.resolution_seconds,
        "reopens": f.reopens,
        "escalations": f.escalations,
        "score": f.score,
        "sla_on_time": f.sla_on_time,
        "sla_late": f.sla_judged - f.sla_on_time,
    }


class TicketList:
    def __init__(self, stats: StatsService) -> None:
        self.stats = stats

    def tickets(self, q: TicketsQuery) -> dict:
        now = self.stats.clock()
        found = [f for f in self.stats.facts(q.from_, q.to, now) if matches(f, q)]
        found.sort(key=lambda f: (f.received_at, f.number or "", f.ticket_id), reverse=True)
        shown = found[(q.page - 1) * q.limit : q.page * q.limit]
        return {
            "ok": True,
            "as_of": now.isoformat(),
            "count": len(found),
            "page": q.page,
            "pages": max(1, -(-len(found) // q.limit)),
            "tickets": to_jsonable_python([row(f) for f in shown]),
        }
