"""`sla-whatif`: every ticket received in a period, replayed from the store under a
candidate policy beside what was recorded (`domain.whatif`). Reads only: nothing is
written to the store, the stream or the read models, so it runs beside the live
service, and the same store, period and policy always give the same answer.

One pass over the store's log finds the tickets of the period (by their `Received`)
and gathers their events; each ticket is then replayed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from domain.errors import Forbidden, Invalid
from domain.policy import Policy
from domain.sla_plan import Planner
from domain.whatif import Comparison, replay_ticket
from infra.policy_file import PolicyError, policy_from_text
from services.application.desk import TICKET_TOPIC_PREFIX, TicketDesk
from services.application.messages import Actor, QueryTime

RECEIVED_TOPIC = TICKET_TOPIC_PREFIX + "Received"
PAGE = 5000  # stored events read per query
Progress = Callable[[str, int, int], None]  # (phase, done, total)
MAY_ASK = frozenset({"manager", "auditor", "system"})
POLICY_CHARS = 512 * 1024  # a policy file's text, at most


class SlaWhatIf(BaseModel):
    """`tickets.admin.sla_whatif`: the candidate policy's TOML text (as in a policy
    file: it overrides the shipped defaults) and the period; without `from` and `to`,
    the previous calendar month in the running policy's time zone."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    policy: str = Field(max_length=POLICY_CHARS)
    from_: QueryTime | None = Field(default=None, alias="from")
    to: QueryTime | None = None
    actor: Actor

    @model_validator(mode="after")
    def _ordered(self) -> SlaWhatIf:
        if self.from_ and self.to and self.from_ >= self.to:
            raise ValueError("`from` must be before `to`")
        return self


def last_month(now: datetime, tz: Any) -> tuple[datetime, datetime]:
    """The calendar month before the one `now` falls in, in `tz`."""
    local = now.astimezone(tz)
    end = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    before = end - timedelta(days=1)
    return before.replace(day=1), end


class WhatIf:
    def __init__(self, desk: TicketDesk) -> None:
        self.desk = desk

    def answer(self, request: SlaWhatIf, progress: Progress | None = None) -> dict:
        """The what-if a request asks for: its role checked, its policy validated (each
        error names its key), its period settled."""
        if request.actor.role not in MAY_ASK:
            raise Forbidden(f"role {request.actor.role!r} may not run a what-if")
        try:
            candidate = policy_from_text(request.policy, "policy")
        except PolicyError as error:
            raise Invalid(str(error)) from None
        start, end = self.settle(request.from_, request.to)
        return self.run(candidate, start, end, progress)

    def settle(self, start: datetime | None, end: datetime | None) -> tuple[datetime, datetime]:
        """The period: as given; a missing end is now; neither is last month."""
        now = self.desk.clock()
        if start is None and end is None:
            return last_month(now, self.desk.policy.business_calendar.tz)
        end = end or now
        if start is None:
            raise Invalid("give `from` with `to` (or neither, for last month)")
        if start >= end:
            raise Invalid("`from` must be before `to`")
        return start, end

    def period(
        self, start: datetime, end: datetime, progress: Callable[[int, int], None] | None = None
    ) -> dict[Any, list[Any]]:
        """The tickets received in [start, end), each with its events: its `Received`
        decoded, the rest as stored (decoded when replayed). One pass over the log."""
        tickets: dict[Any, list[Any]] = {}
        to_event = self.desk.mapper.to_domain_event
        last = self.desk.recorder.max_notification_id() or 0
        position: int | None = None
        while True:
            page = self.desk.recorder.select_notifications(
                position, PAGE, inclusive_of_start=position is None
            )
            if not page:
                return tickets
            for notification in page:
                if notification.topic == RECEIVED_TOPIC:
                    received: Any = to_event(notification)
                    if start <= received.received_at < end:
                        tickets[received.originator_id] = [received]
                elif notification.originator_id in tickets:
                    tickets[notification.originator_id].append(notification)
            position = page[-1].id
            if progress:
                progress(position, last)

    def run(
        self,
        candidate: Policy,
        start: datetime,
        end: datetime,
        progress: Progress | None = None,
    ) -> dict:
        """The comparison (`domain.whatif.Comparison.report`) of the tickets received in
        [start, end), each judged at `end`, with what was run and how long it took.
        `progress` hears ("reading", position, last position) while the log is read,
        then ("replaying", tickets done, tickets)."""
        began = time.perf_counter()
        tickets = self.period(start, end, progress and partial(progress, "reading"))
        planner = Planner(candidate)
        team_of = {agent.id: agent.team for agent in self.desk.policy.agents}
        comparison = Comparison(team_of)
        to_event = self.desk.mapper.to_domain_event
        step = max(len(tickets) // 100, 1)
        for done, (received, *stored) in enumerate(tickets.values(), 1):
            events = [received, *(to_event(n) for n in stored)]
            comparison.add(replay_ticket(events, planner, end))
            if progress and (done % step == 0 or done == len(tickets)):
                progress("replaying", done, len(tickets))
        report = comparison.report()
        return {
            "from": start.isoformat(),
            "to": end.isoformat(),
            "policy_version": {"running": self.desk.policy.version, "whatif": candidate.version},
            **report,
            "seconds": round(time.perf_counter() - began, 3),
        }
