"""The customer's replies: a message about an existing ticket is recorded on it.

An intake request names the ticket it answers by `ticket` (its id or number) or by
`in_reply_to` (the channel's id of an earlier message of the thread: the ticket's own
first message or an earlier reply). It is then recorded on that ticket as
`CustomerReplied`, not as a new ticket:
- a ticket waiting on the customer resumes, its targets moved on by the wait;
- a closed ticket is reopened first, if it closed within the policy's
  `customer.reply_reopens_within`; a reply after that becomes a new ticket;
- the customer's Nth contact about one open ticket (`customer.contacts_escalate_at`,
  the first request counting as one) escalates it to the supervisor as
  `customer_not_calmed`.
A reference that names no ticket also makes a new ticket: the customer's words are
never lost for an adapter's mistake. The same `<channel>:<external_id>` is recorded
once, whether it became a ticket or a reply (`domain.thread`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from domain.actor import Actor
from domain.calendar import parse_duration
from domain.errors import Conflict, Invalid, NotFound
from domain.masking import mask_text
from domain.thread import ThreadEntry
from domain.ticket import Ticket, ticket_id_for
from services.application.desk import SAVE_RETRIES, TicketDesk
from services.application.involvement import escalate_to

log = logging.getLogger("ticketflow.intake")
CALMING = Actor.system("customer-contacts")


@dataclass(frozen=True)
class Reply:
    channel: str
    external_id: str
    received_at: datetime
    content: str
    attachments: list[dict]
    ticket: str | None  # the ticket's id or number, as the request named it
    in_reply_to: str | None


class Replies:
    def __init__(self, desk: TicketDesk) -> None:
        self.desk = desk

    def target_of(self, reply: Reply) -> UUID | None:
        """The ticket this request answers, or None: it becomes a new ticket."""
        ticket_id = self._named(reply.ticket) if reply.ticket else None
        if ticket_id is None and reply.in_reply_to:
            ticket_id = self._thread(reply.channel, reply.in_reply_to)
        if ticket_id is None:
            return None
        try:
            ticket = self.desk.load(ticket_id)
        except NotFound:
            return None
        return ticket_id if self._accepts(ticket) else None

    def record(self, reply: Reply, ticket_id: UUID) -> bool:
        """Record the reply on the ticket; False when it was recorded before."""
        own_id = ticket_id_for(reply.channel, reply.external_id)
        for _ in range(SAVE_RETRIES):
            if self.desk.exists(own_id):
                return False
            ticket = self.desk.load(ticket_id)
            self._reply(ticket, reply, self.desk.clock())
            try:
                self.desk.save(
                    ticket, ThreadEntry.record(reply.channel, reply.external_id, ticket_id)
                )
            except IntegrityError:
                continue  # the ticket changed meanwhile, or the reply was just recorded
            log.info("customer replied on %s (%s)", ticket.number, reply.channel)
            return True
        raise Conflict(f"the ticket kept changing; gave up after {SAVE_RETRIES} tries")

    # ---- finding the ticket ------------------------------------------------------------

    def _named(self, ref: str) -> UUID | None:
        try:
            UUID(ref)
            return self.desk.resolve(ticket_id=ref)
        except (ValueError, Invalid):
            pass
        try:
            return self.desk.resolve(number=ref)
        except NotFound:
            return None

    def _thread(self, channel: str, message_id: str) -> UUID | None:
        try:
            found: Any = self.desk.get(ticket_id_for(channel, message_id))
        except AggregateNotFoundError:
            return None
        if isinstance(found, ThreadEntry):
            return found.ticket_id
        return found.id if isinstance(found, Ticket) else None

    def _accepts(self, ticket: Ticket) -> bool:
        if ticket.status != "closed" or ticket.closed_at is None:
            return True
        window = parse_duration(self.desk.policy.customer.reply_reopens_within)
        calendar = self.desk.policy.business_calendar
        return self.desk.clock() <= calendar.due(ticket.closed_at, window, "wall")

    # ---- recording ---------------------------------------------------------------------

    def _reply(self, t: Ticket, reply: Reply, now: datetime) -> None:
        policy = self.desk.policy
        customer = Actor(reply.channel, "channel")
        if t.status == "closed":  # within the window: the problem remains
            sla = self.desk.planner.reopened(t, now)
            t.reopen(
                reason="the customer replied: the problem remains", sla=sla, actor=customer, at=now
            )
        key = self.desk.vault.key(t.key_id) if t.key_id else None
        sealed = (
            key.seal({"content": reply.content, "attachments": reply.attachments}) if key else None
        )
        t.reply(
            channel=reply.channel,
            external_id=reply.external_id,
            received_at=reply.received_at,
            content=mask_text(reply.content),
            key_id=key.key_id if key else None,
            sealed=sealed,
            sla=self.desk.planner.replied(t, now),
            at=now,
        )
        if t.contacts + 1 == policy.customer.contacts_escalate_at:
            escalate_to(
                t, policy, "supervisor", reason="customer_not_calmed", actor=CALMING, now=now
            )
