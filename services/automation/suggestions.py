"""Suggestions are batched monthly (docs/process.md "Suggestions").

When a month ends, every open suggestion received in it (or earlier, and not batched
yet) joins that month's batch: `SuggestionBatched` on each ticket (actor
`system/suggestion-batch`), which starts the feedback owed to the customer (`batched`,
15 working days by default). The product team reads the batch with `ticketflow report
suggestions --month`. The statistics view says which suggestions wait (the store
decides: a ticket closed or batched meanwhile is left be), so a restart or a second
instance batches nothing twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime, timedelta
from functools import partial
from uuid import UUID

from domain.actor import Actor
from domain.errors import TicketError
from domain.ticket import Ticket
from infra.readdb import ReadDB
from projections.base import utc_text
from services.application.desk import TicketDesk

log = logging.getLogger("ticketflow.suggestions")
BATCHER = Actor.system("suggestion-batch")
RECHECK = timedelta(hours=1)  # also catches suggestions the view took in late


def month_of(moment: datetime) -> str:
    return f"{moment.year}-{moment.month:02d}"


class _Skip(Exception):
    pass


class SuggestionBatches:
    def __init__(self, desk: TicketDesk, db: ReadDB) -> None:
        self.desk, self.db = desk, db
        self.batched = 0
        self._stopping = asyncio.Event()

    def this_month_start(self, now: datetime) -> datetime:
        local = now.astimezone(self.desk.policy.business_calendar.tz)
        return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)

    def batch_due(self) -> int:
        """Batch the open suggestions received before this month; how many joined."""
        now = self.desk.clock()
        tz = self.desk.policy.business_calendar.tz
        with self.db.transaction(write=False) as tx:
            rows = tx.execute(
                "SELECT ticket_id, received_at FROM stats_tickets WHERE type='suggestion' "
                "AND status <> 'closed' AND batch IS NULL AND received_at < ? "
                "ORDER BY received_at",
                (utc_text(self.this_month_start(now)),),
            ).fetchall()
        joined = 0
        for ticket_id, received_at in rows:
            batch = month_of(datetime.fromisoformat(received_at).astimezone(tz))
            try:
                self.desk.change(UUID(ticket_id), partial(self._add, batch=batch, now=now))
            except (_Skip, TicketError):
                continue
            joined += 1
        if joined:
            log.info("batched %d suggestions", joined)
        self.batched += joined
        return joined

    def _add(self, t: Ticket, *, batch: str, now: datetime) -> None:
        if t.status == "closed" or t.type != "suggestion" or t.batch is not None:
            raise _Skip
        sla = self.desk.planner.batched(t, now)
        t.add_to_batch(batch=batch, sla=sla, actor=BATCHER, at=now)

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        while not self._stopping.is_set():
            try:
                await asyncio.to_thread(self.batch_due)
            except Exception as error:  # the read side is rebuilding, the store restarting
                log.warning("suggestion batch: %s: %s", type(error).__name__, error)
            now = self.desk.clock()
            start = self.this_month_start(now)
            next_month = (start + timedelta(days=32)).replace(day=1)
            wait = min((next_month - now).total_seconds(), RECHECK.total_seconds())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), max(wait, 1.0))
