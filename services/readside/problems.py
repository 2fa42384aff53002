"""The `problems` query: the problems as a list, newest first, served from
`projections.problems` (each with its linked tickets, its actions, and how many of
them are past their due date and not done)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from infra.readdb import ReadDB
from projections.base import utc_text
from services.application.messages import Actor, Name, QueryKey

LIST = """SELECT p.problem_id, p.number, p.title, p.category, p.status, p.opened_at,
    p.updated_at, p.root_cause, p.recurring,
    (SELECT COUNT(*) FROM problem_tickets t WHERE t.problem_id = p.problem_id),
    (SELECT COUNT(*) FROM problem_actions a WHERE a.problem_id = p.problem_id),
    (SELECT COUNT(*) FROM problem_actions a WHERE a.problem_id = p.problem_id
        AND a.status IN ('planned', 'in_progress') AND a.due < ?)
    FROM problems p"""
KEYS = (
    "problem_id",
    "number",
    "title",
    "category",
    "status",
    "opened_at",
    "updated_at",
    "root_cause",
    "recurring",
    "tickets",
    "actions",
    "overdue_actions",
)


class ProblemsQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Literal["open", "closed"] | None = None
    category: Name | None = None
    ticket_id: QueryKey | None = None  # the problems this ticket is linked to
    limit: Annotated[int, Field(ge=1, le=1000)] = 100
    actor: Actor | None = None


class ProblemsService:
    def __init__(self, db: ReadDB, clock: Callable[[], datetime]) -> None:
        self.db, self.clock = db, clock

    def problems(self, q: ProblemsQuery) -> dict[str, Any]:
        where, params = ["1=1"], [utc_text(self.clock())]
        if q.status:
            where.append("p.status = ?")
            params.append(q.status)
        if q.category:
            where.append("p.category = ?")
            params.append(q.category)
        if q.ticket_id:
            where.append(
                "p.problem_id IN (SELECT problem_id FROM problem_tickets WHERE ticket_id = ?)"
            )
            params.append(q.ticket_id)
        sql = f"{LIST} WHERE {' AND '.join(where)} ORDER BY p.opened_at DESC, p.number DESC"
        with self.db.transaction(write=False) as tx:
            rows = tx.execute(f"{sql} LIMIT {q.limit}", params).fetchall()
        found = [dict(zip(KEYS, row, strict=True)) for row in rows]
        for row in found:
            row["recurring"] = bool(row["recurring"])
        return {"ok": True, "count": len(found), "problems": found}
