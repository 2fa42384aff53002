"""The Ticket aggregate and its events: the facts of one customer request.

Events are facts, past tense. Their `apply` bodies run again on every replay, so
they hold no clock, no ids, no IO: every time and due instant is worked out in the
command method (or by the application, from the policy) and handed in.

Each event carries `prev`, the digest of the event before it, and applying an event
sets `chain_head` to its own digest: a hash chain that `history` verifies on read.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate

from domain.actor import Actor
from domain.classifier import DEMANDS, MOODS
from domain.errors import Forbidden, IllegalState, Invalid

# Targets a customer-visible update answers (once running): the first response, the
# feedback owed after a transfer to a department, and a feedback time promised earlier.
ANSWERED_BY_CUSTOMER_UPDATE = ("first_response", "transferred", "promised_feedback", "batched")
AFTER_CLOSING = ("follow_up", "confirmation")  # targets that run after a ticket closes
TICKET_NAMESPACE = UUID("6f1f6f0e-7a53-4d7c-9a0e-2d8c1f8e6b11")
STATUSES = ("open", "assigned", "in_progress", "waiting_on_customer", "closed")


def ticket_id_for(channel: str, external_id: str) -> UUID:
    """The same `<channel>:<external_id>` always names the same ticket (idempotent intake)."""
    return uuid5(TICKET_NAMESPACE, f"{channel}:{external_id}")


SOLUTIONS = ("fix", "product_improvement", "external")


def _check_solution(solution: str | None, scheduled_for: datetime | None) -> None:
    if solution is not None and solution not in SOLUTIONS:
        raise Invalid(f"solution {solution!r} is not one of {', '.join(SOLUTIONS)}")
    if (solution == "product_improvement") != (scheduled_for is not None):
        raise Invalid("a product improvement, and only it, names its schedule (scheduled_for)")


def department_target(request_id: str) -> str:
    """The target of one request to another department."""
    return f"department:{request_id}"


def breach_key(target: str, due: datetime | None, level: str) -> str:
    return f"{target}@{due.isoformat() if due else ''}:{level}"


def digest_of(name: str, fields: dict) -> str:
    """SHA-256 over an event's name and every field, in a canonical JSON form."""
    body = {"event": name, **fields}
    text = json.dumps(body, sort_keys=True, default=str, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def event_digest(event: Any) -> str:
    """The digest of an event as this code sees it. An event recorded under an older
    schema and upcast on reading has a different one than it had when recorded, so a
    verifier accepts either form (see `services.application.queries.history`)."""
    return digest_of(type(event).__name__, vars(event))


class ChainedEvent(Aggregate.Event):
    """An event of a hash-chained aggregate (a ticket, a problem, an article): who did
    it, and `prev`, the digest of the event before it; applied, it becomes the
    aggregate's `chain_head`, the `prev` of the next."""

    actor: dict  # an Actor's record(): {"id", "role"}
    prev: str

    def mutate(self, aggregate: Any) -> Any:
        aggregate = super().mutate(aggregate)
        aggregate.chain_head = event_digest(self)
        return aggregate


def project_chain(aggregate: Any, events: Iterable[Any]) -> Any:
    """The aggregate after `events`, as the library's projector makes it, for less: a
    chained event's digest is worked out only where it ends up as `chain_head` (no
    event's `apply` reads it), and there is no runtime-protocol check per event."""
    pending = None  # the chained event applied last, its digest not yet worked out
    for event in events:
        if isinstance(event, ChainedEvent):
            aggregate = super(ChainedEvent, event).mutate(aggregate)
            pending = event
        else:
            if pending is not None and aggregate is not None:
                aggregate.chain_head = event_digest(pending)
            pending = None
            aggregate = event.mutate(aggregate)
    if pending is not None and aggregate is not None:
        aggregate.chain_head = event_digest(pending)
    return aggregate


class Ticket(Aggregate):
    """One customer request, from Received to Closed (and Reopened, and Rated)."""

    class Event(ChainedEvent):
        pass

    class Received(Event, Aggregate.Created):
        """v2: the personal data is `sealed` under the key `key_id` (domain.personal_data);
        `customer`, `subject`, `content` keep only what stays readable. A v1 event held
        them in the clear and has no key."""

        class_version = 2
        channel: str
        external_id: str
        number: str
        received_at: datetime
        customer: dict
        subject: str | None
        content: str
        attachments: list
        alert: dict | None
        key_id: str | None
        sealed: str | None

        @staticmethod
        def upcast_v1_v2(state: dict) -> None:
            state["key_id"] = state["sealed"] = None

        def apply(self, t: Ticket) -> None:
            t.channel, t.external_id, t.number = self.channel, self.external_id, self.number
            t.received_at, t.customer, t.subject = self.received_at, self.customer, self.subject
            t.content, t.attachments, t.alert = self.content, self.attachments, self.alert
            t.key_id, t.sealed = self.key_id, self.sealed

    class Classified(Event):
        """v2: the customer's `demand` and `mood` (the communication record), detected
        from the request or corrected by an agent. A v1 event has neither (None)."""

        class_version = 2
        number: str
        type: str
        category: str
        priority: str
        urgency: str
        impact: str
        reason: str
        sla: dict  # target -> {"clock", "duration", "started_at", "due"}
        candidates: list  # agents proposed for the ticket, best first
        demand: str | None
        mood: str | None

        @staticmethod
        def upcast_v1_v2(state: dict) -> None:
            state["demand"] = state["mood"] = None

        def apply(self, t: Ticket) -> None:
            t.type, t.category, t.priority = self.type, self.category, self.priority
            t.demand, t.mood = self.demand, self.mood
            t.candidates = self.candidates
            t.urgency, t.impact = self.urgency, self.impact
            t._replan(self.sla)

    class ImpactRaised(Event):
        """Several customers report the same problem (group impact): the
        impact widens, priority follows the urgency × impact matrix, tickets are linked."""

        number: str
        impact: str
        priority: str
        linked: list  # ticket ids reporting the same problem
        reason: str
        sla: dict

        def apply(self, t: Ticket) -> None:
            t.impact, t.priority = self.impact, self.priority
            t.linked = sorted(set(t.linked) | set(self.linked) - {str(t.id)})
            t._replan(self.sla)

    class Assigned(Event):
        number: str
        assignee: str
        collaborators: list
        sla: dict  # the acknowledge (and assignment) targets started by this assignment

        def apply(self, t: Ticket) -> None:
            t.assignee, t.collaborators = self.assignee, self.collaborators
            t.acknowledged = False
            t.status = "assigned" if t.status != "waiting_on_customer" else t.status
            t._meet("assignment", self.timestamp)
            t._start(self.sla)

    class Acknowledged(Event):
        number: str

        def apply(self, t: Ticket) -> None:
            t.acknowledged = True
            t.status = "in_progress" if t.status == "assigned" else t.status
            t._meet("acknowledge", self.timestamp)

    class ProgressUpdated(Event):
        """v2: `attachments` (evidence: `{"name", "url"}` each); a v1 event has none.
        v3: `article`, the knowledge-base article the note was taken from
        (`{"article_id", "number", "version", "title", "reply"}`), else None.
        A customer-visible update answers the first response, a transferred request and
        a promise made earlier; its `sla` may start a new promise (`promised_feedback`)."""

        class_version = 3
        number: str
        note: str
        visibility: str
        next_step: str | None
        expected_done_at: datetime | None
        waiting_on_customer: bool
        sla: dict  # targets (re)started or shifted by this update (cadence, pause, promise)
        attachments: list
        compensation: float | None  # promised to the customer, in the policy's currency
        article: dict | None  # the article answered with

        @staticmethod
        def upcast_v1_v2(state: dict) -> None:
            state["attachments"] = []
            state["compensation"] = None

        @staticmethod
        def upcast_v2_v3(state: dict) -> None:
            state["article"] = None

        def apply(self, t: Ticket) -> None:
            if self.visibility == "customer":
                for target in ANSWERED_BY_CUSTOMER_UPDATE:
                    if t.sla.get(target, {}).get("started_at"):
                        t._meet(target, self.timestamp)
            t._start(self.sla)
            if self.waiting_on_customer:  # still waiting: the pause began with the first
                t.status, t.paused_at = "waiting_on_customer", t.paused_at or self.timestamp
            else:
                t.paused_at = None
                t.status = "in_progress" if t.assignee else "open"

    class Escalated(Event):
        """v3: `to`, the person it reaches (the handler's supervisor, the team's manager;
        None when the policy names nobody)."""

        class_version = 3
        number: str
        level: str
        reason: str
        target: str | None
        due: datetime | None  # the breached due instant: each breach escalates once per level
        to: str | None

        @staticmethod
        def upcast_v1_v2(state: dict) -> None:
            state["due"] = None

        @staticmethod
        def upcast_v2_v3(state: dict) -> None:
            state["to"] = None

        def apply(self, t: Ticket) -> None:
            t.escalation_level = self.level
            if self.target:
                t.escalated_targets = [
                    *t.escalated_targets,
                    breach_key(self.target, self.due, self.level),
                ]

    class Involved(Event):
        """The process brought someone in as a collaborator: a complaint its supervisor,
        an urgent ticket its manager (to coordinate). The event is their notice."""

        number: str
        person: str
        role: str
        reason: str

        def apply(self, t: Ticket) -> None:
            if self.person not in t.collaborators:
                t.collaborators = [*t.collaborators, self.person]
            t.involved = {**t.involved, self.person: self.role}

    class SuggestionBatched(Event):
        """A suggestion joined its month's batch for the product team; the feedback
        owed to the customer (`batched`) runs from now."""

        number: str
        batch: str  # the month, "2026-11"
        sla: dict

        def apply(self, t: Ticket) -> None:
            t.batch = self.batch
            t._start(self.sla)

    class Declined(Event):
        """The assignee cannot take the ticket: it goes back to the queue, and the
        assignment target runs again from now."""

        number: str
        reason: str
        sla: dict  # the assignment target restarted; acknowledge waits for the next one

        def apply(self, t: Ticket) -> None:
            t.declined_by = [*t.declined_by, t.assignee] if t.assignee else t.declined_by
            t.assignee, t.acknowledged = None, False
            if t.status != "waiting_on_customer":
                t.status = "open"
            t._start(self.sla)

    class CustomerReplied(Event):
        """The customer wrote again about this ticket (by its id or number, or the
        channel's thread): recorded here, not as a new ticket. The text is kept masked
        and sealed verbatim under the ticket's key, as at intake. A reply ends a wait
        on the customer (`sla` holds the targets moved on by the wait)."""

        number: str
        channel: str
        external_id: str
        received_at: datetime
        content: str
        key_id: str | None
        sealed: str | None
        sla: dict

        def apply(self, t: Ticket) -> None:
            t.contacts += 1
            if t.status == "waiting_on_customer":
                t.paused_at = None
                t.status = "in_progress" if t.assignee else "open"
            t._start(self.sla)

    class DepartmentRequested(Event):
        """The handler asked another department for something, due by `due`; the
        request is a target of its own (`department:<request_id>`)."""

        number: str
        request_id: str
        department: str
        ask: str
        due: datetime
        sla: dict

        def apply(self, t: Ticket) -> None:
            t.departments = {
                **t.departments,
                self.request_id: {"department": self.department, "answered": False},
            }
            t._start(self.sla)

    class DepartmentAnswered(Event):
        number: str
        request_id: str
        answer: str

        def apply(self, t: Ticket) -> None:
            asked = t.departments[self.request_id]
            t.departments = {**t.departments, self.request_id: {**asked, "answered": True}}
            t._meet(department_target(self.request_id), self.timestamp)

    class Analysed(Event):
        """The handler's preliminary analysis (初步分析): it meets the `analysis` target."""

        number: str
        analysis: str

        def apply(self, t: Ticket) -> None:
            t.analysis = self.analysis
            t._meet("analysis", self.timestamp)

    class ResolutionSubmitted(Event):
        """The handler's resolution statement, waiting for review before the ticket
        closes (where the policy asks for one)."""

        number: str
        resolution: str
        solution: str | None
        scheduled_for: datetime | None

        def apply(self, t: Ticket) -> None:
            t.submitted = {
                "resolution": self.resolution,
                "solution": self.solution,
                "scheduled_for": self.scheduled_for,
                "by": self.actor["id"],
            }

    class ResolutionReviewed(Event):
        """A reviewer approved the statement (a `Closed` follows) or sent it back."""

        number: str
        approved: bool
        comment: str | None

        def apply(self, t: Ticket) -> None:
            t.submitted = None

    class Closed(Event):
        """v3: the kind of `solution` (`fix`, `product_improvement` with its
        `scheduled_for`, `external`), None in older versions or when not said."""

        class_version = 3
        number: str
        resolution: str
        handling_seconds: float
        sla: dict  # the follow-up visit target, for high-priority tickets
        solution: str | None
        scheduled_for: datetime | None

        @staticmethod
        def upcast_v1_v2(state: dict) -> None:
            state["sla"] = {}

        @staticmethod
        def upcast_v2_v3(state: dict) -> None:
            state["solution"] = state["scheduled_for"] = None

        def apply(self, t: Ticket) -> None:
            t.status, t.resolution, t.paused_at, t.rated = "closed", self.resolution, None, False
            t.confirmed, t.solution, t.submitted = False, self.solution, None
            t.closed_at = self.timestamp
            for target in list(t.sla):  # the final result answers every open target
                t._meet(target, self.timestamp)
            t._start(self.sla)

    class Confirmed(Event):
        """The customer accepted the result of the closed ticket (or the policy's
        period passed without an answer: `automatic`)."""

        number: str
        comment: str | None
        automatic: bool

        def apply(self, t: Ticket) -> None:
            t.confirmed = True
            t._meet("confirmation", self.timestamp)

    class FollowedUp(Event):
        number: str
        note: str

        def apply(self, t: Ticket) -> None:
            t._meet("follow_up", self.timestamp)

    class Rated(Event):
        """v2: `dimensions`, a score (1-5) per dimension of the policy; {} in v1."""

        class_version = 2
        number: str
        score: int
        comment: str | None
        dimensions: dict

        @staticmethod
        def upcast_v1_v2(state: dict) -> None:
            state["dimensions"] = {}

        def apply(self, t: Ticket) -> None:
            t.score, t.rated, t.dimensions = self.score, True, self.dimensions

    class Reopened(Event):
        number: str
        reason: str
        sla: dict

        def apply(self, t: Ticket) -> None:
            t.status = "assigned" if t.assignee else "open"
            t.reopen_count += 1
            t.closed_at = None
            for target in AFTER_CLOSING:  # they follow the next closing, if any
                t.sla.pop(target, None)
            t._start(self.sla)

    class SlaReplanned(Event):
        """A manager applied the policy the service now runs (`to_version`) to this open
        ticket. `new` holds the targets (re)planned, `dropped` those the policy no longer
        has, `old` what both were before. Settled targets (met, or past their due) are
        never re-planned, so past outcomes stay as recorded; a dropped target's
        escalations (`withdrawn`, their breach keys) are withdrawn."""

        number: str
        old: dict
        new: dict
        dropped: list
        withdrawn: list
        to_version: str

        def apply(self, t: Ticket) -> None:
            for name in self.dropped:
                t.sla.pop(name, None)
            t._start(self.new)
            t.escalated_targets = [k for k in t.escalated_targets if k not in self.withdrawn]

    class PersonalDataErased(Event):
        """The customer's personal data was destroyed (docs/process.md): on request, or by the
        retention policy. The key is destroyed after this is recorded; the history,
        the number and the statistics stay."""

        number: str
        basis: str  # "request" or "retention"
        reason: str

        def apply(self, t: Ticket) -> None:
            t.personal_erased = True

    class ContactRevealed(Event):
        """Someone saw the customer's contact data unmasked (who, when and why stay in
        the history; the data itself is not in the event)."""

        number: str
        reason: str

        def apply(self, t: Ticket) -> None:
            pass  # a fact for the record: the ticket's state does not change

    # ---- state ------------------------------------------------------------------

    chain_head: str = ""
    key_id: str | None = None  # a ticket received before sealing existed has none
    sealed: str | None = None
    personal_erased: bool = False
    if TYPE_CHECKING:  # set by Received.apply; declared for the type checker only
        channel: str
        external_id: str
        number: str
        received_at: datetime
        customer: dict
        subject: str | None
        content: str
        attachments: list
        alert: dict | None

    def __init__(self, **_: Any) -> None:
        self.status = "open"
        self.type: str | None = None
        self.category: str | None = None
        self.priority: str | None = None
        self.urgency: str | None = None
        self.impact: str | None = None
        self.assignee: str | None = None
        self.candidates: list[str] = []
        self.linked: list[str] = []
        self.collaborators: list[str] = []
        self.acknowledged = False
        self.sla: dict[str, dict] = {}
        self.paused_at: datetime | None = None
        self.escalation_level: str | None = None
        self.escalated_targets: list[str] = []
        self.resolution: str | None = None
        self.closed_at: datetime | None = None
        self.score: int | None = None
        self.rated = False
        self.reopen_count = 0
        self.demand: str | None = None
        self.mood: str | None = None
        self.confirmed = False
        self.contacts = 0  # the customer's replies about this ticket
        self.declined_by: list[str] = []
        self.departments: dict[str, dict] = {}  # request id -> {"department", "answered"}
        self.involved: dict[str, str] = {}  # person -> role, brought in by the process
        self.analysis: str | None = None
        self.solution: str | None = None
        self.submitted: dict | None = None  # a resolution statement waiting for review
        self.dimensions: dict[str, int] = {}  # the last rating's score per dimension
        self.batch: str | None = None  # a suggestion's monthly batch

    def _replan(self, sla: dict) -> None:
        """New targets from a (re)classification; those already met stay met."""
        met = {k: v["met_at"] for k, v in self.sla.items() if v.get("met_at") and k in sla}
        self.sla = {k: {**v, "met_at": met.get(k)} for k, v in sla.items()}

    def _meet(self, target: str, at: datetime) -> None:
        if target in self.sla and not self.sla[target].get("met_at"):
            self.sla[target] = {**self.sla[target], "met_at": at}

    def _start(self, targets: dict) -> None:
        for name, target in targets.items():
            self.sla[name] = {**target, "met_at": None}

    # ---- commands -----------------------------------------------------------------

    @classmethod
    def receive(
        cls,
        *,
        channel: str,
        external_id: str,
        number: str,
        received_at: datetime,
        customer: dict,
        subject: str | None,
        content: str,
        attachments: list,
        alert: dict | None,
        at: datetime,
        key_id: str | None = None,
        sealed: str | None = None,
    ) -> Ticket:
        """With `sealed`, the personal fields given are the kept part (see
        domain.personal_data); the caller sealed the rest under `key_id`."""
        if not content.strip():
            raise Invalid("content is blank")
        return cls._create(
            cls.Received,
            id=ticket_id_for(channel, external_id),
            timestamp=at,
            prev="",
            actor=Actor(channel, "channel").record(),
            channel=channel,
            external_id=external_id,
            number=number,
            received_at=received_at,
            customer=customer,
            subject=subject,
            content=content,
            attachments=attachments,
            alert=alert,
            key_id=key_id,
            sealed=sealed,
        )

    def _record(self, event_class: type, *, actor: Actor, at: datetime, **fields: Any) -> None:
        self.trigger_event(
            event_class,
            timestamp=at,
            actor=actor.record(),
            prev=self.chain_head,
            number=self.number,
            **fields,
        )

    def _require_open(self, action: str) -> None:
        if self.status == "closed":
            raise IllegalState(f"cannot {action} a closed ticket")

    def classify(
        self,
        *,
        type: str,
        category: str,
        priority: str,
        urgency: str,
        impact: str,
        reason: str,
        sla: dict,
        actor: Actor,
        at: datetime,
        candidates: list[str] | None = None,
        demand: str | None = None,
        mood: str | None = None,
    ) -> None:
        """`demand` and `mood` left out keep what the ticket has."""
        self._require_open("classify")
        if demand is not None and demand not in DEMANDS:
            raise Invalid(f"demand {demand!r} is not one of {', '.join(DEMANDS)}")
        if mood is not None and mood not in MOODS:
            raise Invalid(f"mood {mood!r} is not one of {', '.join(MOODS)}")
        self._record(
            self.Classified,
            actor=actor,
            at=at,
            type=type,
            category=category,
            priority=priority,
            urgency=urgency,
            impact=impact,
            reason=reason,
            sla=sla,
            candidates=list(candidates or []),
            demand=demand or self.demand,
            mood=mood or self.mood,
        )

    def raise_impact(
        self,
        *,
        impact: str,
        priority: str,
        linked: list[str],
        reason: str,
        sla: dict,
        actor: Actor,
        at: datetime,
    ) -> None:
        self._require_open("raise the impact of")
        self._record(
            self.ImpactRaised,
            actor=actor,
            at=at,
            impact=impact,
            priority=priority,
            linked=sorted(linked),
            reason=reason,
            sla=sla,
        )

    def assign(
        self, *, assignee: str, collaborators: list[str], sla: dict, actor: Actor, at: datetime
    ) -> None:
        self._require_open("assign")
        if actor.role == "agent" and assignee != actor.id:
            raise Forbidden("an agent may only assign a ticket to themself")
        self._record(
            self.Assigned,
            actor=actor,
            at=at,
            assignee=assignee,
            collaborators=collaborators,
            sla=sla,
        )

    def acknowledge(self, *, actor: Actor, at: datetime) -> None:
        self._require_open("acknowledge")
        if self.assignee is None:
            raise IllegalState("nobody is assigned to acknowledge this ticket")
        if actor.id != self.assignee:
            raise Forbidden(f"only the assignee {self.assignee} may acknowledge")
        if self.acknowledged:
            raise IllegalState("the assignment is already acknowledged")
        self._record(self.Acknowledged, actor=actor, at=at)

    def update(
        self,
        *,
        note: str,
        visibility: str,
        next_step: str | None,
        expected_done_at: datetime | None,
        waiting_on_customer: bool,
        sla: dict,
        actor: Actor,
        at: datetime,
        attachments: list[dict] | None = None,
        compensation: float | None = None,
        article: dict | None = None,
    ) -> None:
        self._require_open("update")
        self._record(
            self.ProgressUpdated,
            actor=actor,
            at=at,
            note=note,
            visibility=visibility,
            next_step=next_step,
            expected_done_at=expected_done_at,
            waiting_on_customer=waiting_on_customer,
            sla=sla,
            attachments=list(attachments or []),
            compensation=compensation,
            article=article,
        )

    def escalate(
        self,
        *,
        level: str,
        reason: str,
        actor: Actor,
        at: datetime,
        target: str | None = None,
        due: datetime | None = None,
        to: str | None = None,
    ) -> None:
        if target != "follow_up":  # the follow-up visit is due after closing
            self._require_open("escalate")
        if target and breach_key(target, due, level) in self.escalated_targets:
            raise IllegalState(f"the {target} breach is already escalated to {level}")
        self._record(
            self.Escalated,
            actor=actor,
            at=at,
            level=level,
            reason=reason,
            target=target,
            due=due,
            to=to,
        )

    def close(
        self,
        *,
        resolution: str,
        actor: Actor,
        at: datetime,
        sla: dict | None = None,
        solution: str | None = None,
        scheduled_for: datetime | None = None,
    ) -> None:
        self._require_open("close")
        _check_solution(solution, scheduled_for)
        handling = (at - self.received_at).total_seconds()
        self._record(
            self.Closed,
            actor=actor,
            at=at,
            resolution=resolution,
            handling_seconds=max(handling, 0.0),
            sla=sla or {},
            solution=solution,
            scheduled_for=scheduled_for,
        )

    def analyse(self, *, analysis: str, actor: Actor, at: datetime) -> None:
        self._require_open("analyse")
        self._record(self.Analysed, actor=actor, at=at, analysis=analysis)

    def submit_resolution(
        self,
        *,
        resolution: str,
        solution: str | None,
        scheduled_for: datetime | None,
        actor: Actor,
        at: datetime,
    ) -> None:
        """The statement a reviewer must approve before the ticket closes."""
        self._require_open("submit a resolution for")
        _check_solution(solution, scheduled_for)
        if self.submitted is not None:
            raise IllegalState("a resolution statement already waits for review")
        self._record(
            self.ResolutionSubmitted,
            actor=actor,
            at=at,
            resolution=resolution,
            solution=solution,
            scheduled_for=scheduled_for,
        )

    def review(self, *, approved: bool, comment: str | None, actor: Actor, at: datetime) -> None:
        """Approve or send back the statement (the caller closes an approved one)."""
        self._require_open("review")
        if self.submitted is None:
            raise IllegalState("no resolution statement waits for review")
        if actor.id == self.submitted["by"]:
            raise Forbidden("a resolution statement is reviewed by someone else")
        self._record(
            self.ResolutionReviewed, actor=actor, at=at, approved=approved, comment=comment
        )

    def involve(self, *, person: str, role: str, reason: str, actor: Actor, at: datetime) -> None:
        self._require_open("bring someone into")
        if person in self.involved or person == self.assignee:
            raise IllegalState(f"{person} already works on this ticket")
        self._record(self.Involved, actor=actor, at=at, person=person, role=role, reason=reason)

    def add_to_batch(self, *, batch: str, sla: dict, actor: Actor, at: datetime) -> None:
        self._require_open("batch")
        if self.type != "suggestion":
            raise IllegalState(f"only a suggestion is batched; this is a {self.type}")
        if self.batch is not None:
            raise IllegalState(f"already in the batch of {self.batch}")
        self._record(self.SuggestionBatched, actor=actor, at=at, batch=batch, sla=sla)

    def decline(self, *, reason: str, sla: dict, actor: Actor, at: datetime) -> None:
        """The assigned agent gives the ticket back, saying why."""
        self._require_open("decline")
        if self.assignee is None:
            raise IllegalState("nobody is assigned: there is nothing to decline")
        if actor.id != self.assignee:
            raise Forbidden(f"only the assignee {self.assignee} may decline")
        self._record(self.Declined, actor=actor, at=at, reason=reason, sla=sla)

    def reply(
        self,
        *,
        channel: str,
        external_id: str,
        received_at: datetime,
        content: str,
        key_id: str | None,
        sealed: str | None,
        sla: dict,
        at: datetime,
    ) -> None:
        """The customer's reply, through its channel (a closed ticket is reopened first,
        by the caller, when the policy's window allows)."""
        if not content.strip():
            raise Invalid("content is blank")
        self._record(
            self.CustomerReplied,
            actor=Actor(channel, "channel"),
            at=at,
            channel=channel,
            external_id=external_id,
            received_at=received_at,
            content=content,
            key_id=key_id,
            sealed=sealed,
            sla=sla,
        )

    def next_department_request(self) -> str:
        return f"D{len(self.departments) + 1}"

    def request_department(
        self, *, department: str, ask: str, due: datetime, sla: dict, actor: Actor, at: datetime
    ) -> None:
        self._require_open("ask a department about")
        if due <= at:
            raise Invalid(f"due {due.isoformat()} is not after now ({at.isoformat()})")
        self._record(
            self.DepartmentRequested,
            actor=actor,
            at=at,
            request_id=self.next_department_request(),
            department=department,
            ask=ask,
            due=due,
            sla=sla,
        )

    def answer_department(
        self, *, request_id: str, answer: str, actor: Actor, at: datetime
    ) -> None:
        asked = self.departments.get(request_id)
        if asked is None:
            known = ", ".join(self.departments) or "none yet"
            raise Invalid(f"no department request {request_id!r} on this ticket (asked: {known})")
        if asked["answered"]:
            raise IllegalState(f"request {request_id} to {asked['department']} is answered already")
        self._record(
            self.DepartmentAnswered, actor=actor, at=at, request_id=request_id, answer=answer
        )

    def confirm(
        self, *, comment: str | None, actor: Actor, at: datetime, automatic: bool = False
    ) -> None:
        """The customer accepts the result (asked on closing)."""
        if self.status != "closed":
            raise IllegalState("only a closed ticket can be confirmed")
        if self.confirmed:
            raise IllegalState("this closure is already confirmed")
        self._record(self.Confirmed, actor=actor, at=at, comment=comment, automatic=automatic)

    def follow_up(self, *, note: str, actor: Actor, at: datetime) -> None:
        """The visit after closing (within 3 days for high-priority tickets)."""
        if self.status != "closed":
            raise IllegalState("a follow-up visit is for a closed ticket")
        self._record(self.FollowedUp, actor=actor, at=at, note=note)

    def rate(
        self,
        *,
        score: int,
        comment: str | None,
        actor: Actor,
        at: datetime,
        dimensions: dict[str, int] | None = None,
    ) -> None:
        if self.status != "closed":
            raise IllegalState("only a closed ticket can be rated")
        if self.rated:
            raise IllegalState("this closure is already rated")
        if not 1 <= score <= 5 or not all(1 <= v <= 5 for v in (dimensions or {}).values()):
            raise Invalid("a score is between 1 and 5")
        self._record(
            self.Rated,
            actor=actor,
            at=at,
            score=score,
            comment=comment,
            dimensions=dict(dimensions or {}),
        )

    def erase_personal_data(self, *, basis: str, reason: str, actor: Actor, at: datetime) -> None:
        if self.personal_erased:
            raise IllegalState("this ticket's personal data is already erased")
        if basis not in ("request", "retention"):
            raise Invalid(f"basis {basis!r} is not request or retention")
        self._record(self.PersonalDataErased, actor=actor, at=at, basis=basis, reason=reason)

    def reveal_contact(self, *, reason: str, actor: Actor, at: datetime) -> None:
        """The assigned agent, a supervisor or a manager sees the contact, recorded."""
        if self.personal_erased:
            raise IllegalState("this ticket's personal data is erased: nothing to reveal")
        if actor.role == "agent" and actor.id != self.assignee:
            raise Forbidden(f"only the assigned agent ({self.assignee or 'nobody yet'}) may reveal")
        self._record(self.ContactRevealed, actor=actor, at=at, reason=reason)

    def replan(
        self, *, new: dict, dropped: list[str], to_version: str, actor: Actor, at: datetime
    ) -> None:
        self._require_open("replan")
        old = {name: self.sla[name] for name in [*new, *dropped] if name in self.sla}
        withdrawn = [key for key in self.escalated_targets if key.partition("@")[0] in set(dropped)]
        self._record(
            self.SlaReplanned,
            actor=actor,
            at=at,
            old={k: {f: v for f, v in t.items() if f != "met_at"} for k, t in old.items()},
            new=new,
            dropped=dropped,
            withdrawn=withdrawn,
            to_version=to_version,
        )

    def reopen(self, *, reason: str, sla: dict, actor: Actor, at: datetime) -> None:
        if self.status != "closed":
            raise IllegalState("only a closed ticket can be reopened")
        self._record(self.Reopened, actor=actor, at=at, reason=reason, sla=sla)
