"""Group impact (docs/process.md): when a third customer reports the same problem within
24 h, all those tickets get impact `group`, are linked, and their priority follows the
urgency × impact matrix; an `ImpactRaised` event on each records it.

The same problem is what the requests say, not their category: `projections.reports`
puts each request in a cluster of requests that read alike (domain.similarity) and
keeps who reported what and when. `GroupImpact` looks at each newly classified
ticket's cluster within the window and acts through the application, so the store
stays the truth and a replay changes nothing twice. A category the policy ignores
(`group_impact.ignore_categories`) never raises a group.

A group found is a problem: the tickets of a new group open one (`open_problem`, actor
`system`), titled by the first request's first line; a later report is linked into the
group's open problem (`link_tickets`). Supervisors then analyse it and plan actions.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from uuid import UUID

from domain.actor import Actor
from domain.calendar import parse_duration
from domain.errors import TicketError
from domain.priority import priority
from domain.sla import Facts
from domain.ticket import Ticket
from infra.logs import ticket_fields
from infra.readdb import ReadDB
from projections.base import event_kind
from projections.sla import summary_of
from services.application.desk import TicketDesk
from services.application.involvement import bring_in, recipient
from services.application.messages import Actor as MessageActor
from services.application.problem_messages import LinkTickets, OpenProblem
from services.application.problems import ProblemService

log = logging.getLogger("ticketflow.group_impact")
SYSTEM = Actor.system("group-impact")
SYSTEM_RECORD = MessageActor.model_validate(SYSTEM.record())
WIDER = {"individual": 0, "group": 1, "systemic": 2}
IN_WINDOW = (
    "SELECT ticket_id, customer FROM reports WHERE cluster = ? AND closed = 0 "
    "AND received_at BETWEEN ? AND ?"
)
LINKS = 50  # linked ticket ids recorded per ticket; a large group is not copied into each


def utc_text(moment: datetime) -> str:
    """The stream's time format, so text order is time order."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class GroupImpact:
    def __init__(
        self, desk: TicketDesk, db: ReadDB, problems: ProblemService | None = None
    ) -> None:
        self.desk, self.db, self.problems = desk, db, problems
        self._problem_of: dict[str, UUID] = {}  # cluster -> its open problem, while the view lags
        self.raised = 0
        self._grouped: set[str] = set()  # tickets known raised, while the view catches up
        self._queue: asyncio.Queue[str | None] = asyncio.Queue()
        self._stopping = False

    def check(self, events: Sequence[dict]) -> None:
        for event in events:
            if event_kind(event) == "Classified":
                self._queue.put_nowait(event["subject"])

    def stop(self) -> None:
        """Finish the ticket in hand (its thread may be saving), then end `run`."""
        self._stopping = True
        self._queue.put_nowait(None)

    async def run(self) -> None:
        while not self._stopping:
            ticket_id = await self._queue.get()
            if ticket_id is None:
                return
            try:
                await asyncio.to_thread(self.examine, ticket_id)
            except Exception as error:
                log.error(
                    "group impact for %s failed: %s",
                    ticket_id,
                    error,
                    exc_info=error,
                    extra=ticket_fields(ticket_id, None),
                )

    def examine(self, ticket_id: str) -> list[str]:
        """Raise the impact of the group `ticket_id` completes or joins, if any.

        Cheap at any volume: a ticket already raised, or a category not reported by
        enough customers in the window, costs one or two indexed queries."""
        rules = self.desk.policy.group_impact
        with self.db.transaction(write=False) as tx:
            row = tx.execute(
                "SELECT category, received_at, impact, cluster FROM reports WHERE ticket_id=?",
                (ticket_id,),
            ).fetchone()
            if not row or not row[0] or rules.ignores(row[0]) or row[2] != "individual":
                return []
            window = (row[3], *self._window(row[1]))
            raised = [
                r[0]
                for r in tx.execute(
                    f"{IN_WINDOW} AND impact <> 'individual' LIMIT {LINKS}", window
                ).fetchall()
            ]
            if raised:  # the group exists: this reporter joins it
                members, to_raise = [ticket_id, *raised], [ticket_id]
            else:
                customers = tx.execute(
                    f"SELECT DISTINCT customer FROM ({IN_WINDOW}) AS w LIMIT {rules.customers}",
                    window,
                ).fetchall()
                if len(customers) < rules.customers:
                    return []
                members = [
                    r[0]
                    for r in tx.execute(
                        f"{IN_WINDOW} AND impact = 'individual' LIMIT 1000", window
                    ).fetchall()
                ]
                to_raise = members
        done = [t for t in to_raise if t not in self._grouped and self._raise(t, members)]
        if done and self.problems is not None:
            self._file(row[3], members)
        if len(self._grouped) > 100_000:  # a cache, not a record: the store has the facts
            self._grouped.clear()
        self._grouped.update(to_raise)  # raised now or before: the view will catch up
        self.raised += len(done)
        return done

    def _file(self, cluster: str, members: list[str]) -> None:
        """Open the group's problem, or link these tickets into the open one."""
        assert self.problems is not None
        problem_id = self._problem_of.get(cluster) or self._open_problem_of(members)
        if problem_id is not None:
            link = LinkTickets(problem_id=str(problem_id), tickets=members, actor=SYSTEM_RECORD)
            try:
                self.problems.execute("link_tickets", link)
                return
            except TicketError:  # closed meanwhile: the group is a problem again
                pass
        first = self.desk.load(UUID(members[0]))  # a report of the group names it
        title = summary_of(first.subject, first.content) or (first.category or "?")
        opened = OpenProblem(
            title=title[:200], category=first.category, tickets=members, actor=SYSTEM_RECORD
        )
        reply = self.problems.execute("open_problem", opened)
        self._problem_of[cluster] = UUID(reply["problem_id"])
        log.info("opened problem %s for %d tickets", reply["number"], len(members))

    def _open_problem_of(self, members: list[str]) -> UUID | None:
        marks = ", ".join("?" * len(members))
        with self.db.transaction(write=False) as tx:
            row = tx.execute(
                f"SELECT p.problem_id FROM problem_tickets t JOIN problems p ON "
                f"p.problem_id = t.problem_id WHERE t.ticket_id IN ({marks}) "
                f"AND p.status = 'open' ORDER BY p.opened_at LIMIT 1",
                members,
            ).fetchone()
        return UUID(row[0]) if row else None

    def _window(self, received_at: str) -> tuple[str, str]:
        span = timedelta(seconds=parse_duration(self.desk.policy.group_impact.within).seconds)
        at = datetime.fromisoformat(received_at)
        return utc_text(at - span), utc_text(at + span)

    def _raise(self, ticket_id: str, members: list[str]) -> bool:
        policy = self.desk.policy
        others = [m for m in members if m != ticket_id]

        def act(t: Ticket) -> None:
            if WIDER.get(t.impact or "individual", 0) >= WIDER["group"]:
                raise _Unchanged  # raised once; later reporters link to it, not it to them
            impact = t.impact if t.impact == "systemic" else "group"
            level = priority(t.urgency or "normal", impact, policy.priority)
            facts = Facts(t.type, t.category, level, t.urgency, impact, t.channel)
            now = self.desk.clock()
            sla = self.desk.planner.classified(t, facts, now)
            t.raise_impact(
                impact=impact,
                priority=level,
                linked=others[:LINKS],
                sla=sla,
                at=now,
                reason=f"{len(members)} customers reported the same problem ({t.category})",
                actor=SYSTEM,
            )
            if t.type == "complaint":  # a group complaint goes to the manager
                t.escalate(
                    level="manager",
                    reason="group_complaint",
                    actor=SYSTEM,
                    at=now,
                    to=recipient(policy, t, "manager"),
                )
            bring_in(t, policy, now)

        try:
            ticket = self.desk.change(UUID(ticket_id), act)
        except (_Unchanged, TicketError):
            return False
        log.info(
            "raised %s to %s impact, priority %s",
            ticket.number,
            ticket.impact,
            ticket.priority,
            extra=ticket_fields(
                ticket.id, ticket.number, impact=ticket.impact, linked=len(members) - 1
            ),
        )
        return True


class _Unchanged(Exception):
    pass
