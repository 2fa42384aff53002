"""The policy: every number and rule a service team may change without code.

The defaults ship as `default_policy.toml` beside this module; a policy file
overrides them (tables merge key by key, lists such as `[[sla]]` and `[[agents]]`
replace the default list). Parsing the TOML is the edge's job (`infra.policy_file`);
this module only validates and compiles the result.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from functools import cached_property
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from domain.calendar import BusinessCalendar, CalendarConfig, parse_duration
from domain.classifier import ClassificationConfig, Classifier
from domain.priority import PriorityConfig
from domain.retention import RetentionConfig
from domain.sla import Facts, SlaRule, replan


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AgentConfig(_Strict):
    id: str = Field(min_length=1)
    team: str = "support"
    supervisor: str | None = None
    skills: list[str] = []
    capacity: int = Field(default=20, ge=1)


class TeamConfig(_Strict):
    id: str = Field(min_length=1)
    mode: Literal["auto", "lead_chooses"] = "auto"
    supervisor: str | None = None  # for tickets in the team's queue that nobody listed holds
    manager: str | None = None  # the team's manager (department head)


class NumberingConfig(_Strict):
    prefix: str = Field(default="CS", min_length=1, max_length=8)
    digits: int = Field(default=4, ge=3, le=8)


class ReviewConfig(_Strict):
    """Tickets of these types close only once a supervisor or manager (the department
    head) approves the agent's resolution statement."""

    types: list[Literal["consultation", "complaint", "suggestion", "technical", "other"]] = []


class AssignmentConfig(_Strict):
    proposals: int = Field(default=3, ge=1, le=20)  # agents proposed for a new ticket


def _a_duration(text: str) -> str:
    parse_duration(text)  # raises, naming the text
    return text


DurationText = Annotated[str, AfterValidator(_a_duration)]  # "30m", "4h", "3d", "15wd"


class RatingConfig(_Strict):
    reopen_at_or_below: int = Field(default=2, ge=0, le=5)
    # Satisfaction may be rated per dimension too (`rate`'s `dimensions`).
    dimensions: list[str] = ["efficiency", "attitude", "communication", "professionalism"]
    # A dimension scored at or below `low_at_or_below` this many times within
    # `problem_within` opens a problem (or joins the open one); 0 never does.
    low_at_or_below: int = Field(default=2, ge=1, le=4)
    problem_after: int = Field(default=3, ge=0)
    problem_within: DurationText = "30d"

    @field_validator("dimensions")
    @classmethod
    def _names(cls, names: list[str]) -> list[str]:
        for name in names:
            if not name or len(name) > 40 or not name.replace("_", "").isalnum():
                raise ValueError(f"dimension {name!r}: 1-40 letters, digits or '_'")
        if len(set(names)) != len(names):
            raise ValueError("a dimension is listed twice")
        return names


class EscalationConfig(_Strict):
    manager_after: DurationText = "4h"
    manager: str | None = None  # the manager of a team that names none
    # A request with any of these words threatens public exposure: at intake it is
    # escalated to the manager (reason `media_complaint`).
    media_keywords: list[str] = []


class AuthorityConfig(_Strict):
    """The largest compensation each role may promise on its own (`update`'s
    `compensation`); above it the ticket must first be escalated to a level whose
    limit covers it."""

    currency: str = Field(default="CNY", min_length=1, max_length=8)
    agent: float = Field(default=200, ge=0)
    supervisor: float = Field(default=2000, ge=0)
    manager: float = Field(default=20000, ge=0)

    def limit(self, role: str) -> float:
        return float(getattr(self, role, 0) if role in ("agent", "supervisor", "manager") else 0)


class FollowUpConfig(_Strict):
    priorities: list[Literal["urgent", "high", "normal", "low"]] = ["urgent", "high"]
    within: DurationText = "3wd"
    clock: Literal["wall", "business"] = "wall"


class CustomerConfig(_Strict):
    """How the customer's own answers are handled (docs/policy.md "Customers")."""

    # A closed ticket waits this long for the customer to confirm the result; then it
    # is confirmed automatically (actor system/confirmer).
    confirm_within: DurationText = "3d"
    # A reply to a closed ticket within this of its closing reopens it; a later one
    # becomes a new ticket.
    reply_reopens_within: DurationText = "7d"
    # The customer's Nth contact about one open ticket (the request, then replies)
    # escalates it to the supervisor as "customer not calmed".
    contacts_escalate_at: int = Field(default=3, ge=2)


