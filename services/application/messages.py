"""The shapes of everything that arrives from outside (docs/contract.md), validated at the edge.

A message that fails here is rejected with a reason and changes nothing.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from domain import actor as domain_actor

CHANNELS = ("phone", "chat", "email", "app", "web", "monitoring", "internal")
MAX_CONTENT_BYTES = 64 * 1024
# A whole intake message may carry attachments and a subject beside the content.
MAX_MESSAGE_BYTES = 256 * 1024

Short = Annotated[str, StringConstraints(max_length=500)]
# Times an edge message may carry: later SLA arithmetic and the relay's conversion to UTC
# must not leave the datetime range (a due in year 10000 is an OverflowError).
EARLIEST, LATEST = datetime(1970, 1, 1, tzinfo=UTC), datetime(3000, 1, 1, tzinfo=UTC)
_RFC3339 = re.compile(r"\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d:\d\d(\.\d+)?([Zz]|[+-]\d\d:\d\d)", re.ASCII)
_SURROGATE = re.compile("[\ud800-\udfff]")


def _rfc3339_text(value: Any) -> Any:
    """A time arrives as RFC 3339 text, not as a number (pydantic would read a Unix time)."""
    if isinstance(value, datetime) or (isinstance(value, str) and _RFC3339.fullmatch(value)):
        return value
    raise ValueError("expected an RFC 3339 time with a time zone, e.g. 2026-11-24T09:30:00+08:00")


def _in_range(moment: datetime) -> datetime:
    if not EARLIEST <= moment < LATEST:
        raise ValueError(f"time {moment.isoformat()} is outside {EARLIEST.year}-{LATEST.year - 1}")
    return moment


def _no_control_chars(text: str) -> str:
    """Identifiers end up in read-model columns (PostgreSQL refuses NUL in TEXT)."""
    if any(c < " " or "\x7f" <= c <= "\x9f" for c in text):
        raise ValueError("contains a control character")
    return text


def _utc_representable(moment: datetime) -> datetime:
    """The read side compares times in UTC: a time that has none (`0001-01-01T00:00+14:00`
    is in year 0 there) is refused rather than an OverflowError."""
    try:
        moment.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"time {moment.isoformat()} is outside years 1-9999 in UTC") from None
    return moment


Moment = Annotated[AwareDatetime, BeforeValidator(_rfc3339_text), AfterValidator(_in_range)]
QueryTime = Annotated[AwareDatetime, AfterValidator(_utc_representable)]  # a query's bound
QueryKey = Annotated[str, AfterValidator(_no_control_chars)]  # an id a query looks up
MAX_INTEGER = 2**63 - 1  # what a store's 64-bit integer column holds (a version, a row id)
Name = Annotated[
    str, StringConstraints(min_length=1, max_length=200), AfterValidator(_no_control_chars)
]  # an actor, assignee or collaborator id


def lone_surrogate_at(value: Any, where: str = "") -> str | None:
    """Where a string holds a lone UTF-16 surrogate (`\\ud800` in JSON, or its bytes, which
    `json.loads` lets through): not Unicode text, and nothing can encode it later."""
    if isinstance(value, str):
        return where or "message" if _SURROGATE.search(value) else None
    items = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else ()
    )
    for key, inner in items:
        here = f"{where}.{key}" if where else str(key)
        if isinstance(key, str) and _SURROGATE.search(key):
            return where or "message"
        if found := lone_surrogate_at(inner, here):
            return found
    return None


class _Edge(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)

    @model_validator(mode="before")
    @classmethod
    def _unicode_text(cls, data: Any) -> Any:
        if where := lone_surrogate_at(data):
            raise ValueError(f"{where} holds a lone surrogate, not Unicode text")
        return data


class Customer(_Edge):
    name: Short | None = None
    company: Short | None = None
    phone: Annotated[str, StringConstraints(max_length=40)] | None = None
    email: Annotated[str, StringConstraints(max_length=254)] | None = None
    customer_id: Annotated[str, StringConstraints(max_length=200)] | None = None


class Attachment(_Edge):
    name: Short
    url: Annotated[str, StringConstraints(max_length=2000)]


class Alert(_Edge):
    source: Short | None = None
    kind: Short | None = None
    affected_ratio: float | None = Field(default=None, ge=0, le=1, strict=True)


class IntakeRequest(_Edge):
    """A customer request as a channel adapter publishes it on `tickets.intake.<channel>`."""

    external_id: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    received_at: Moment | None = None
    customer: Customer = Customer()
    subject: Annotated[str, StringConstraints(max_length=1000)] | None = None
    content: str
    attachments: list[Attachment] = Field(default=[], max_length=50)
    alert: Alert | None = None
    # A reply to an existing ticket: its id or number, or the channel's id of an earlier
    # message of the thread (an e-mail's In-Reply-To). Recorded on that ticket.
    ticket: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    in_reply_to: Annotated[str, StringConstraints(min_length=1, max_length=998)] | None = None

    @field_validator("content")
    @classmethod
    def _content(cls, content: str) -> str:
        if not content.strip():
            raise ValueError("content is blank")
        if len(content.encode()) > MAX_CONTENT_BYTES:
            raise ValueError(f"content is over {MAX_CONTENT_BYTES} bytes of UTF-8")
        return content  # verbatim: never trimmed


def reason_of(error: ValidationError) -> str:
    """One line naming each bad field: `content: content is blank; customer.phone: ...`."""
    parts = []
    for e in error.errors():
        where = ".".join(str(p) for p in e["loc"]) or "message"
        parts.append(f"{where}: {e['msg']}")
    return "; ".join(parts)


# ---- commands -------------------------------------------------------------------------


class Actor(_Edge):
    id: Name
    role: Literal["agent", "supervisor", "manager", "auditor", "analytics", "channel", "system"]

    def value(self) -> domain_actor.Actor:
        """The application's value of who acts (the message's shape, validated)."""
        return domain_actor.Actor(self.id, self.role)


class _Command(_Edge):
    ticket_id: str | None = None
    number: str | None = None
    actor: Actor
    expected_version: int | None = Field(default=None, ge=1, strict=True)

    @model_validator(mode="after")
    def _names_a_ticket(self) -> _Command:
        if not (self.ticket_id or self.number):
            raise ValueError("give ticket_id or number")
        return self


Text = Annotated[str, StringConstraints(min_length=1, max_length=10_000)]


class Classify(_Command):
    type: Literal["consultation", "complaint", "suggestion", "technical", "other"]
    category: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    priority: Literal["urgent", "high", "normal", "low"] | None = None
    reason: Text
    # The communication record, corrected; left out: as detected (or last corrected).
    demand: Literal["refund", "repair", "exchange", "apology", "compensation", "other"] | None = (
        None
    )
    mood: Literal["calm", "anxious", "dissatisfied", "angry"] | None = None


class Assign(_Command):
    assignee: Name
    collaborators: list[Name] = []


class Acknowledge(_Command):
    pass


class Update(_Command):
    note: Text
    visibility: Literal["internal", "customer"] = "internal"
    next_step: Annotated[str, StringConstraints(max_length=10_000)] | None = None
    expected_done_at: Moment | None = None
    waiting_on_customer: bool = Field(default=False, strict=True)
    attachments: list[Attachment] = Field(default=[], max_length=50)  # evidence
    # A feedback time promised to the customer: a target of its own until the next
    # customer-visible update (only on a customer-visible update).
    promised_by: Moment | None = None
    # A compensation promised to the customer, in the policy's currency (its authority).
    compensation: float | None = Field(default=None, ge=0, le=1e9, allow_inf_nan=False)

    @model_validator(mode="after")
    def _promise_to_the_customer(self) -> Update:
        for name in ("promised_by", "compensation"):
            if getattr(self, name) is not None and self.visibility != "customer":
                raise ValueError(f"{name} is a promise to the customer: visibility customer")
        return self


class AnswerWithArticle(_Command):
    """Answer the customer with a knowledge-base article (its id or number `KB0001`):
    its title and body, or standard reply `reply` (counted from 0), after `note` if
    given. Recorded as a customer-visible update naming the article and its version."""

    article_id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    reply: int | None = Field(default=None, ge=0, le=100, strict=True)
    note: Text | None = None


class Escalate(_Command):
    level: Literal["supervisor", "manager"]
    reason: Text


class Close(_Command):
    resolution: Text
    # The kind of solution: an immediate fix, a product improvement (with its schedule)
    # or coordination with an outside party (a supplier).
    solution: Literal["fix", "product_improvement", "external"] | None = None
    scheduled_for: Moment | None = None

    @model_validator(mode="after")
    def _schedule(self) -> Close:
        if (self.solution == "product_improvement") != (self.scheduled_for is not None):
            raise ValueError("scheduled_for goes with solution product_improvement, and only it")
        return self


class Analyse(_Command):
    """The preliminary analysis (初步分析)."""

    analysis: Text


class Review(_Command):
    """Approve (the ticket closes) or send back a resolution statement waiting for review."""

    approved: bool = Field(strict=True)
    comment: Annotated[str, StringConstraints(max_length=10_000)] | None = None


Score = Annotated[int, Field(ge=1, le=5, strict=True)]


class Rate(_Command):
    score: Score
    comment: Annotated[str, StringConstraints(max_length=10_000)] | None = None
    # A score per dimension the policy lists (`rating.dimensions`), 1-5 each.
    dimensions: dict[Annotated[str, StringConstraints(max_length=40)], Score] = Field(
        default={}, max_length=20
    )


class Reopen(_Command):
    reason: Text


class RevealContact(_Command):
    """See the customer's contact data unmasked; recorded as `ContactRevealed`."""

    reason: Annotated[str, StringConstraints(min_length=1, max_length=500)]


