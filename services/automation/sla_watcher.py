"""The SLA watcher: sleeps until the next due (or at-risk) instant, not a periodic sweep.

Deadlines come from the SLA view, so they survive restarts, and are refreshed for every
ticket the view changes (pauses, resumes, new targets). On a breach it records
`Escalated` (actor role `system`, level `supervisor`), once per target and breach, with
the target's reason (`sla_breach`; `department_late` for a request to another
department, `promise_broken` for a feedback time promised to the customer); if the
target is still unmet `escalation.manager_after` later, it escalates to `manager`.
A closed ticket's `confirmation` target is different: when it runs out, the ticket is
confirmed automatically (actor `system/confirmer`). Before acting it checks the ticket
itself (the store is the truth): a target met a moment ago, or a ticket now waiting on
the customer, is left be.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from uuid import UUID

from eventsourcing.persistence import IntegrityError

from domain.actor import Actor
from domain.calendar import parse_duration
from domain.errors import IllegalState
from domain.sla import at_risk_from, breach_reason
from domain.ticket import Ticket
from infra.logs import ticket_fields
from services.application.desk import TicketDesk
from services.application.involvement import escalate_to
from services.readside.sla import SlaService

log = logging.getLogger("ticketflow.sla_watcher")
HORIZON = timedelta(hours=1)
SYSTEM = Actor.system("sla-watcher")
CONFIRMER = Actor.system("confirmer")


class _NotDue(Exception):
    pass


@dataclass(order=True)
class Alarm:
    at: datetime
    seq: int
    ticket_id: str = field(compare=False)
    target: str = field(compare=False)
    due: datetime = field(compare=False)
    level: str = field(compare=False)  # "at_risk", "supervisor", "manager"
    number: str | None = field(compare=False, default=None)


class SlaWatcher:
    def __init__(self, desk: TicketDesk, view: SlaService) -> None:
        self.desk, self.view = desk, view
        self.escalated: list[tuple[str, str, float]] = []  # (ticket, target, lateness s)
        self._alarms: list[Alarm] = []
        self._live: dict[tuple[str, str], datetime] = {}  # the current due of each target
        self._pending: set[tuple[str, str, datetime, str]] = set()  # alarms in the heap
        self._targets_of: dict[str, set[str]] = {}  # ticket -> its targets in `_live`
        self._reload_at = self.desk.clock()
        self._counter = itertools.count()
        self._changed = asyncio.Event()
        self._dirty: set[str] = set()
        self._stopping = False

    @property
    def alarms(self) -> int:
        """Alarms waiting (at risk, supervisor, manager), stale ones included."""
        return len(self._alarms)

    def stop(self) -> None:
        """End `run` after any escalation in hand (its thread may be saving)."""
        self._stopping = True
        self._changed.set()

    def refresh(self, ticket_ids: Iterable[str]) -> None:
        """The SLA view changed these tickets (called on the event loop)."""
        self._dirty.update(ticket_ids)
        self._changed.set()

    async def _load_horizon(self) -> None:
        """Only targets due within HORIZON are held (and whatever their tickets' changes
        bring): memory follows what is due soon, not every open target."""
        now = self.desk.clock()
        self._schedule(await asyncio.to_thread(self.view.open_targets, None, now + HORIZON))
        self._reload_at = now + HORIZON / 2

    async def run(self) -> None:
        """Watch until stopped; a failure (the database restarting) costs a pause and a
        full reload of the horizon, never the watcher."""
        backoff = 0.5
        while not self._stopping:
            try:
                await self._watch()
                return
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning(
                    "SLA watcher: %s: %s; reloading in %.1fs", type(error).__name__, error, backoff
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)

    async def _watch(self) -> None:
        await self._load_horizon()
        while not self._stopping:
            self._changed.clear()  # before looking: a change made meanwhile wakes the wait
            if self.desk.clock() >= self._reload_at:
                await self._load_horizon()
            if self._dirty:
                dirty, self._dirty = sorted(self._dirty), set()
                targets = await asyncio.to_thread(self.view.open_targets, tickets=dirty)
                for ticket_id in dirty:
                    self._forget(ticket_id)
                self._schedule(targets)
            delay = self._seconds_to_next()
            if delay > 0:
                try:
                    await asyncio.wait_for(self._changed.wait(), delay)
                    continue
                except TimeoutError:
                    pass
            if not self._stopping:
                await self._fire_due()

    def _seconds_to_next(self) -> float:
        until = min(self._reload_at, self._alarms[0].at) if self._alarms else self._reload_at
        return max((until - self.desk.clock()).total_seconds(), 0.0)

    def _forget(self, ticket_id: str) -> None:
        for target in self._targets_of.pop(ticket_id, ()):
            self._live.pop((ticket_id, target), None)

    def _schedule(self, targets: list[dict]) -> None:
        calendar = self.desk.policy.business_calendar
        manager_after = parse_duration(self.desk.policy.escalation.manager_after)
        for t in targets:
            if t["paused_at"]:
                continue  # the clock stands still; the resume brings new dues
            key, due = (t["ticket_id"], t["target"]), t["due"]
            self._live[key] = due
            self._targets_of.setdefault(t["ticket_id"], set()).add(t["target"])
            levels = {e["level"] for e in _escalations(t)}
            risk = at_risk_from(t, calendar, self.desk.policy.goals.at_risk_share)
            if risk and "supervisor" not in levels:
                self._push(risk, t, "at_risk")
            if "supervisor" not in levels:
                self._push(due, t, "supervisor")
            if "manager" not in levels:
                self._push(calendar.due(due, manager_after, t["clock"]), t, "manager")

    def _push(self, at: datetime, t: dict, level: str) -> None:
        key = (t["ticket_id"], t["target"], t["due"], level)
        if key in self._pending:
            return  # already waiting in the heap (a refresh that changed nothing)
        self._pending.add(key)
        heapq.heappush(
            self._alarms,
            Alarm(
                at,
                next(self._counter),
                t["ticket_id"],
                t["target"],
                t["due"],
                level,
                t.get("number"),
            ),
        )

    async def _fire_due(self) -> None:
        now, due = self.desk.clock(), []
        while self._alarms and self._alarms[0].at <= now:
            alarm = heapq.heappop(self._alarms)
            self._pending.discard((alarm.ticket_id, alarm.target, alarm.due, alarm.level))
            if self._live.get((alarm.ticket_id, alarm.target)) != alarm.due:
                continue  # superseded: met, moved, or paused since
            if alarm.level == "at_risk":
                log.info(
                    "at risk: %s %s due %s",
                    alarm.number,
                    alarm.target,
                    alarm.due.isoformat(),
                    extra=ticket_fields(alarm.ticket_id, alarm.number, target=alarm.target),
                )
                continue
            due.append(alarm)
        if due:
            await asyncio.to_thread(self._escalate_all, due)

    def _escalate_all(self, alarms: list[Alarm]) -> None:
        """Every breach due now, in one transaction (a burst of deadlines stays on time);
        if another writer got in between, one by one."""
        now = self.desk.clock()
        tickets: dict[str, Ticket] = {}
        done: list[Alarm] = []
        for alarm in alarms:
            ticket = tickets.get(alarm.ticket_id) or self.desk.load(UUID(alarm.ticket_id))
            try:
                self._act(ticket, alarm, now)
            except (_NotDue, IllegalState):
                continue
            tickets[alarm.ticket_id] = ticket
            done.append(alarm)
        try:
            self.desk.save(*tickets.values())
        except IntegrityError:
            for alarm in done:
                self._escalate(alarm)
            return
        for alarm in done:
            self._record(alarm, tickets[alarm.ticket_id].number, now)

    def _act(self, ticket: Ticket, alarm: Alarm, now: datetime) -> None:
        target = ticket.sla.get(alarm.target) or {}
        if target.get("met_at") or not target.get("due") or ticket.paused_at:
            raise _NotDue
        if target["due"] != alarm.due or target["due"] > now:
            raise _NotDue
        if alarm.target == "confirmation":  # the customer did not answer: accepted
            if alarm.level != "supervisor":
                raise _NotDue
            ticket.confirm(comment=None, actor=CONFIRMER, at=now, automatic=True)
            return
        escalate_to(
            ticket,
            self.desk.policy,
            alarm.level,
            reason=breach_reason(alarm.target),
            actor=SYSTEM,
            now=now,
            target=alarm.target,
            due=alarm.due,
        )

    def _escalate(self, alarm: Alarm) -> None:
        now = self.desk.clock()
        try:
            ticket = self.desk.change(UUID(alarm.ticket_id), lambda t: self._act(t, alarm, now))
        except (_NotDue, IllegalState):
            return
        self._record(alarm, ticket.number, now)

    def _record(self, alarm: Alarm, number: str, now: datetime) -> None:
        lateness = (now - alarm.at).total_seconds()
        self.escalated.append((alarm.ticket_id, alarm.target, lateness))
        log.info(
            "escalated %s %s to %s, %.3fs after due",
            number,
            alarm.target,
            alarm.level,
            lateness,
            extra=ticket_fields(
                alarm.ticket_id,
                number,
                target=alarm.target,
                level=alarm.level,
                reason=breach_reason(alarm.target),
                lateness_s=lateness,
            ),
        )


def _escalations(target: dict) -> list[dict]:
    raw = target.get("escalations") or "[]"
    return json.loads(raw) if isinstance(raw, str) else raw
