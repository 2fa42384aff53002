"""Intake: a batch of validated requests becomes tickets in one store transaction.

Each new ticket is stored with its Received and system Classified events (and its
number) together, so a ticket is never seen unclassified. The same
`<channel>:<external_id>` is one ticket however often and however late it comes.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

from eventsourcing.persistence import IntegrityError

from domain.actor import Actor
from domain.assignment import propose, wanted_skills
from domain.numbers import TicketNumber, format_number, number_id
from domain.personal_data import kept_part, key_subject, sealed_part
from domain.priority import priority
from domain.sla import Facts
from domain.ticket import Ticket, ticket_id_for
from infra.logs import ticket_fields
from infra.metrics import Histogram
from infra.personal_keys import DataKey
from services.application.desk import TicketDesk
from services.application.involvement import bring_in, escalate_media
from services.application.messages import IntakeRequest
from services.application.replies import Replies, Reply

log = logging.getLogger("ticketflow.intake")
SYSTEM = Actor.system("classifier")
ASSIGNER = Actor.system("assigner")
ATTEMPTS = 50  # each failed attempt means another writer got through: progress overall


@dataclass(frozen=True)
class Request:
    channel: str
    body: IntakeRequest
    arrived_at: datetime  # when the message reached the stream; the default received_at


@dataclass(frozen=True)
class Registered:
    ticket_id: UUID
    new: bool


class NumberSequence:
    """Hands out the next free daily number; probes the store (log n reads) after start
    or after a lost race, instead of scanning every ticket."""

    def __init__(self, desk: TicketDesk, prefix: str | None = None) -> None:
        """`prefix`: another series than the policy's ticket numbers (`PB` problems)."""
        self.desk, self.prefix = desk, prefix
        self._next: dict[date, int] = {}
        self._lock = threading.Lock()

    def _number(self, day: date, seq: int) -> str:
        n = self.desk.policy.numbering
        return format_number(self.prefix or n.prefix, day, seq, n.digits)

    def _taken(self, day: date, seq: int) -> bool:
        return self.desk.exists(number_id(self._number(day, seq)))

    def _first_free(self, day: date) -> int:
        high = 1
        while self._taken(day, high):
            high *= 2
        low = high // 2  # taken (or 0); numbers are dense, so binary search works
        while high - low > 1:
            mid = (low + high) // 2
            low, high = (mid, high) if self._taken(day, mid) else (low, mid)
        return high

    def take(self, day: date) -> str:
        with self._lock:
            seq = self._next.get(day) or self._first_free(day)
            self._next = {day: seq + 1}  # only today's counter is kept
            return self._number(day, seq)

    def forget(self) -> None:
        with self._lock:
            self._next.clear()