class FollowUp(_Command):
    """The follow-up visit after closing (extension; docs/process.md)."""

    note: Text


class Confirm(_Command):
    """The customer accepts the result of a closed ticket."""

    comment: Annotated[str, StringConstraints(max_length=10_000)] | None = None


class Decline(_Command):
    """The assignee cannot take the ticket, and says why."""

    reason: Text


class RequestDepartment(_Command):
    """Ask another department (an id or name of the policy's list) for something."""

    department: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    ask: Text
    due: Moment


class AnswerDepartment(_Command):
    request_id: Annotated[str, StringConstraints(min_length=1, max_length=20)]
    answer: Text


class Forget(_Edge):
    """Erase a customer's personal data (role manager): `customer_id`, or a
    ticket (`ticket_id` or `number`), which forgets whose key sealed it."""

    customer_id: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    ticket_id: str | None = None
    number: str | None = None
    actor: Actor
    reason: Text = "customer request"

    @model_validator(mode="after")
    def _names_one_subject(self) -> Forget:
        if bool(self.customer_id) == bool(self.ticket_id or self.number):
            raise ValueError("give customer_id, or ticket_id or number (not both)")
        return self


class Replan(_Edge):
    """Apply the policy the service runs to open tickets (role manager): one ticket
    (`ticket_id` or `number`) or `"all_open": true`."""

    ticket_id: str | None = None
    number: str | None = None
    all_open: bool = False
    actor: Actor

    @model_validator(mode="after")
    def _names_tickets(self) -> Replan:
        if self.all_open == bool(self.ticket_id or self.number):
            raise ValueError('give ticket_id or number, or "all_open": true (not both)')
        return self


