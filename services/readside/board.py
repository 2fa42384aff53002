"""The `board` query: the queue and SLA board, one row per open ticket, soonest due first.

Served from the SLA view's board columns (projections.sla), so it counts and filters in
SQL: a target's state at a moment is a comparison with the instants stored for it,
never a calendar computation per row. A ticket waiting on the customer is judged at
the moment its clock stopped.

A row's state is its next due target's: `breached` (past due and still running),
`at_risk` (a running target has used 80 % of its time), `on_track`, or none when no
target runs. The counts are of the tickets the filters select, every state together
(so each count reads as a tab): `open`, `unassigned`, `at_risk`, `breached_open` (a
target is past due and still running) and `breached` (that, or a target was met late).

An agent or a supervisor the policy's directory lists sees their team's (or teams')
queue, the shared queue and the tickets assigned to them (domain.team_scope); every
other role sees every ticket.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from domain.classifier import TYPES
from domain.policy import Policy
from domain.priority import PRIORITIES
from domain.team_scope import teams_of
from infra.readdb import ReadDB
from projections.base import utc_text
from services.application.messages import CHANNELS, Actor, Name
from services.readside.sla import in_teams

PAGE = 100  # rows a page holds
State = Literal["on_track", "at_risk", "breached"]

AT = "COALESCE(paused_utc, ?)"  # the moment a ticket is judged at: now, or its pause
STATE_SQL = {
    "breached": f"next_due <= {AT}",
    "at_risk": f"next_due > {AT} AND next_at_risk <= {AT}",
    "on_track": f"next_due > {AT} AND (next_at_risk IS NULL OR next_at_risk > {AT})",
}
COUNTS = f"""SELECT COUNT(*),
    SUM(CASE WHEN assignee IS NULL THEN 1 ELSE 0 END),
    SUM(CASE WHEN next_due <= {AT} THEN 0 WHEN next_at_risk <= {AT} THEN 1 ELSE 0 END),
    SUM(CASE WHEN next_due <= {AT} THEN 1 ELSE 0 END),
    SUM(CASE WHEN next_due <= {AT} OR late = 1 THEN 1 ELSE 0 END)
    FROM sla_tickets"""
ROWS = f"""SELECT number, ticket_id, summary, channel, type, category, priority, impact,
    assignee, status, next_target, next_due, paused_utc,
    CASE WHEN next_due <= {AT} THEN 'breached' WHEN next_at_risk <= {AT} THEN 'at_risk'
         WHEN next_due IS NOT NULL THEN 'on_track' END
    FROM sla_tickets"""
ROW_KEYS = (
    "number",
    "ticket_id",
    "summary",
    "channel",
    "type",
    "category",
    "priority",
    "impact",
    "assignee",
    "status",
    "target",
    "due",
    "paused_at",
    "state",
)
ORDER = " ORDER BY CASE WHEN next_due IS NULL THEN 1 ELSE 0 END, next_due, number"


class BoardQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mine: bool = False  # assigned to the actor
    my_team: bool = False  # in the actor's team's queue (the directory says their team)
    team: Name | None = None  # in this team's queue (or assigned to one of its agents)
    unassigned: bool = False
    assignee: Name | None = None
    priority: Literal["urgent", "high", "normal", "low"] | None = None
    type: Literal["consultation", "complaint", "suggestion", "technical", "other"] | None = None
    channel: Literal["phone", "chat", "email", "app", "web", "monitoring", "internal"] | None = None
    category: Name | None = None  # `billing` takes `billing/refund` too
    state: State | None = None
    page: Annotated[int, Field(ge=1, le=100_000)] = 1
    actor: Actor | None = None


class BoardService:
    def __init__(self, db: ReadDB, policy: Policy, clock: Callable[[], datetime]) -> None:
        self.db, self.policy, self.clock = db, policy, clock
        self.teams = {a.id: a.team for a in policy.agents}

    def open_load(self) -> dict[str, int]:
        """Each assignee's open tickets, as the SLA view knows them (every instance's
        assignments, and those made before a restart)."""
        with self.db.transaction(write=False) as tx:
            rows = tx.execute(
                "SELECT assignee, COUNT(*) FROM sla_tickets WHERE closed_at IS NULL "
                "AND assignee IS NOT NULL GROUP BY assignee"
            ).fetchall()
        return {assignee: int(n) for assignee, n in rows}

    def open_tickets(self) -> list[str]:
        """The ids of the tickets the SLA view has open, oldest first."""
        with self.db.transaction(write=False) as tx:
            rows = tx.execute(
                "SELECT ticket_id FROM sla_tickets WHERE closed_at IS NULL "
                "ORDER BY received_at, ticket_id"
            ).fetchall()
        return [row[0] for row in rows]

    def board(self, q: BoardQuery) -> dict[str, Any]:
        now = self.clock()
        at = utc_text(now)
        where, params = self._where(q)
        state_sql = STATE_SQL[q.state] if q.state else "1=1"
        state_params = [at] * state_sql.count("?")
        with self.db.transaction(write=False) as tx:
            counted = tx.execute(f"{COUNTS} WHERE {where}", [at] * COUNTS.count("?") + params)
            counted = counted.fetchone()
            total = tx.execute(
                f"SELECT COUNT(*) FROM sla_tickets WHERE {where} AND {state_sql}",
                params + state_params,
            ).fetchone()[0]
            pages = max(1, -(-total // PAGE))
            page = min(q.page, pages)
            rows = tx.execute(
                f"{ROWS} WHERE {where} AND {state_sql}{ORDER} LIMIT {PAGE} OFFSET ?",
                [at] * ROWS.count("?") + params + state_params + [(page - 1) * PAGE],
            ).fetchall()
        keys = ("open", "unassigned", "at_risk", "breached_open", "breached")
        return {
            "ok": True,
            "now": now.isoformat(),
            "counts": {k: int(v or 0) for k, v in zip(keys, counted, strict=True)},
            "total": total,
            "page": page,
            "pages": pages,
            "page_size": PAGE,
            "rows": [dict(zip(ROW_KEYS, row, strict=True)) for row in rows],
        }

    def _where(self, q: BoardQuery) -> tuple[str, list[Any]]:
        where: list[str] = ["closed_at IS NULL"]
        params: list[Any] = []
        me = q.actor.id if q.actor else None
        mine = (
            sorted(teams_of(self.policy.agents, self.policy.teams, q.actor.value()))
            if q.actor
            else []
        )
        if mine:  # their scope only
            any_of = " OR ".join([IN_TEAMS] * len(mine))
            where.append(f"(assignee = ? OR teams = '' OR {any_of})")
            params += [me, *(in_teams(team) for team in mine)]
        if q.mine:
            where.append("assignee = ?")
            params.append(me or "")
        for team in filter(None, (q.team, q.my_team and self.teams.get(me or "", "-"))):
            members = [agent for agent, theirs in self.teams.items() if theirs == team]
            held = " OR ".join(["assignee = ?"] * len(members))
            where.append(f"({IN_TEAMS}{' OR ' + held if held else ''})")
            params += [in_teams(str(team)), *members]
        if q.unassigned:
            where.append("assignee IS NULL")
        if q.assignee:
            where.append("assignee = ?")
            params.append(q.assignee)
        for key in ("priority", "type", "channel"):
            if value := getattr(q, key):
                where.append(f"{key} = ?")
                params.append(value)
        if q.category:
            where.append("(category = ? OR substr(category, 1, ?) = ?)")
            params += [q.category, len(q.category) + 1, q.category + "/"]
        return " AND ".join(where), params


IN_TEAMS = "teams LIKE ? ESCAPE '!'"  # `teams` is `,a,b,`


FILTER_CHOICES = {  # what the board's filter controls offer
    "priority": PRIORITIES,
    "type": TYPES,
    "channel": CHANNELS,
    "state": ("breached", "at_risk", "on_track"),
}