class Registrar:
    def __init__(
        self, desk: TicketDesk, open_load: Callable[[], Mapping[str, int]] | None = None
    ) -> None:
        """`open_load`: each agent's open tickets from the read side, asked once per
        batch; this batch's own assignments are added as they are made. Without it (or
        while the read side cannot answer), only this process's assignments count."""
        self.desk = desk
        self.numbers = NumberSequence(desk)
        self.replies = Replies(desk)
        self.open_load = open_load
        self.load: Counter[str] = Counter()
        self.received = 0  # new tickets stored by this process (repeats not counted)
        self.batch_seconds = Histogram()  # one store transaction per intake batch

    def register(self, requests: list[Request]) -> list[Registered]:
        """Store every request not stored before; report each one's ticket id. A reply
        to an existing ticket is recorded on it (`services.application.replies`)."""
        done: dict[int, Registered] = {}
        fresh: list[tuple[int, Request]] = []
        for index, request in enumerate(requests):
            reply = _reply_of(request)
            target = self.replies.target_of(reply) if reply else None
            if reply and target:
                done[index] = Registered(target, self.replies.record(reply, target))
            else:
                fresh.append((index, request))
        if fresh:
            registered = self._register_new([r for _, r in fresh])
            done.update(zip((i for i, _ in fresh), registered, strict=True))
        return [done[i] for i in range(len(requests))]

    def _register_new(self, requests: list[Request]) -> list[Registered]:
        started = time.monotonic()
        self._read_load()
        ids = [ticket_id_for(r.channel, r.body.external_id) for r in requests]
        unique = dict(zip(ids, requests, strict=True))  # a repeat inside the batch: once
        known: set[UUID] = set()
        for _ in range(ATTEMPTS):
            fresh = [(i, r) for i, r in unique.items() if i not in known]
            try:
                built = self._build(fresh)
                self.desk.save(*built)
                break
            except IntegrityError:
                # A ticket that exists already, or a number another writer took.
                known = {i for i in unique if self.desk.exists(i)}
                self.numbers.forget()
                time.sleep(random.uniform(0, 0.005))  # de-synchronise racing writers
        else:
            raise RuntimeError(f"intake batch not stored after {ATTEMPTS} attempts")
        self.batch_seconds.observe(time.monotonic() - started)
        tickets = [a for a in built if isinstance(a, Ticket)]
        self.received += len(tickets)
        for ticket in tickets:
            log.info(
                "registered %s (%s)",
                ticket.number,
                ticket.channel,
                extra=ticket_fields(
                    ticket.id,
                    ticket.number,
                    channel=ticket.channel,
                    type=ticket.type,
                    priority=ticket.priority,
                ),
            )
        return [Registered(i, i not in known) for i in ids]

    def _read_load(self) -> None:
        if self.open_load is None or not self.desk.policy.agents:
            return
        try:
            self.load = Counter(self.open_load())
        except Exception as error:  # the read side is rebuilding or away: keep counting
            log.warning("intake: agent load unavailable (%s); using this process's count", error)

    def _build(self, fresh: list[tuple[UUID, Request]]) -> list[Any]:
        now = self.desk.clock()
        day = now.astimezone(self.desk.policy.business_calendar.tz).date()
        aggregates: list[Any] = []
        # The keys exist (and index their tickets) before anything they seal is stored.
        subjects = [key_subject(r.body.customer.customer_id, i) for i, r in fresh]
        keys = self.desk.vault.issue(
            [(s, str(i)) for s, (i, _) in zip(subjects, fresh, strict=True)], now
        )
        for subject, (_, request) in zip(subjects, fresh, strict=True):
            number = self.numbers.take(day)
            ticket = self._receive(request, number, now, keys[subject])
            aggregates += (ticket, TicketNumber.register(number, ticket.id))
        return aggregates

    def _receive(self, request: Request, number: str, now: datetime, key: DataKey) -> Ticket:
        body = request.body
        received_at = body.received_at or request.arrived_at
        alert = body.alert.model_dump() if body.alert else None
        customer = body.customer.model_dump()
        sealed = key.seal(
            sealed_part(
                customer=customer,
                subject=body.subject,
                content=body.content,
                attachments=[a.model_dump() for a in body.attachments],
            )
        )
        ticket = Ticket.receive(
            channel=request.channel,
            external_id=body.external_id,
            number=number,
            received_at=received_at,
            alert=alert,
            at=now,
            key_id=key.key_id,
            sealed=sealed,
            **kept_part(customer=customer, subject=body.subject, content=body.content),
        )
        candidates = self._classify(ticket, body, now)
        self._auto_assign(ticket, candidates, now)
        policy = self.desk.policy
        escalate_media(ticket, f"{body.subject or ''} {body.content}", policy, SYSTEM, now)
        bring_in(ticket, policy, now)
        return ticket

    def _classify(self, ticket: Ticket, body: IntakeRequest, now: datetime) -> list[str]:
        """On the request's own words: the ticket keeps only their masked form."""
        policy = self.desk.policy
        ratio = (ticket.alert or {}).get("affected_ratio")
        found = policy.classifier.classify(
            body.content, subject=body.subject, alert_ratio=ratio, channel=ticket.channel
        )
        level = priority(found.urgency, found.impact, policy.priority)
        facts = Facts(
            found.type, found.category, level, found.urgency, found.impact, ticket.channel
        )
        sla = self.desk.planner.classified(ticket, facts, now)
        wanted = wanted_skills(
            type=found.type, category=found.category, channel=ticket.channel, text=body.content
        )
        candidates = propose(policy.agents, wanted, self.load, policy.assignment.proposals)
        ticket.classify(
            type=found.type,
            category=found.category,
            priority=level,
            urgency=found.urgency,
            impact=found.impact,
            reason=found.reason,
            sla=sla,
            actor=SYSTEM,
            at=now,
            candidates=candidates,
            demand=found.demand,
            mood=found.mood,
        )
        return candidates

    def _auto_assign(self, ticket: Ticket, candidates: list[str], now: datetime) -> None:
        """The best candidate takes the ticket, unless their team's lead chooses."""
        policy = self.desk.policy
        if not candidates:
            return
        best = next(a for a in policy.agents if a.id == candidates[0])
        if policy.team_mode(best.team) != "auto":
            return
        sla = self.desk.planner.assigned(ticket, now)
        ticket.assign(assignee=best.id, collaborators=[], sla=sla, actor=ASSIGNER, at=now)
        self.load[best.id] += 1


def _reply_of(request: Request) -> Reply | None:
    body = request.body
    if not (body.ticket or body.in_reply_to):
        return None
    return Reply(
        channel=request.channel,
        external_id=body.external_id,
        received_at=body.received_at or request.arrived_at,
        content=body.content,
        attachments=[a.model_dump() for a in body.attachments],
        ticket=body.ticket,
        in_reply_to=body.in_reply_to,
    )
