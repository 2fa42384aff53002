"""The messages of problems and improvement actions, checked at the edge like the
ticket's: an unknown member, a missing field or a value out of range is `invalid`,
named, and nothing changes."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, field_validator, model_validator

from domain.calendar import parse_duration
from domain.problem import METHODS
from services.application.messages import (
    MAX_INTEGER,
    Actor,
    Moment,
    Name,
    QueryTime,
    Text,
    _Edge,
)

Title = Annotated[str, StringConstraints(min_length=1, max_length=200)]
TicketRef = Annotated[str, StringConstraints(min_length=1, max_length=64)]  # id or number
Metric = Literal[  # domain.problem.METRICS (a test holds them equal)
    "tickets",
    "first_response_seconds.p50",
    "first_response_seconds.p90",
    "resolution_seconds.p50",
    "resolution_seconds.p90",
    "sla_compliance",
    "fcr_rate",
    "csat",
    "reopen_rate",
    "escalations",
    "self_service_rate",
]


class _ProblemCommand(_Edge):
    problem_id: str | None = None
    number: str | None = None
    actor: Actor
    expected_version: int | None = Field(default=None, ge=1, strict=True)

    @model_validator(mode="after")
    def _names_a_problem(self) -> _ProblemCommand:
        if not (self.problem_id or self.number):
            raise ValueError("give problem_id or number")
        return self


class OpenProblem(_Edge):
    """A problem several tickets have in common (numbered `PB` + date + sequence)."""

    title: Title
    category: Name | None = None
    tickets: Annotated[list[TicketRef], Field(default_factory=list, max_length=1000)]
    actor: Actor


class LinkTickets(_ProblemCommand):
    tickets: Annotated[list[TicketRef], Field(min_length=1, max_length=1000)]


class RecordRootCause(_ProblemCommand):
    """5W1H: a text under each of what, why, when, where, who, how; fishbone: a list of
    causes under each of people, machines, materials, methods, environment,
    measurement. Every heading is optional; the root cause is required."""

    method: Literal["5w1h", "fishbone"]
    analysis: dict[str, Text | Annotated[list[Text], Field(max_length=50)]]
    root_cause: Text

    @model_validator(mode="after")
    def _headings(self) -> RecordRootCause:
        allowed = METHODS[self.method]
        if unknown := sorted(set(self.analysis) - set(allowed)):
            raise ValueError(f"{self.method} has no {unknown}; its headings: {list(allowed)}")
        for heading, value in self.analysis.items():
            if (self.method == "fishbone") != isinstance(value, list):
                kind = "a list of causes" if self.method == "fishbone" else "a text"
                raise ValueError(f"analysis.{heading}: {self.method} takes {kind}")
        return self


class Scope(_Edge):
    """Which tickets the metric is counted over (all when empty)."""

    category: Name | None = None
    type: Literal["consultation", "complaint", "suggestion", "technical", "other"] | None = None
    channel: Literal["phone", "chat", "email", "app", "web", "monitoring", "internal"] | None = None
    team: Name | None = None

    def given(self) -> dict[str, Any]:
        return {k: v for k, v in self.model_dump().items() if v is not None}


class Target(_Edge):
    op: Literal["<=", ">="]
    value: Annotated[float, Field(ge=0, le=MAX_INTEGER, allow_inf_nan=False)]


class PlanAction(_ProblemCommand):
    title: Title
    owner: Name
    due: Moment
    metric: Metric
    scope: Scope = Scope()
    target: Target
    evaluate_after: str = "30d"

    @field_validator("evaluate_after")
    @classmethod
    def _window(cls, text: str) -> str:
        span = parse_duration(text)  # raises, naming the text
        if span.working_days or not span.seconds:
            raise ValueError(f"{text!r}: a window in s, m, h or d (not working days), above 0")
        return text


class UpdateAction(_ProblemCommand):
    action_id: Annotated[str, StringConstraints(min_length=1, max_length=40)]
    note: Text
    status: Literal["in_progress", "done", "dropped"]


class EvaluateAction(_ProblemCommand):
    """Judge a done action's effect now (once the window after it has ended)."""

    action_id: Annotated[str, StringConstraints(min_length=1, max_length=40)]


class CloseProblem(_ProblemCommand):
    resolution: Text


class ProblemQuery(_Edge):
    """`as_of`: a version, or a moment (RFC 3339 with its offset)."""

    problem_id: str | None = None
    number: str | None = None
    as_of: Annotated[int, Field(ge=1, le=MAX_INTEGER)] | QueryTime | None = None
    actor: Actor | None = None

    @model_validator(mode="after")
    def _names_a_problem(self) -> ProblemQuery:
        if not (self.problem_id or self.number):
            raise ValueError("give problem_id or number")
        return self


PROBLEM_COMMANDS: dict[str, type[_Edge]] = {
    "open_problem": OpenProblem,
    "link_tickets": LinkTickets,
    "record_root_cause": RecordRootCause,
    "plan_action": PlanAction,
    "update_action": UpdateAction,
    "close_problem": CloseProblem,
}
