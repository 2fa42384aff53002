"""Forgetting a customer, and the retention purge (docs/process.md).

An erasure first records `PersonalDataErased` on every ticket the subject's keys
sealed (who, when, why: the history shows it), then destroys the key. Events are
never deleted: the history, the numbers and the statistics stay; only the personal
data becomes unreadable. Both steps are idempotent, so an erasure cut short (a
crash between them) is finished by running it again; the purge does so by itself,
since the key it left behind still looks expired.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from domain.actor import Actor
from domain.errors import NotFound
from domain.personal_data import key_subject
from domain.retention import at_least, expires_at
from domain.ticket import Ticket
from services.application.desk import TicketDesk

log = logging.getLogger("ticketflow.erasure")
RETENTION = Actor.system("retention")


@dataclass(frozen=True)
class Erasure:
    subject: str  # customer:<id> or ticket:<id>
    tickets: list[dict]  # {"ticket_id", "number"} of every ticket it covers
    erased: int  # tickets that got their PersonalDataErased now (0 when run again)

    def reply(self) -> dict:
        return {"ok": True, "subject": self.subject, "tickets": self.tickets, "erased": self.erased}


class Eraser:
    def __init__(self, desk: TicketDesk) -> None:
        self.desk = desk

    def subject_of_ticket(self, ticket_id: UUID) -> str:
        """Naming a ticket forgets whose key sealed it: its customer (all their
        tickets) when it has a customer id, else the ticket alone."""
        ticket = self.desk.load(ticket_id)
        return self.desk.vault.subject_of(str(ticket_id)) or key_subject(
            ticket.customer.get("customer_id"), ticket_id
        )

    def forget(
        self, subject: str, *, basis: str, reason: str, actor: Actor, also: tuple[str, ...] = ()
    ) -> Erasure:
        """Erase the subject's personal data; `also`: tickets to cover besides those its
        keys sealed (one received before sealing existed)."""
        vault = self.desk.vault
        listed = sorted({*vault.tickets_of(subject), *also})
        if not listed and not vault.has_key(subject):
            raise NotFound(f"no personal data of {subject}")
        erased = self._record(listed, basis, reason, actor)
        vault.destroy(subject)
        # A ticket sealed with the key while this ran: it reads as erased, record it too.
        late = [t for t in vault.tickets_of(subject) if t not in listed]
        erased += self._record(late, basis, reason, actor)
        tickets = [self._ref(t) for t in [*listed, *late]]
        log.info(
            "personal data of %s erased (%s): %d tickets",
            subject,
            basis,
            len(tickets),
            extra={"subject": subject, "basis": basis, "actor": actor.record()},
        )
        return Erasure(subject, [t for t in tickets if t], erased)

    def _record(self, ticket_ids: list[str], basis: str, reason: str, actor: Actor) -> int:
        return sum(
            self._erase(UUID(t), basis, reason, actor)
            for t in ticket_ids
            if self.desk.exists(UUID(t))
        )  # a key issued, its ticket never stored

    def _erase(self, ticket_id: UUID, basis: str, reason: str, actor: Actor) -> bool:
        done: list[bool] = []

        def erase(t: Ticket) -> None:
            done.clear()  # a retry acts again on the fresh ticket
            if not t.personal_erased:
                t.erase_personal_data(basis=basis, reason=reason, actor=actor, at=self.desk.clock())
                done.append(True)

        self.desk.change(ticket_id, erase)
        return bool(done)

    def _ref(self, ticket_id: str) -> dict | None:
        if not self.desk.exists(UUID(ticket_id)):
            return None
        return {"ticket_id": ticket_id, "number": self.desk.load(UUID(ticket_id)).number}

    # ---- retention ----------------------------------------------------------------------

    def expired(self, now: datetime) -> list[str]:
        """Subjects whose personal data is past the retention period at `now`."""
        config = self.desk.policy.retention
        cutoff = now - at_least(config.personal_data)
        due = []
        for subject in self.desk.vault.unused_since(cutoff):
            facts = [_facts(t) for t in self._tickets(subject)]
            moment = expires_at(config, facts) if facts else now  # sealed nothing stored
            if moment is not None and moment <= now:
                due.append(subject)
        return due

    def purge(self, now: datetime, dry_run: bool = False) -> list[Erasure]:
        due = self.expired(now)
        if dry_run:
            return [
                Erasure(s, [self._ref(str(t.id)) or {} for t in self._tickets(s)], 0) for s in due
            ]
        reason = f"retention: closed more than {self.desk.policy.retention.personal_data} ago"
        return [self.forget(s, basis="retention", reason=reason, actor=RETENTION) for s in due]

    def _tickets(self, subject: str) -> list[Ticket]:
        return [
            self.desk.load(UUID(t))
            for t in self.desk.vault.tickets_of(subject)
            if self.desk.exists(UUID(t))
        ]


def _facts(t: Ticket) -> dict:
    return {
        "closed_at": t.closed_at if t.status == "closed" else None,
        "received_at": t.received_at,
        "type": t.type,
    }
