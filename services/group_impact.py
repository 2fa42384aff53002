"""Group impact (SPEC §2): when a third customer reports the same category within 24 h,
all those tickets get impact `group`, are linked, and their priority follows the
urgency × impact matrix; an `ImpactRaised` event on each records it.

`ReportsByCategory` keeps who reported what and when (a projection of the stream);
`GroupImpact` looks at each newly classified ticket's category window and acts through
the application, so the store stays the truth and a replay changes nothing twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from uuid import UUID

from domain.calendar import parse_duration
from domain.errors import TicketError
from domain.priority import priority
from domain.sla import plan, select_rule
from domain.ticket import Ticket
from infra.readdb import ReadDB, Tx
from projections.base import Projection, event_kind
from services.desk import TicketDesk

log = logging.getLogger("ticketflow.group_impact")
SYSTEM = {"id": "group-impact", "role": "system"}
WIDER = {"individual": 0, "group": 1, "systemic": 2}


class ReportsByCategory(Projection):
    name = "reports"
    tables = ("""CREATE TABLE IF NOT EXISTS reports (
        ticket_id TEXT PRIMARY KEY, customer TEXT, received_at TEXT, category TEXT,
        impact TEXT, closed INTEGER NOT NULL DEFAULT 0)""",
              "CREATE INDEX IF NOT EXISTS reports_by_category ON reports (category, received_at)")
    table_names = ("reports",)

    def apply(self, tx: Tx, event: dict) -> None:
        kind, ticket, data = event_kind(event), event["subject"], event["data"]
        if kind == "Received":
            tx.execute("INSERT INTO reports (ticket_id, customer, received_at) VALUES (?, ?, ?) "
                       "ON CONFLICT (ticket_id) DO NOTHING",
                       (ticket, customer_key(data.get("customer") or {}, ticket),
                        data["received_at"]))
        elif kind in ("Classified", "ImpactRaised"):
            tx.execute("UPDATE reports SET category=COALESCE(?, category), impact=? "
                       "WHERE ticket_id=?", (data.get("category"), data["impact"], ticket))
        elif kind in ("Closed", "Reopened"):
            tx.execute("UPDATE reports SET closed=? WHERE ticket_id=?",
                       (int(kind == "Closed"), ticket))


def customer_key(customer: dict, ticket_id: str) -> str:
    """Who reported: the customer id, else their (masked) contact, else the ticket."""
    for key in ("customer_id", "phone", "email", "name"):
        if customer.get(key):
            return f"{key}:{customer[key]}"
    return f"ticket:{ticket_id}"


class GroupImpact:
    def __init__(self, desk: TicketDesk, db: ReadDB) -> None:
        self.desk, self.db = desk, db
        self.raised = 0
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._stopping = False

    def check(self, events: Sequence[dict]) -> None:
        for event in events:
            if event_kind(event) == "Classified":
                self._queue.put_nowait(event["subject"])

    def stop(self) -> None:
        self._stopping = True

    async def run(self) -> None:
        while not self._stopping:
            ticket_id = await self._queue.get()
            try:
                await asyncio.to_thread(self.examine, ticket_id)
            except Exception as error:
                log.error("group impact for %s failed: %s", ticket_id, error, exc_info=error)

    def examine(self, ticket_id: str) -> list[str]:
        """Raise the impact of the group `ticket_id` completes, if it completes one."""
        group = self._group_of(ticket_id)
        if len({customer for _, customer, _ in group}) < self.desk.policy.group_impact.customers:
            return []
        members = [t for t, _, _ in group]
        raised = [t for t in members if self._raise(t, members)]
        self.raised += len(raised)
        return raised

    def _group_of(self, ticket_id: str) -> list[tuple[str, str, str]]:
        rules = self.desk.policy.group_impact
        with self.db.transaction() as tx:
            row = tx.execute("SELECT category, received_at FROM reports WHERE ticket_id=?",
                             (ticket_id,)).fetchone()
            if not row or not row[0] or row[0] in rules.ignore_categories:
                return []
            category, received = row[0], datetime.fromisoformat(row[1])
            window = timedelta(seconds=parse_duration(rules.within).seconds)
            return [tuple(r) for r in tx.execute(
                "SELECT ticket_id, customer, received_at FROM reports WHERE category=? "
                "AND closed=0", (category,)).fetchall()
                if abs(datetime.fromisoformat(r[2]) - received) <= window]

    def _raise(self, ticket_id: str, members: list[str]) -> bool:
        policy = self.desk.policy
        others = [m for m in members if m != ticket_id]

        def act(t: Ticket) -> None:
            if WIDER.get(t.impact or "individual", 0) > WIDER["group"] or (
                    t.impact == "group" and set(others) <= set(t.linked)):
                raise _Unchanged
            impact = t.impact if t.impact == "systemic" else "group"
            level = priority(t.urgency or "normal", impact, policy.priority)
            facts = {"type": t.type, "category": t.category, "priority": level,
                     "urgency": t.urgency, "impact": impact, "channel": t.channel}
            now = self.desk.clock()
            sla = plan(select_rule(policy.sla, facts), received_at=t.received_at, now=now,
                       calendar=policy.business_calendar, previous=t.sla)
            t.raise_impact(impact=impact, priority=level, linked=others, sla=sla, at=now,
                           reason=f"{len(members)} customers reported {t.category}",
                           actor=SYSTEM)

        try:
            self.desk.change(UUID(ticket_id), act)
        except (_Unchanged, TicketError):
            return False
        return True


class _Unchanged(Exception):
    pass