class DepartmentConfig(_Strict):
    """A department a handler can ask for something (技术部, 财务部, 风控部…)."""

    id: str = Field(min_length=1, max_length=40)
    name: str = Field(min_length=1, max_length=100)
    head: str | None = None  # the department head's actor id


class StatsConfig(_Strict):
    high_frequency_share: float = Field(default=0.2, gt=0, le=1)


class GoalsConfig(_Strict):
    """The service's goals: a target turns at risk once this share of its time is used;
    statistics report whether each rate reached its goal."""

    at_risk_share: float = Field(default=0.8, gt=0, lt=1)
    first_contact_resolution: float = Field(default=0.85, ge=0, le=1)
    satisfaction: float = Field(default=0.90, ge=0, le=1)


class GroupImpactConfig(_Strict):
    customers: int = Field(default=3, ge=2)
    within: str = "24h"
    # How alike two requests must read to be one problem (domain.similarity; 0 to 1):
    # a request joins the group whose requests it resembles this much on average.
    similarity: float = Field(default=0.15, gt=0, le=1)
    ignore_categories: list[str] = ["general"]  # "nothing matched" is not one problem

    @field_validator("within")
    @classmethod
    def _duration(cls, text: str) -> str:
        if parse_duration(text).working_days:
            raise ValueError(f"{text!r}: a window in s, m, h or d (not working days)")
        return text

    def ignores(self, category: str) -> bool:
        """`product` covers `product/usage` too."""
        return any(category == c or category.startswith(c + "/") for c in self.ignore_categories)


class Policy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, ignored_types=(cached_property,))

    calendar: CalendarConfig = CalendarConfig()
    classification: ClassificationConfig
    priority: PriorityConfig
    sla: list[SlaRule]
    agents: list[AgentConfig] = []
    teams: list[TeamConfig] = []
    numbering: NumberingConfig = NumberingConfig()
    assignment: AssignmentConfig = AssignmentConfig()
    review: ReviewConfig = ReviewConfig()
    rating: RatingConfig = RatingConfig()
    escalation: EscalationConfig = EscalationConfig()
    follow_up: FollowUpConfig = FollowUpConfig()
    stats: StatsConfig = StatsConfig()
    goals: GoalsConfig = GoalsConfig()
    group_impact: GroupImpactConfig = GroupImpactConfig()
    retention: RetentionConfig = RetentionConfig()
    customer: CustomerConfig = CustomerConfig()
    authority: AuthorityConfig = AuthorityConfig()
    departments: list[DepartmentConfig] = []

    @cached_property
    def canonical(self) -> str:
        """The policy as one JSON text: every value spelled out (defaults included), keys
        sorted, lists in their order. Two files that mean the same policy have the same
        canonical form, whatever their layout, comments or left-out defaults."""
        body = self.model_dump(mode="json")
        return json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))

    @cached_property
    def version(self) -> str:
        """`policy_version`: the first 12 hex digits of the SHA-256 of the canonical form."""
        return hashlib.sha256(self.canonical.encode()).hexdigest()[:12]

    @cached_property
    def business_calendar(self) -> BusinessCalendar:
        return BusinessCalendar.from_config(self.calendar)

    @cached_property
    def classifier(self) -> Classifier:
        return Classifier(self.classification)

    def targets(
        self, facts: Facts, *, received_at: datetime, now: datetime, previous: dict | None = None
    ) -> dict:
        """The SLA targets of a ticket with these facts, on this policy's rules and calendar."""
        calendar = self.business_calendar
        return replan(
            self.sla, facts, received_at=received_at, now=now, calendar=calendar, previous=previous
        )

    def department(self, name: str) -> DepartmentConfig | None:
        """A department by its id or its name."""
        return next((d for d in self.departments if name in (d.id, d.name)), None)

    def team_mode(self, team: str) -> str:
        return next((t.mode for t in self.teams if t.id == team), "auto")
