"""The `ticket` and `history` queries, replayed from the store.

`ticket` with `as_of` replays the events up to a version or a moment. `history`
reads the stored records themselves and verifies the hash chain on the way: a stored
byte changed (a record that no longer decrypts or decodes, or an event whose
predecessor's digest differs from the one it recorded) gives `verified: false`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from pydantic_core import to_jsonable_python

from domain import sla as sla_rules
from domain.calendar import BusinessCalendar
from domain.errors import NotFound
from domain.event_data import Reveal, event_data, event_name
from domain.personal_data import shown
from domain.roles import check_may_ask
from domain.sla_plan import version_of
from domain.team_scope import check_scope
from domain.ticket import Ticket, digest_of, event_digest
from services.application.desk import TicketDesk
from services.application.messages import Actor, HistoryQuery, TicketQuery


class Head(Protocol):
    """The newest event of a ticket the event stream holds."""

    @property
    def version(self) -> int: ...

    @property
    def digest(self) -> str | None: ...


Witness = Callable[[str], Head | None]


def role_checked(answers: dict[str, Callable[[Any], dict]]) -> dict[str, Callable[[Any], dict]]:
    """Each answer refusing a role that may not ask it, when the query names its actor
    (the console and the HTTP API always do; on NATS the role's subjects decide)."""

    def checked(name: str, answer: Callable[[Any], dict]) -> Callable[[Any], dict]:
        def ask(query: Any) -> dict:
            actor = getattr(query, "actor", None)
            if actor is not None:
                check_may_ask(name, actor.role)
            return answer(query)

        return ask

    return {name: checked(name, answer) for name, answer in answers.items()}


class QueryService:
    def __init__(self, desk: TicketDesk, witness: Witness | None = None) -> None:
        """`witness`: the newest version and digest the event stream holds for a
        ticket (infra.chain_witness), so that `history` can vouch for the last event."""
        self.desk = desk
        self.witness = witness

    def ticket(self, q: TicketQuery) -> dict:
        ticket_id = self.desk.resolve(q.ticket_id, q.number)
        self._check_scope(ticket_id, q.actor)
        if isinstance(q.as_of, int):
            ticket = self.desk.load(ticket_id, version=q.as_of)
            if ticket.version != q.as_of:
                raise NotFound(f"the ticket has no version {q.as_of}")
            moment = ticket.modified_on
        elif isinstance(q.as_of, datetime):
            ticket, moment = self._as_at(ticket_id, q.as_of), q.as_of
        else:
            ticket, moment = self.desk.load(ticket_id), self.desk.clock()
        return {"ok": True, "ticket": to_jsonable_python(self.view(ticket, moment))}

    def _check_scope(self, ticket_id: UUID, actor: Actor | None) -> None:
        """An agent or supervisor the directory lists reads only what they may work on: their team's
        queue, the shared queue, and the tickets they hold or help with."""
        if actor is None or actor.role not in ("agent", "supervisor"):
            return
        t = self.desk.load(ticket_id)
        check_scope(
            self.desk.policy.agents,
            self.desk.policy.teams,
            actor.value(),
            assignee=t.assignee,
            collaborators=t.collaborators,
            type=t.type,
            category=t.category,
        )

    def _as_at(self, ticket_id: UUID, moment: datetime) -> Ticket:
        ticket: Any = None
        event: Any
        for event in self.desk.events.get(ticket_id):
            if event.timestamp > moment:
                break
            ticket = event.mutate(ticket)
        if ticket is None:
            raise NotFound(f"ticket {ticket_id} did not exist at {moment.isoformat()}")
        return ticket

    def view(self, t: Ticket, now: datetime) -> dict:
        clock_at = t.paused_at or now  # a paused clock stands still
        calendar = self.desk.policy.business_calendar
        share = self.desk.policy.goals.at_risk_share
        return {
            "ticket_id": str(t.id),
            "number": t.number,
            "version": t.version,
            "status": t.status,
            "channel": t.channel,
            "external_id": t.external_id,
            "received_at": t.received_at,
            "type": t.type,
            "category": t.category,
            "priority": t.priority,
            "urgency": t.urgency,
            "impact": t.impact,
            "assignee": t.assignee,
            "collaborators": t.collaborators,
            "candidates": t.candidates,
            "linked": t.linked,
            **self._personal(t),
            "alert": t.alert,
            "escalation_level": t.escalation_level,
            "resolution": t.resolution,
            "score": t.score,
            "reopen_count": t.reopen_count,
            "demand": t.demand,
            "mood": t.mood,
            "confirmed": t.confirmed,
            "contacts": t.contacts,
            "declined_by": t.declined_by,
            "departments": t.departments,
            "involved": t.involved,
            "analysis": t.analysis,
            "solution": t.solution,
            "submitted": t.submitted,
            "batch": t.batch,
            "dimensions": t.dimensions,
            "updated_at": t.modified_on,
            "sla": {
                name: _target_view(name, target, clock_at, calendar, share)
                for name, target in t.sla.items()
            },
        }

    def _personal(self, t: Ticket) -> dict:
        """`customer`, `subject`, `content`, `attachments`: opened with the customer's
        key while it exists, erased after (domain.personal_data)."""
        fields = {
            "customer": t.customer,
            "subject": t.subject,
            "content": t.content,
            "attachments": t.attachments,
            "sealed": t.sealed,
        }
        opened = None
        if t.sealed is not None and t.key_id is not None and not t.personal_erased:
            opened = self.desk.reveal(t.key_id, t.sealed)
        return shown(fields, opened, t.personal_erased)

    def history(self, q: HistoryQuery) -> dict:
        ticket_id = self.desk.resolve(q.ticket_id, q.number)
        self._check_scope(ticket_id, q.actor)
        stored = self.desk.recorder.select_events(ticket_id)
        if not stored:
            raise NotFound(f"no ticket {ticket_id}")
        events: list[Any] = []  # events, or a dict for a record that did not read
        verified, before = True, {""}  # the digests the next event's `prev` may name
        digests: dict[int, set[str]] = {}  # version -> the digests it may have
        for expected_version, record in enumerate(stored, start=1):
            try:
                event, forms = self._read(record)
            except Exception as error:
                events.append(
                    {
                        "version": record.originator_version,
                        "type": None,
                        "error": f"unreadable stored event: {type(error).__name__}",
                    }
                )
                verified, before = False, set()
                continue
            if event.originator_version != expected_version or event.prev not in before:
                verified = False
            before = digests[event.originator_version] = forms
            events.append(event)
        tail = self._tail(ticket_id, len(stored), digests)
        verified = verified and tail["verified"] is not False
        erased = any(
            event_name(e) == "PersonalDataErased" for e in events if not isinstance(e, dict)
        )
        events = [
            e if isinstance(e, dict) else _history_entry(e, self.desk.reveal, erased)
            for e in events
        ]
        return {
            "ok": True,
            "ticket_id": str(ticket_id),
            "events": to_jsonable_python(events),
            "verified": verified,
            "tail": tail,
        }

    def _tail(self, ticket_id: UUID, last: int, digests: dict[int, set[str]]) -> dict:
        """The store's tail against the stream's: `verified` true (the stream's newest
        event is the store's, digest and all), false (the store lost or changed it), or
        null (no witness, or nothing published yet)."""
        if self.witness is None:
            return {"verified": None, "reason": "no event stream to compare with"}
        try:
            head = self.witness(str(ticket_id))
        except Exception as error:  # the stream is away: the chain alone speaks
            return {"verified": None, "reason": f"the event stream did not answer: {error}"}
        if head is None:
            return {"verified": None, "reason": "no event of this ticket on the stream yet"}
        if head.version > last:  # stored (and published) while this query read the store?
            for record in self.desk.recorder.select_events(ticket_id, gt=last):
                digests[record.originator_version] = self._read(record)[1]
                last = max(last, record.originator_version)
        if head.version > last:
            reason = f"the stream holds version {head.version}; the store ends at {last}"
            return {"verified": False, "stream_version": head.version, "reason": reason}
        if head.digest is not None and head.digest not in digests.get(head.version, set()):
            reason = f"version {head.version} differs from the event the stream holds"
            return {"verified": False, "stream_version": head.version, "reason": reason}
        return {"verified": True, "stream_version": head.version, "reason": "matches the stream"}

    def _read(self, record: Any) -> tuple[Any, set[str]]:
        """A stored record as an event, and the digests the next event's `prev` may
        name: as this code sees it, and as it was recorded (before any upcasting)."""
        event: Any = self.desk.mapper.to_domain_event(record)
        as_recorded = digest_of(type(event).__name__, self._recorded_fields(record))
        return event, {event_digest(event), as_recorded}

    def _recorded_fields(self, record: Any) -> dict:
        """The event's fields as they were recorded, before any upcasting."""
        mapper = self.desk.mapper
        state = mapper.cipher.decrypt(record.state) if mapper.cipher else record.state
        fields = mapper.transcoder.decode(state)
        fields.pop("class_version", None)
        fields["originator_id"] = record.originator_id
        fields["originator_version"] = record.originator_version
        return fields


def _target_view(
    name: str, target: dict, now: datetime, calendar: BusinessCalendar, share: float
) -> dict:
    return {
        "due": target.get("due"),
        "state": sla_rules.state(target, now, calendar, share),
        "clock": target["clock"],
        "duration": target["duration"],
        "met_at": target.get("met_at"),
        "policy_version": version_of(name, target),
    }


def _history_entry(event: Any, reveal: Reveal, erased: bool) -> dict:
    data = event_data(event, reveal, erased)
    return {
        "version": event.originator_version,
        "type": event_name(event),
        "time": event.timestamp,
        "actor": data.pop("actor", None),
        "data": data,
    }
