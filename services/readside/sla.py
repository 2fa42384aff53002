"""The `sla` query, served from the SLA view: open targets with their due time and state.

A target's state depends on the moment asked (and stands still while its ticket waits
on the customer), so it is computed here, on read, with the policy's calendar.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic_core import to_jsonable_python

from domain import sla as rules
from domain.policy import Policy
from domain.team_scope import teams_of
from infra.readdb import ReadDB
from services.application.messages import Actor, QueryKey

OPEN_TARGETS = """
    SELECT t.ticket_id, s.number, t.target, t.clock, t.duration, t.started_at, t.due,
           s.paused_at, s.priority, s.status, s.assignee, t.escalations
    FROM sla_targets t JOIN sla_tickets s ON s.ticket_id = t.ticket_id
    WHERE t.met_at IS NULL AND t.due IS NOT NULL"""


MAX_HORIZON = 100 * 366 * 86400  # seconds: a horizon of a century takes every target


class SlaQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    state: Literal["on_track", "at_risk", "breached"] | None = None
    due_within: Annotated[float, Field(ge=0, le=MAX_HORIZON)] | None = None
    ticket_id: QueryKey | None = None
    limit: Annotated[int, Field(ge=1, le=10_000)] = 1000
    actor: Actor | None = None


def in_teams(team: str) -> str:
    """A LIKE pattern for one team in the view's `teams` column (`,a,b,`)."""
    quoted = team.replace("!", "!!").replace("%", "!%").replace("_", "!_")
    return f"%,{quoted},%"


def _when(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


class SlaService:
    def __init__(self, db: ReadDB, policy: Policy, clock: Callable[[], datetime]) -> None:
        self.db, self.policy, self.clock = db, policy, clock

    def open_targets(
        self,
        ticket_id: str | None = None,
        due_before: datetime | None = None,
        actor: Actor | None = None,
        tickets: Sequence[str] = (),
    ) -> list[dict]:
        """`actor`: an agent or supervisor the policy lists sees their teams' queues, the
        shared queue and their own tickets (domain.team_scope), as on the board.
        `tickets`: only these tickets' targets (read in one transaction)."""
        sql: str = OPEN_TARGETS
        params: tuple[str, ...] = ()
        if ticket_id:
            sql, params = sql + " AND t.ticket_id = ?", (ticket_id,)
        mine = (
            sorted(teams_of(self.policy.agents, self.policy.teams, actor.value())) if actor else []
        )
        if mine:
            any_of = " OR ".join(["s.teams LIKE ? ESCAPE '!'"] * len(mine))
            sql += f" AND (s.assignee = ? OR s.teams = '' OR {any_of})"
            params += (actor.id if actor else "", *(in_teams(team) for team in mine))
        if due_before:  # the view stores UTC text in the stream's format: text order is time
            sql += " AND t.due <= ?"
            params += (due_before.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),)
        with self.db.transaction(write=False) as tx:
            if tickets:
                rows = tx.select_in(f"{sql} AND t.ticket_id IN", tickets, params)
            else:
                rows = tx.execute(sql, params).fetchall()
        keys = (
            "ticket_id",
            "number",
            "target",
            "clock",
            "duration",
            "started_at",
            "due",
            "paused_at",
            "priority",
            "status",
            "assignee",
            "escalations",
        )
        targets = []
        for row in rows:
            t = dict(zip(keys, row, strict=True))
            for key in ("started_at", "due", "paused_at"):
                t[key] = _when(t[key])
            targets.append(t)
        return targets

    def with_state(self, target: dict, now: datetime) -> dict:
        at = target["paused_at"] or now  # a paused clock stands still
        calendar, share = self.policy.business_calendar, self.policy.goals.at_risk_share
        return {**target, "state": rules.state(target, at, calendar, share)}

    def sla(self, q: SlaQuery) -> dict:
        now = self.clock()
        found = [self.with_state(t, now) for t in self.open_targets(q.ticket_id, actor=q.actor)]
        if q.state:
            found = [t for t in found if t["state"] == q.state]
        if q.due_within is not None:
            horizon = now + timedelta(seconds=q.due_within)
            found = [t for t in found if t["due"] <= horizon]
        found.sort(key=lambda t: t["due"])
        reply = [{k: v for k, v in t.items() if k != "escalations"} for t in found[: q.limit]]
        return {"ok": True, "now": now, "count": len(found), "targets": to_jsonable_python(reply)}
