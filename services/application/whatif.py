"""`sla-whatif`: every ticket received in a period, replayed from the store under a
candidate policy beside what was recorded (`domain.whatif`). Reads only: nothing is
written to the store, the stream or the read models, so it runs beside the live
service, and the same store, period and policy always give the same answer.

One pass over the store's log finds the tickets of the period (by their `Received`)
and gathers their events; each ticket is then replayed.
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from eventsourcing.persistence import StoredEvent
from pydantic import BaseModel, ConfigDict, Field, model_validator

from domain.errors import Forbidden, Invalid
from domain.policy import Policy
from domain.sla_plan import Planner
from domain.whatif import Comparison, Replay
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


class _CollectorPause:
    """The cyclic garbage collector paused while any what-if runs (reference counting
    still frees everything at once). A what-if makes no reference cycles, but it holds
    the period's stored events (hundreds of thousands of objects at 100,000 tickets),
    and while they pile up the collector walks them all again and again: a sixth to a
    quarter of the run. Process-wide, so other threads' cyclic garbage waits until the
    last what-if running ends; the collector is left as it was found."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running = 0
        self._resume = False

    @contextmanager
    def __call__(self) -> Iterator[None]:
        with self._lock:
            if not self._running:
                self._resume = gc.isenabled()
                gc.disable()
            self._running += 1
        try:
            yield
        finally:
            with self._lock:
                self._running -= 1
                if not self._running and self._resume:
                    gc.enable()


collector_paused = _CollectorPause()


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

    def _pages(self, progress: Callable[[int, int], None] | None) -> Iterator[Sequence[Any]]:
        """The store's log, page by page; `progress` hears (position, last) after each."""
        last = self.desk.recorder.max_notification_id() or 0
        position: int | None = None
        while True:
            page = self.desk.recorder.select_notifications(
                position, PAGE, inclusive_of_start=position is None
            )
            if not page:
                return
            yield page
            position = page[-1].id
            if progress:
                progress(position, last)

    def period(
        self, start: datetime, end: datetime, progress: Callable[[int, int], None] | None = None
    ) -> dict[Any, list[Any]]:
        """The tickets received in [start, end), each with its events: its `Received`
        decoded, the rest as stored (decoded when replayed). One pass over the log."""
        tickets = self._gather(start, end, progress)
        return {
            ticket_id: [received, *(StoredEvent(ticket_id, *s) for s in stored)]
            for ticket_id, (received, *stored) in tickets.items()
        }

    def _gather(
        self, start: datetime, end: datetime, progress: Callable[[int, int], None] | None
    ) -> dict[Any, list[Any]]:
        """`period`, with each stored event kept as a plain (version, topic, state) tuple,
        smaller than the log's notification object and not tracked by the garbage
        collector: a what-if of a large period holds hundreds of thousands of them."""
        tickets: dict[Any, list[Any]] = {}
        to_event = self.desk.mapper.to_domain_event
        for page in self._pages(progress):
            for notification in page:
                if notification.topic == RECEIVED_TOPIC:
                    received: Any = to_event(notification)
                    if start <= received.received_at < end:
                        tickets[received.originator_id] = [received]
                    continue
                events = tickets.get(notification.originator_id)
                if events is not None:
                    events.append(
                        (notification.originator_version, notification.topic, notification.state)
                    )
        return tickets

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
        then ("replaying", tickets done, tickets).

        Each ticket is decoded and replayed on its own and let go before the next, so
        only one is in memory as objects; events after `end` are not decoded."""
        began = time.perf_counter()
        with collector_paused():
            report = self._compare(candidate, start, end, progress)
        return {
            "from": start.isoformat(),
            "to": end.isoformat(),
            "policy_version": {"running": self.desk.policy.version, "whatif": candidate.version},
            **report,
            "seconds": round(time.perf_counter() - began, 3),
        }

    def _compare(
        self, candidate: Policy, start: datetime, end: datetime, progress: Progress | None
    ) -> dict:
        tickets = self._gather(start, end, progress and partial(progress, "reading"))
        planner = Planner(candidate)
        team_of = {agent.id: agent.team for agent in self.desk.policy.agents}
        comparison = Comparison(team_of)
        to_event = self.desk.mapper.to_domain_event
        total = len(tickets)
        step = max(total // 100, 1)
        for done, ticket_id in enumerate(list(tickets), 1):
            received, *stored = tickets.pop(ticket_id)
            replay = Replay(planner, end)
            replay.add(received)
            for version, topic, state in stored:
                if not replay.wants_more:
                    break
                replay.add(to_event(StoredEvent(ticket_id, version, topic, state)))
            comparison.add(replay.outcome())
            if progress and (done % step == 0 or done == total):
                progress("replaying", done, total)
        return comparison.report()
