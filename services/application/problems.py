"""Problems and improvement actions: the commands (check the role, load, act, save,
reply) and the `problem` query, replayed from the store like a ticket.

A problem is numbered `PB` + the local date + a daily sequence, its number saved with
it in one transaction, as a ticket's is. Tickets are named by id or number; each must
exist.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError
from pydantic_core import to_jsonable_python

from domain.actor import Actor
from domain.errors import Conflict, Invalid, NotFound
from domain.numbers import TicketNumber, number_id
from domain.problem import Problem
from domain.roles import check_may_send
from services.application import problem_messages as pm
from services.application.desk import SAVE_RETRIES, TicketDesk
from services.application.registration import NumberSequence

log = logging.getLogger("ticketflow.problems")
PREFIX = "PB"


class ProblemService:
    def __init__(self, desk: TicketDesk) -> None:
        self.desk = desk
        self.numbers = NumberSequence(desk, prefix=PREFIX)

    # ---- commands ------------------------------------------------------------------

    def execute(self, name: str, command: Any) -> dict:
        check_may_send(name, command.actor.role)
        actor, now = command.actor.value(), self.desk.clock()
        if name == "open_problem":
            problem = self._open(command, actor, now)
        else:
            act = getattr(self, f"_{name}")
            problem = self.desk.change_any(
                self.resolve(command.problem_id, command.number),
                lambda p: act(p, command, actor, now),
                command.expected_version,
                self.load,
            )
        log.info("%s %s by %s", name, problem.number, actor.id)
        return {
            "ok": True,
            "problem_id": str(problem.id),
            "number": problem.number,
            "version": problem.version,
        }

    def _open(self, c: pm.OpenProblem, actor: Actor, now: datetime) -> Problem:
        tickets = self._tickets(c.tickets)
        day = now.astimezone(self.desk.policy.business_calendar.tz).date()
        for _ in range(SAVE_RETRIES):
            number = self.numbers.take(day)
            problem = Problem.open(
                number=number,
                title=c.title,
                category=c.category,
                tickets=tickets,
                actor=actor,
                at=now,
            )
            try:
                self.desk.save(problem, TicketNumber.register(number, problem.id))
                return problem
            except IntegrityError:  # another process took the number: probe again
                self.numbers.forget()
        raise Conflict(f"no free problem number after {SAVE_RETRIES} tries")

    def _link_tickets(self, p: Problem, c: pm.LinkTickets, actor: Actor, now: datetime) -> None:
        p.link(tickets=self._tickets(c.tickets, linked=set(p.tickets)), actor=actor, at=now)

    def _record_root_cause(
        self, p: Problem, c: pm.RecordRootCause, actor: Actor, now: datetime
    ) -> None:
        p.record_root_cause(
            method=c.method, analysis=c.analysis, root_cause=c.root_cause, actor=actor, at=now
        )

    def _plan_action(self, p: Problem, c: pm.PlanAction, actor: Actor, now: datetime) -> None:
        p.plan_action(
            action_id=f"A{len(p.actions) + 1}",
            title=c.title,
            owner=c.owner,
            due=c.due,
            metric=c.metric,
            scope=c.scope.given(),
            target=c.target.model_dump(),
            evaluate_after=c.evaluate_after,
            actor=actor,
            at=now,
        )

    def _update_action(self, p: Problem, c: pm.UpdateAction, actor: Actor, now: datetime) -> None:
        p.update_action(action_id=c.action_id, note=c.note, status=c.status, actor=actor, at=now)

    def _close_problem(self, p: Problem, c: pm.CloseProblem, actor: Actor, now: datetime) -> None:
        p.close(resolution=c.resolution, actor=actor, at=now)

    def _tickets(self, refs: list[str], linked: set[str] | frozenset = frozenset()) -> list[str]:
        """Ticket ids from ids or numbers; each must name a ticket (one `linked` already
        was checked when it was linked)."""
        found = []
        for ref in refs:
            by_id = _uuid(ref)
            ticket_id = by_id or self.desk.resolve(None, ref)
            if str(ticket_id) not in linked and not self.desk.is_ticket(ticket_id):
                raise NotFound(f"no ticket {ticket_id}")
            found.append(str(ticket_id))
        return found

    # ---- reading -------------------------------------------------------------------

    def resolve(self, problem_id: str | None, number: str | None) -> UUID:
        if problem_id:
            if (found := _uuid(problem_id)) is None:
                raise Invalid(f"problem_id {problem_id!r} is not a UUID")
            return found
        assert number is not None
        try:
            entry: Any = self.desk.get(number_id(number))
        except AggregateNotFoundError:
            raise NotFound(f"no problem numbered {number!r}") from None
        return entry.ticket_id

    def load(self, problem_id: UUID, version: int | None = None) -> Problem:
        try:
            problem: Any = self.desk.get(problem_id, version)
        except AggregateNotFoundError:
            raise NotFound(f"no problem {problem_id}") from None
        if not isinstance(problem, Problem):
            raise NotFound(f"no problem {problem_id}")
        return problem

    def problem(self, q: pm.ProblemQuery) -> dict:
        """`problem`: the problem as it is, or was at version `as_of`."""
        problem_id = self.resolve(q.problem_id, q.number)
        if isinstance(q.as_of, datetime):
            p = self._as_at(problem_id, q.as_of)
        else:
            p = self.load(problem_id, q.as_of)
            if q.as_of is not None and p.version != q.as_of:
                raise NotFound(f"the problem has no version {q.as_of}")
        return {"ok": True, "problem": to_jsonable_python(view(p))}

    def _as_at(self, problem_id: UUID, moment: datetime) -> Problem:
        problem: Any = None
        event: Any
        for event in self.desk.events.get(problem_id):
            if event.timestamp > moment:
                break
            problem = event.mutate(problem)
        if not isinstance(problem, Problem):
            raise NotFound(f"problem {problem_id} did not exist at {moment.isoformat()}")
        return problem


def view(p: Problem) -> dict:
    return {
        "problem_id": str(p.id),
        "number": p.number,
        "version": p.version,
        "title": p.title,
        "category": p.category,
        "status": p.status,
        "resolution": p.resolution,
        "tickets": p.tickets,
        "root_cause": p.root_cause,
        "recurring": p.recurring,
        "actions": list(p.actions.values()),
        "opened_at": p.created_on,
        "closed_at": p.closed_at,
        "updated_at": p.modified_on,
    }


def _uuid(text: str) -> UUID | None:
    try:
        return UUID(text)
    except ValueError:
        return None