COMMANDS: dict[str, type[_Command]] = {
    "classify": Classify,
    "assign": Assign,
    "acknowledge": Acknowledge,
    "update": Update,
    "answer_with_article": AnswerWithArticle,
    "escalate": Escalate,
    "close": Close,
    "rate": Rate,
    "reopen": Reopen,
    "follow_up": FollowUp,
    "reveal_contact": RevealContact,
    "confirm": Confirm,
    "decline": Decline,
    "request_department": RequestDepartment,
    "answer_department": AnswerDepartment,
    "analyse": Analyse,
    "review": Review,
}


# ---- queries --------------------------------------------------------------------------


class TicketQuery(_Edge):
    ticket_id: str | None = None
    number: str | None = None
    as_of: Annotated[int, Field(le=MAX_INTEGER)] | datetime | None = None
    actor: Actor | None = None

    @model_validator(mode="after")
    def _names_a_ticket(self) -> TicketQuery:
        if not (self.ticket_id or self.number):
            raise ValueError("give ticket_id or number")
        if isinstance(self.as_of, datetime) and self.as_of.tzinfo is None:
            raise ValueError("as_of needs a timezone (RFC 3339)")
        return self


class HistoryQuery(_Edge):
    ticket_id: str | None = None
    number: str | None = None
    actor: Actor | None = None

    @model_validator(mode="after")
    def _names_a_ticket(self) -> HistoryQuery:
        if not (self.ticket_id or self.number):
            raise ValueError("give ticket_id or number")
        return self
