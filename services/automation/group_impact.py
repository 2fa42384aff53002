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

The tickets waiting to be examined are taken up to `BATCH` at a time: each is examined
in turn, exactly as alone, and the tickets raised are saved in one store transaction
(a transaction per raise cost about as much CPU as the raise itself), and the groups
they formed or joined are filed once a cluster. Should another writer change one of
them meanwhile, each raise is done again on its own, on the fresh ticket.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from uuid import UUID

from eventsourcing.persistence import IntegrityError

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
from services.application.involvement import bring_in, escalate_to
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
BATCH = 200  # tickets examined before the ones raised are saved together
FILED_AT_ONCE = 1000  # tickets in one open_problem or link_tickets (the commands' limit)


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
            waiting = [await self._queue.get()]
            while len(waiting) < BATCH and not self._queue.empty():
                waiting.append(self._queue.get_nowait())
            ticket_ids = [t for t in waiting if t is not None]
            if ticket_ids:
                try:
                    await asyncio.to_thread(self.examine_all, ticket_ids)
                except Exception as error:
                    log.error("group impact failed: %s", error, exc_info=error)
            if None in waiting:
                return

    def examine(self, ticket_id: str) -> list[str]:
        """Raise the impact of the group `ticket_id` completes or joins, if any.

        Cheap at any volume: a ticket already raised, or a category not reported by
        enough customers in the window, costs one or two indexed queries."""
        return self.examine_all([ticket_id])

    def examine_all(self, ticket_ids: Sequence[str]) -> list[str]:
        """`examine` each ticket in turn; the tickets raised are saved at once, then the
        groups they form or join are filed as problems. The tickets raised, in order."""
        raising = _Raising()
        for ticket_id in ticket_ids:
            try:
                self._examine(ticket_id, raising)
            except Exception as error:
                log.error(
                    "group impact for %s failed: %s",
                    ticket_id,
                    error,
                    exc_info=error,
                    extra=ticket_fields(ticket_id, None),
                )
        done = self._save(raising)
        if self.problems is not None:
            self._file_all(raising.groups, set(done))
        self.raised += len(done)
        return done

    def _file_all(self, groups: list[tuple[str, list[str], list[str]]], done: set[str]) -> None:
        """File each group a ticket of this pass was raised into; a cluster's groups in
        one command (up to `FILED_AT_ONCE` tickets), not one a ticket."""
        by_cluster: dict[str, dict[str, None]] = {}
        for cluster, members, raised in groups:
            if any(t in done for t in raised):
                by_cluster.setdefault(cluster, {}).update(dict.fromkeys(members))
        for cluster, filed in by_cluster.items():
            tickets = list(filed)
            for start in range(0, len(tickets), FILED_AT_ONCE):
                self._file(cluster, tickets[start : start + FILED_AT_ONCE])

    def _examine(self, ticket_id: str, raising: _Raising) -> None:
        rules = self.desk.policy.group_impact
        with self.db.transaction(write=False) as tx:
            row = tx.execute(
                "SELECT category, received_at, impact, cluster FROM reports WHERE ticket_id=?",
                (ticket_id,),
            ).fetchone()
            if not row or not row[0] or rules.ignores(row[0]) or row[2] != "individual":
                return
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
                    return
                members = [
                    r[0]
                    for r in tx.execute(
                        f"{IN_WINDOW} AND impact = 'individual' LIMIT 1000", window
                    ).fetchall()
                ]
                to_raise = members
        now_raised = [
            t for t in to_raise if t not in self._grouped and self._raise(t, members, raising)
        ]
        if now_raised:
            raising.groups.append((row[3], members, now_raised))
        if len(self._grouped) > 100_000:  # a cache, not a record: the store has the facts
            self._grouped.clear()
        self._grouped.update(to_raise)  # raised now or before: the view will catch up

    def _save(self, raising: _Raising) -> list[str]:
        """Save the tickets raised in one transaction; the ones saved raised."""
        if not raising.tickets:
            return []
        try:
            self.desk.save(*raising.tickets.values())
            saved = list(raising.tickets.values())
        except IntegrityError:  # another writer changed one of them: each on its own
            saved = []
            for ticket_id, act in raising.acts:
                with contextlib.suppress(_Unchanged, TicketError):
                    saved.append(self.desk.change(ticket_id, act))
        for ticket in saved:
            log.info(
                "raised %s to %s impact, priority %s",
                ticket.number,
                ticket.impact,
                ticket.priority,
                extra=ticket_fields(
                    ticket.id, ticket.number, impact=ticket.impact, linked=len(ticket.linked)
                ),
            )
        return [str(t.id) for t in saved]

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

    def _raise(self, ticket_id: str, members: list[str], raising: _Raising) -> bool:
        """Raise the ticket in memory (`raising` holds it until it is saved)."""
        act = self._raiser(ticket_id, members)
        key = UUID(ticket_id)
        try:
            ticket = raising.tickets.get(key) or self.desk.load(key)
            act(ticket)
        except (_Unchanged, TicketError):
            return False  # a ticket loaded here and changed halfway is dropped unsaved
        raising.tickets[key] = ticket
        raising.acts.append((key, act))
        return True

    def _raiser(self, ticket_id: str, members: list[str]) -> Callable[[Ticket], None]:
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
                escalate_to(t, policy, "manager", reason="group_complaint", actor=SYSTEM, now=now)
            bring_in(t, policy, now)

        return act


@dataclass
class _Raising:
    """What one pass of `examine_all` raised, before it is saved."""

    tickets: dict[UUID, Ticket] = field(default_factory=dict)  # in the order raised
    acts: list[tuple[UUID, Callable[[Ticket], None]]] = field(default_factory=list)
    groups: list[tuple[str, list[str], list[str]]] = field(default_factory=list)  # to file


class _Unchanged(Exception):
    pass
