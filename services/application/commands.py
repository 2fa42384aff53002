"""The commands of docs/contract.md: check the role, load the ticket, act, save, reply.

The policy supplies what the aggregate must not compute itself (due instants on the
business calendar, whether a low rating reopens).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from domain.actor import Actor
from domain.errors import Forbidden, IllegalState, Invalid
from domain.personal_data import CONTACT_FIELDS, key_subject
from domain.priority import priority
from domain.roles import check_may_send
from domain.sla import Facts, fixed
from domain.team_scope import check_scope
from domain.ticket import Ticket, department_target
from services.application import messages as m
from services.application.articles import load_article
from services.application.desk import TicketDesk
from services.application.erasure import Eraser
from services.application.involvement import bring_in, escalate_to

log = logging.getLogger("ticketflow.commands")
LONGEST_WAIT = timedelta(days=366)  # a department's due or a promise, at the latest
Act = Callable[[Ticket, Any, Actor, datetime], None]


class CommandService:
    def __init__(self, desk: TicketDesk) -> None:
        self.desk = desk
        self._acts: dict[str, Act] = {
            "classify": self._classify,
            "assign": self._assign,
            "acknowledge": self._acknowledge,
            "update": self._update,
            "answer_with_article": self._answer_with_article,
            "escalate": self._escalate,
            "close": self._close,
            "rate": self._rate,
            "reopen": self._reopen,
            "follow_up": self._follow_up,
            "reveal_contact": self._reveal_contact,
            "confirm": self._confirm,
            "decline": self._decline,
            "request_department": self._request_department,
            "answer_department": self._answer_department,
            "analyse": self._analyse,
            "review": self._review,
        }

    def execute(self, name: str, command: m._Command) -> dict:
        check_may_send(name, command.actor.role)
        ticket_id = self.desk.resolve(command.ticket_id, command.number)
        actor = command.actor.value()
        act = self._acts[name]

        def run(t: Ticket) -> None:
            check_scope(
                self.desk.policy.agents,
                self.desk.policy.teams,
                actor,
                assignee=t.assignee,
                collaborators=t.collaborators,
                type=t.type,
                category=t.category,
            )
            now = self.desk.clock()
            act(t, command, actor, now)
            if name in ("classify", "assign"):  # the type, priority or team may have changed
                bring_in(t, self.desk.policy, now)

        ticket = self.desk.change(ticket_id, run, command.expected_version)
        log.info(
            "%s %s by %s",
            name,
            ticket.number,
            actor.id,
            extra={
                "ticket_id": str(ticket.id),
                "number": ticket.number,
                "command": name,
                "actor": actor.record(),
                "version": ticket.version,
            },
        )
        reply = {
            "ok": True,
            "ticket_id": str(ticket.id),
            "number": ticket.number,
            "version": ticket.version,
        }
        if name == "reveal_contact":  # what the recorded look was for
            reply["contact"] = self._contact(ticket)
        return reply

    def forget(self, command: m.Forget) -> dict:
        """`tickets.cmd.forget`: erase the personal data of a customer (or of a ticket's
        customer); the tickets, their history and the statistics stay."""
        check_may_send("forget", command.actor.role)
        eraser = Eraser(self.desk)
        also: tuple[str, ...] = ()
        if command.customer_id:
            subject = key_subject(command.customer_id, None)
        else:
            ticket_id = self.desk.resolve(command.ticket_id, command.number)
            subject, also = eraser.subject_of_ticket(ticket_id), (str(ticket_id),)
        return eraser.forget(
            subject,
            basis="request",
            reason=command.reason,
            actor=command.actor.value(),
            also=also,
        ).reply()

    def _contact(self, t: Ticket) -> dict:
        """The customer's contact fields, unmasked: opened with their key, or as a ticket
        from before sealing holds them."""
        opened = None
        if t.sealed is not None and t.key_id is not None:
            opened = self.desk.reveal(t.key_id, t.sealed)
        customer = (opened or {}).get("customer") if t.sealed is not None else t.customer
        if customer is None:
            raise IllegalState("the contact data is erased (its key is gone): nothing to reveal")
        return {key: customer.get(key) for key in CONTACT_FIELDS}

    def _classify(self, t: Ticket, c: m.Classify, actor: Actor, now: datetime) -> None:
        policy = self.desk.policy
        top, _, sub = c.category.partition("/")
        tree = policy.classification.categories
        if top not in tree or (sub and sub not in tree[top]):
            raise Invalid(f"category {c.category!r} is not in the policy's taxonomy")
        level = c.priority or priority(
            t.urgency or "normal", t.impact or "individual", policy.priority
        )
        facts = Facts(c.type, c.category, level, t.urgency, t.impact, t.channel)
        sla = self.desk.planner.classified(t, facts, now)
        t.classify(
            type=c.type,
            category=c.category,
            priority=level,
            urgency=t.urgency or "normal",
            impact=t.impact or "individual",
            reason=c.reason,
            sla=sla,
            actor=actor,
            at=now,
            demand=c.demand,
            mood=c.mood,
        )

    def _assign(self, t: Ticket, c: m.Assign, actor: Actor, now: datetime) -> None:
        sla = self.desk.planner.assigned(t, now)
        t.assign(assignee=c.assignee, collaborators=c.collaborators, sla=sla, actor=actor, at=now)

    def _acknowledge(self, t: Ticket, c: m.Acknowledge, actor: Actor, now: datetime) -> None:
        t.acknowledge(actor=actor, at=now)

    def _update(self, t: Ticket, c: m.Update, actor: Actor, now: datetime) -> None:
        resumes = t.status == "waiting_on_customer" and not c.waiting_on_customer
        to_customer = c.visibility == "customer"
        sla = self.desk.planner.updated(t, now, resumes=resumes, to_customer=to_customer)
        if c.promised_by is not None:
            sla["promised_feedback"] = fixed(_soon(c.promised_by, now, "promised_by"), now)
        if c.compensation is not None:
            self._check_authority(t, c.compensation, actor)
        t.update(
            note=c.note,
            visibility=c.visibility,
            next_step=c.next_step,
            expected_done_at=c.expected_done_at,
            waiting_on_customer=c.waiting_on_customer,
            sla=sla,
            actor=actor,
            at=now,
            attachments=[a.model_dump() for a in c.attachments],
            compensation=c.compensation,
        )

    def _answer_with_article(
        self, t: Ticket, c: m.AnswerWithArticle, actor: Actor, now: datetime
    ) -> None:
        """A customer-visible update whose text is the article's (or one of its
        standard replies): it meets the first response like any such update."""
        article = load_article(self.desk, c.article_id)
        version, text = article.answer(c.reply)
        resumes = t.status == "waiting_on_customer"
        t.update(
            note=f"{c.note}\n\n{text}" if c.note else text,
            visibility="customer",
            next_step=None,
            expected_done_at=None,
            waiting_on_customer=False,
            sla=self.desk.planner.updated(t, now, resumes=resumes, to_customer=True),
            actor=actor,
            at=now,
            article={
                "article_id": str(article.id),
                "number": article.number,
                "version": version["version"],
                "title": version["title"],
                "reply": c.reply,
            },
        )

    def _check_authority(self, t: Ticket, amount: float, actor: Actor) -> None:
        """A compensation above the actor's authority needs the ticket escalated to a
        level whose limit covers it first."""
        authority = self.desk.policy.authority
        covered = max(authority.limit(actor.role), authority.limit(t.escalation_level or ""))
        if amount <= covered:
            return
        needed = next(
            (lvl for lvl in ("supervisor", "manager") if authority.limit(lvl) >= amount), None
        )
        ask = f"escalate to the {needed} first" if needed else "no role may promise that much"
        raise Forbidden(
            f"a compensation of {amount:g} {authority.currency} is above the {actor.role}'s "
            f"authority ({authority.limit(actor.role):g} {authority.currency}): {ask}"
        )

    def _escalate(self, t: Ticket, c: m.Escalate, actor: Actor, now: datetime) -> None:
        escalate_to(t, self.desk.policy, c.level, reason=c.reason, actor=actor, now=now)

    def _close(self, t: Ticket, c: m.Close, actor: Actor, now: datetime) -> None:
        if actor.role == "agent" and t.type in self.desk.policy.review.types:
            t.submit_resolution(  # reviewed first; the approval closes it
                resolution=c.resolution,
                solution=c.solution,
                scheduled_for=c.scheduled_for,
                actor=actor,
                at=now,
            )
            return
        self._closing(t, c.resolution, c.solution, c.scheduled_for, actor, now)

    def _closing(
        self,
        t: Ticket,
        resolution: str,
        solution: str | None,
        scheduled_for: datetime | None,
        actor: Actor,
        now: datetime,
    ) -> None:
        sla = self.desk.planner.closed(t, now)
        t.close(
            resolution=resolution,
            actor=actor,
            at=now,
            sla=sla,
            solution=solution,
            scheduled_for=scheduled_for,
        )

    def _analyse(self, t: Ticket, c: m.Analyse, actor: Actor, now: datetime) -> None:
        t.analyse(analysis=c.analysis, actor=actor, at=now)

    def _review(self, t: Ticket, c: m.Review, actor: Actor, now: datetime) -> None:
        statement = t.submitted
        t.review(approved=c.approved, comment=c.comment, actor=actor, at=now)
        if c.approved and statement is not None:
            self._closing(
                t,
                statement["resolution"],
                statement["solution"],
                statement["scheduled_for"],
                actor,
                now,
            )

    def _follow_up(self, t: Ticket, c: m.FollowUp, actor: Actor, now: datetime) -> None:
        t.follow_up(note=c.note, actor=actor, at=now)

    def _reveal_contact(self, t: Ticket, c: m.RevealContact, actor: Actor, now: datetime) -> None:
        self._contact(t)  # the key still opens it: else nothing is recorded
        t.reveal_contact(reason=c.reason, actor=actor, at=now)

    def _confirm(self, t: Ticket, c: m.Confirm, actor: Actor, now: datetime) -> None:
        t.confirm(comment=c.comment, actor=actor, at=now)

    def _decline(self, t: Ticket, c: m.Decline, actor: Actor, now: datetime) -> None:
        """Back to the queue: the assignment target runs again; acknowledge waits."""
        sla = self.desk.planner.declined(t, now)
        t.decline(reason=c.reason, sla=sla, actor=actor, at=now)

    def _request_department(
        self, t: Ticket, c: m.RequestDepartment, actor: Actor, now: datetime
    ) -> None:
        policy = self.desk.policy
        department = policy.department(c.department)
        if department is None:
            known = ", ".join(f"{d.id} ({d.name})" for d in policy.departments) or "none"
            raise Invalid(f"no department {c.department!r} in the policy; known: {known}")
        due_at = _soon(c.due, now, "due")
        sla = {department_target(t.next_department_request()): fixed(due_at, now)}
        sla.update(self.desk.planner.transferred(t, now))  # the first transfer starts it
        t.request_department(
            department=department.id, ask=c.ask, due=due_at, sla=sla, actor=actor, at=now
        )

    def _answer_department(
        self, t: Ticket, c: m.AnswerDepartment, actor: Actor, now: datetime
    ) -> None:
        t.answer_department(request_id=c.request_id, answer=c.answer, actor=actor, at=now)

    def _rate(self, t: Ticket, c: m.Rate, actor: Actor, now: datetime) -> None:
        known = self.desk.policy.rating.dimensions
        unknown = sorted(set(c.dimensions) - set(known))
        if unknown:
            raise Invalid(f"unknown dimension(s) {unknown}; the policy rates {known}")
        t.rate(score=c.score, comment=c.comment, actor=actor, at=now, dimensions=c.dimensions)
        if c.score <= self.desk.policy.rating.reopen_at_or_below:
            self._reopen(
                t,
                m.Reopen(ticket_id=str(t.id), actor=c.actor, reason=f"customer rated {c.score}"),
                actor,
                now,
            )

    def _reopen(self, t: Ticket, c: m.Reopen, actor: Actor, now: datetime) -> None:
        sla = self.desk.planner.reopened(t, now)
        t.reopen(reason=c.reason, sla=sla, actor=actor, at=now)


def _soon(moment: datetime, now: datetime, name: str) -> datetime:
    """A due instant a command sets: after now, and within a year."""
    if moment <= now:
        raise Invalid(f"{name} {moment.isoformat()} is not after now ({now.isoformat()})")
    if moment - now > LONGEST_WAIT:
        raise Invalid(f"{name} {moment.isoformat()} is more than {LONGEST_WAIT.days} days away")
    return moment
