"""Low satisfaction in one dimension becomes a problem (docs/process.md "Statistics").

After the statistics view takes in a rating, each dimension it scored at or below the
policy's `rating.low_at_or_below` is counted over `rating.problem_within`: at
`rating.problem_after` low scores the tickets become a problem, "Low satisfaction:
<dimension>", or join the one already open for that dimension (actor
`system/low-scores`). The view is the truth: a restart loses nothing, and a problem's
title says which dimension it is about.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from datetime import timedelta
from uuid import UUID

from domain.calendar import parse_duration
from domain.errors import TicketError
from infra.readdb import ReadDB
from projections.base import event_kind, utc_text
from services.application.desk import TicketDesk
from services.application.messages import Actor as MessageActor
from services.application.problem_messages import LinkTickets, OpenProblem
from services.application.problems import ProblemService

log = logging.getLogger("ticketflow.low_scores")
SYSTEM = MessageActor(id="low-scores", role="system")
TITLE = "Low satisfaction: {dimension}"
MOST = 200  # tickets linked at once


class LowScores:
    def __init__(self, desk: TicketDesk, db: ReadDB, problems: ProblemService) -> None:
        self.desk, self.db, self.problems = desk, db, problems
        self.opened = 0
        self._open: dict[str, UUID] = {}  # opened here before the problems view has it
        self._queue: asyncio.Queue[str | None] = asyncio.Queue()
        self._stopping = False

    def check(self, events: Sequence[dict]) -> None:
        """Called (on the event loop) with the events the statistics view just applied:
        the dimensions scored low wait for `run`."""
        rules = self.desk.policy.rating
        if rules.problem_after <= 0:
            return
        low = {
            name
            for e in events
            if event_kind(e) == "Rated"
            for name, score in (e["data"].get("dimensions") or {}).items()
            if score <= rules.low_at_or_below
        }
        for dimension in sorted(low):
            self._queue.put_nowait(dimension)

    def stop(self) -> None:
        self._stopping = True
        self._queue.put_nowait(None)

    async def run(self) -> None:
        while not self._stopping:
            dimension = await self._queue.get()
            if dimension is None:
                return
            try:
                await asyncio.to_thread(self.examine, dimension)
            except Exception as error:
                log.error("low scores of %s: %s", dimension, error, exc_info=error)

    def examine(self, dimension: str) -> None:
        tickets = self._low_tickets(dimension)
        if len(tickets) >= self.desk.policy.rating.problem_after:
            self._file(dimension, tickets[:MOST])

    def _low_tickets(self, dimension: str) -> list[str]:
        rules = self.desk.policy.rating
        since = self.desk.clock() - timedelta(seconds=parse_duration(rules.problem_within).seconds)
        with self.db.transaction(write=False) as tx:
            rows = tx.execute(
                "SELECT ticket_id, dimensions FROM stats_tickets WHERE rated_at >= ? "
                "AND dimensions IS NOT NULL ORDER BY rated_at",
                (utc_text(since),),
            ).fetchall()
        return [
            ticket
            for ticket, scores in rows
            if json.loads(scores).get(dimension, 99) <= rules.low_at_or_below
        ]

    def _file(self, dimension: str, tickets: list[str]) -> None:
        title = TITLE.format(dimension=dimension)
        with self.db.transaction(write=False) as tx:
            row = tx.execute(
                "SELECT problem_id FROM problems WHERE title=? AND status='open' "
                "ORDER BY opened_at LIMIT 1",
                (title,),
            ).fetchone()
        known = UUID(row[0]) if row else self._open.get(dimension)
        try:
            if known is not None:
                link = LinkTickets(problem_id=str(known), tickets=tickets, actor=SYSTEM)
                self.problems.execute("link_tickets", link)
                return
        except TicketError as error:  # closed meanwhile: the low scores are a problem again
            log.info("low scores of %s: %s", dimension, error)
        opened = OpenProblem(title=title, category=None, tickets=tickets, actor=SYSTEM)
        reply = self.problems.execute("open_problem", opened)
        self._open[dimension] = UUID(reply["problem_id"])
        self.opened += 1
        log.info("opened problem %s: %d low scores of %s", reply["number"], len(tickets), dimension)
