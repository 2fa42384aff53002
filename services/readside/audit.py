"""The `audit` query (an extension): page through the audit trail by ticket, actor, time."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from infra.readdb import ReadDB
from services.application.messages import MAX_INTEGER, Actor, QueryKey, QueryTime

COLUMNS = (
    "sequence",
    "ticket_id",
    "number",
    "version",
    "event_type",
    "actor_id",
    "actor_role",
    "time",
    "status_after",
    "data",
)


class AuditQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    ticket_id: QueryKey | None = None
    number: QueryKey | None = None
    actor_id: QueryKey | None = None
    from_: QueryTime | None = Field(default=None, alias="from")
    to: QueryTime | None = None
    after: Annotated[int, Field(ge=0, le=MAX_INTEGER)] | None = None  # the previous page's `next`
    limit: Annotated[int, Field(ge=1, le=500)] = 100
    actor: Actor | None = None


def _stamp(moment: datetime) -> str:
    """The stream's time format (UTC, microseconds, `Z`), so text order is time order."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class AuditService:
    def __init__(self, db: ReadDB) -> None:
        self.db = db

    def audit(self, q: AuditQuery) -> dict:
        where: list[str] = ["1=1"]
        params: list[object] = []
        for column, value in (
            ("ticket_id", q.ticket_id),
            ("number", q.number),
            ("actor_id", q.actor_id),
        ):
            if value:
                where.append(f"{column} = ?")
                params.append(value)
        if q.from_:
            where.append("time >= ?")
            params.append(_stamp(q.from_))
        if q.to:
            where.append("time < ?")
            params.append(_stamp(q.to))
        if q.after is not None:
            where.append("sequence > ?")
            params.append(q.after)
        sql = (
            f"SELECT {', '.join(COLUMNS)} FROM audit_events WHERE {' AND '.join(where)} "
            f"ORDER BY sequence LIMIT ?"
        )
        with self.db.transaction(write=False) as tx:
            rows = tx.execute(sql, (*params, q.limit + 1)).fetchall()
        page = [dict(zip(COLUMNS, row, strict=True)) for row in rows[: q.limit]]
        for entry in page:
            entry["data"] = json.loads(entry["data"])
        more = len(rows) > q.limit
        return {"ok": True, "events": page, "next": page[-1]["sequence"] if more else None}
