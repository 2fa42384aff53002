"""The shapes of everything that arrives from outside (CONTRACT.md), validated at the edge.

A message that fails here is rejected with a reason and changes nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

CHANNELS = ("phone", "chat", "email", "app", "web", "monitoring", "internal")
MAX_CONTENT_BYTES = 64 * 1024
# A whole intake message may carry attachments and a subject beside the content.
MAX_MESSAGE_BYTES = 256 * 1024

Short = Annotated[str, StringConstraints(max_length=500)]


class _Edge(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


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
    affected_ratio: float | None = Field(default=None, ge=0, le=1)


class IntakeRequest(_Edge):
    """A customer request as a channel adapter publishes it on `tickets.intake.<channel>`."""

    external_id: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    received_at: AwareDatetime | None = None
    customer: Customer = Customer()
    subject: Annotated[str, StringConstraints(max_length=1000)] | None = None
    content: str
    attachments: list[Attachment] = Field(default=[], max_length=50)
    alert: Alert | None = None

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
    id: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    role: Literal["agent", "supervisor", "manager", "auditor", "analytics", "channel", "system"]


class _Command(_Edge):
    ticket_id: str | None = None
    number: str | None = None
    actor: Actor
    expected_version: int | None = Field(default=None, ge=1)

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


class Assign(_Command):
    assignee: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    collaborators: list[Annotated[str, StringConstraints(min_length=1, max_length=200)]] = []


class Acknowledge(_Command):
    pass


class Update(_Command):
    note: Text
    visibility: Literal["internal", "customer"] = "internal"
    next_step: Annotated[str, StringConstraints(max_length=10_000)] | None = None
    expected_done_at: AwareDatetime | None = None
    waiting_on_customer: bool = False


class Escalate(_Command):
    level: Literal["supervisor", "manager"]
    reason: Text


class Close(_Command):
    resolution: Text


class Rate(_Command):
    score: int = Field(ge=1, le=5)
    comment: Annotated[str, StringConstraints(max_length=10_000)] | None = None


class Reopen(_Command):
    reason: Text


class FollowUp(_Command):
    """The follow-up visit after closing (extension; SPEC §7)."""

    note: Text


class Forget(_Edge):
    """Erase a customer's personal data (SPEC §10; role manager): `customer_id`, or a
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


COMMANDS: dict[str, type[_Command]] = {
    "classify": Classify, "assign": Assign, "acknowledge": Acknowledge, "update": Update,
    "escalate": Escalate, "close": Close, "rate": Rate, "reopen": Reopen,
    "follow_up": FollowUp,
}


# ---- queries --------------------------------------------------------------------------


class TicketQuery(_Edge):
    ticket_id: str | None = None
    number: str | None = None
    as_of: int | datetime | None = None
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
