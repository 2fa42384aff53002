"""Recorded ticket lives: realistic tickets driven through the application in-process.

The stories of `ticketflow simulate` (intake, assignment, updates, waits on the
customer, escalations, closing, ratings, reopenings, reclassifications), plus a few
declines and requests to other departments, each step some minutes or hours after the
one before, so that under the default policy some targets are met and some breached.
Used by the what-if benchmark and by the what-if tests, which need stores whose
recorded outcomes are varied.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from eventsourcing.application import Cache, ProcessingEvent

from domain.errors import TicketError
from services.application import messages as m
from services.application.commands import CommandService
from services.application.desk import TicketDesk
from services.application.registration import Registrar, Request
from services.cli.simulation import Story, generate

GAPS_MINUTES = (2, 10, 30, 90, 240, 600, 1500)  # between two steps of one ticket


class SteppingClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def record(
    desk: TicketDesk,
    clock: SteppingClock,
    count: int,
    *,
    seed: int = 7,
    start: datetime,
    every: timedelta = timedelta(minutes=7),
    progress: Callable[[int], None] | None = None,
    per_transaction: int = 1,
) -> int:
    """Record `count` tickets, one arriving `every` from `start`; returns the events
    recorded. `clock` must be the desk's clock.

    `per_transaction` > 1 stores the lives of that many tickets in one store
    transaction (`Batch`): the same events, made by the same Registrar and
    CommandService, only fewer commits and no reloading from the store."""
    with Batch(desk) if per_transaction > 1 else _Unbatched() as batch:
        return _record(desk, clock, count, seed, start, every, progress, per_transaction, batch)


def _record(
    desk: TicketDesk,
    clock: SteppingClock,
    count: int,
    seed: int,
    start: datetime,
    every: timedelta,
    progress: Callable[[int], None] | None,
    per_transaction: int,
    batch: _Unbatched,
) -> int:
    rng = random.Random(seed)
    stories = generate(count, seed, start + every * count, run=f"lives{seed}")
    registrar, commands = Registrar(desk), CommandService(desk)
    for i, story in enumerate(stories):
        clock.now = start + every * i
        body = {**story.request, "received_at": clock.now.isoformat()}
        [result] = registrar.register(
            [Request(story.channel, m.IntakeRequest.model_validate(body), clock.now)]
        )
        ticket_id = str(result.ticket_id)
        for name, fields in _steps(rng, story):
            clock.now += timedelta(minutes=rng.choice(GAPS_MINUTES))
            model = m.COMMANDS[name]
            if name == "request_department":  # due a day from now, when it is sent
                fields = {**fields, "due": (clock.now + timedelta(days=1)).isoformat()}
            try:
                commands.execute(name, model.model_validate({"ticket_id": ticket_id, **fields}))
            except TicketError:  # a step written for a flow that no longer applies
                batch.forget(result.ticket_id)
        if (i + 1) % per_transaction == 0:
            batch.flush()
        if progress and (i + 1) % 1000 == 0:
            progress(i + 1)
    batch.flush()
    return desk.recorder.max_notification_id() or 0


class _Unbatched:
    """Every save is a transaction of its own, as in the service."""

    def __enter__(self) -> _Unbatched:
        return self

    def __exit__(self, *_: object) -> None:
        pass

    def flush(self) -> None:
        pass

    def forget(self, aggregate_id: UUID) -> None:
        pass


class Batch(_Unbatched):
    """While inside, `desk.save` only collects the events, in order, and keeps each saved
    aggregate in the repository's cache, from which the next command loads it (as the
    library's cache does, without fast-forwarding and without a copy); `flush` stores
    what was collected in one transaction, then takes snapshots as `Application.save`
    does, and empties the cache. A command that fails may have changed the aggregate
    it loaded from the cache: `forget` stores what was saved and empties the cache, so
    the next command loads it from the store.

    Only for a single writer that reads no aggregate except through the repository,
    or ones stored before the last flush: true of `record` (each command names only
    its own ticket; intake probes the store for a day's numbers only before any
    ticket of that day exists)."""

    def __init__(self, desk: TicketDesk) -> None:
        self.desk, self.repository = desk, desk.repository
        self.pending = ProcessingEvent[Any]()

    def __enter__(self) -> Batch:
        r = self.repository
        self.kept = r.cache, r.fastforward, r.deepcopy_from_cache
        r.cache, r.fastforward, r.deepcopy_from_cache = Cache(), False, False
        self.desk.save = self.save  # type: ignore[method-assign]
        self.vault_sync = self._vault_sync("OFF")
        return self

    def __exit__(self, *_: object) -> None:
        del self.desk.save  # the class's again
        self._vault_sync(self.vault_sync)
        r = self.repository
        r.cache, r.fastforward, r.deepcopy_from_cache = self.kept

    def _vault_sync(self, mode: str) -> str:
        """The personal-key vault's SQLite `synchronous` set to `mode`; the one it had.
        (It commits once per intake batch, that is once per ticket here.)"""
        db = self.desk.vault.db
        if db.postgres:
            return mode
        [[before]] = db.outside_transaction("PRAGMA synchronous")
        db.outside_transaction(f"PRAGMA synchronous={mode}")
        return str(before)

    def save(self, *objs: Any, **kwargs: Any) -> list:
        self.pending.collect_events(*objs, **kwargs)
        for obj in objs:
            if obj is not None and hasattr(obj, "collect_events"):
                self.repository.cache.put(obj.id, obj)
        return []

    def flush(self) -> None:
        if self.pending.events:
            recordings = self.desk._record(self.pending)
            self.desk._take_snapshots(self.pending)
            self.desk._notify(recordings)
        self.pending = ProcessingEvent[Any]()
        self.repository.cache = Cache()

    def forget(self, aggregate_id: UUID) -> None:
        self.flush()


def _steps(rng: random.Random, story: Story) -> list[tuple[str, dict]]:
    steps = [(step.command, step.body) for step in story.steps]
    if steps and steps[0][0] == "assign" and rng.random() < 0.06:
        agent = steps[0][1]["assignee"]
        decline = {"actor": {"id": agent, "role": "agent"}, "reason": "not my area"}
        steps[1:1] = [("decline", decline), steps[0]]
    acknowledged = next((i for i, s in enumerate(steps) if s[0] == "acknowledge"), None)
    if acknowledged is not None and rng.random() < 0.1:
        agent = steps[acknowledged][1]["actor"]
        ask = {"actor": agent, "department": "tech", "ask": "the server logs, please"}
        steps.insert(acknowledged + 1, ("request_department", ask))
    return steps
