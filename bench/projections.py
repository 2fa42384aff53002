"""Projections, rebuild and SLA escalation lateness, beside the raw limits of JetStream.

    .venv/bin/python -m bench.projections [--events N] [--store sqlite|postgresql://...]
                                          [--repeat 3] [--json-only] [--profile]

Everything runs in ONE process against ONE embedded nats-server (its own temp dir,
`sync_interval: always`, the service default):

1. prepare: the real application (`TicketDesk` + `Registrar` + the `CommandService`'s
   own command handlers) stores about N ticket events for ~N/9.8 tickets on a moving
   fake clock (assign, acknowledge, internal and customer updates, waits on the
   customer and resumes, escalations, reclassifications, closes, ratings, reopens via
   low ratings, closes again). `infra.relay.Relay` publishes them to TICKETS_EVENTS.
2. raw limits on those N CloudEvents: a durable pull consumer `fetch(500)` + ack of
   each message (the projector's pattern), and the same with AckPolicy.ALL and one ack
   per batch; an ordered push consumer with a callback; the same read with `next_msg()`
   + `json.loads` (the pattern `Projector.rebuild` uses).
3. live: for each projection of `services.readside.projections.projections_for` (sla, audit, stats,
   reports) a `Projector` (`ReadDB` on a fresh store URL) consuming its durable from the
   start; events/s until its position reaches the stream's last sequence. Then all four
   on one fresh database as the service runs them: one durable, each batch read once
   and applied by each projection in turn (`infra.projector.Feed`); then the four with
   a durable each on that database; `--separate-dbs` adds a durable and a database each.
4. rebuild: `Projector.rebuild()` of each filled projection; events/s. Beside it a
   SKETCH that is not service code (`rebuild_sketch`): a callback-fed ordered consumer,
   each message parsed once, chunks applied in a worker thread while the next chunk is
   read; per projection (its tables are checked equal to `Projector.rebuild`'s), and for
   all four projections from one reader. Beside 3 and 4, `Projector.apply_batch` alone
   (500 parsed events per call, no NATS), and the share of the live/rebuild wall time
   spent inside `apply_batch`, which split the time into "consuming" and "applying".
5. SLA watcher lateness: the real service in-process (`build_service`) with one SLA rule
   (`when={}`, `clock="wall"`, `first_response="3s"`); `--sla-tickets` requests spread
   over ~2 s, none answered. Lateness = escalation recorded - target due, from the
   watcher's own record (`watcher.escalated`) and from the Escalated events on the stream
   (event time and stream-stored time, each minus the `due` the event carries). Then the
   same with a burst (`--sla-burst`, default 1,000 over the same ~2 s).

Repeated parts (`--repeat`, default 3) report medians. A table goes to stdout, then one
JSON line with every figure (`--json-only`: just the JSON line). `--profile` adds extra
runs (not in the medians) under cProfile: the event-loop thread of one live run and of
one rebuild per projection (NATS, asyncio, parsing; `apply_batch` runs in a worker thread
and is not in these), and `apply_batch` alone; own time by area and the top functions go
to stderr and into the JSON. The whole default run takes about 2.5 minutes (PostgreSQL:
about 10; use `--events 5000 --repeat 1` there for a quick look).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import io
import json
import math
import os
import platform
import pstats
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import nats
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from bench.intake import (
    StoreKind,
    cpu_seconds,
    fmt,
    load_texts,
    make_requests,
    median,
    paced,
    pct,
    reset_streams,
    run_cleanly,
)
from domain.roles import check_may_send
from domain.sla import SlaRule
from infra.nats_server import EmbeddedNats
from infra.policy_file import load_policy
from infra.projector import Feed, Projector
from infra.readdb import ReadDB
from infra.relay import Relay
from infra.store import store_env
from infra.streams import DLQ, EVENTS, INTAKE, ensure_streams
from projections.base import Projection
from services.application import messages as m
from services.application.commands import CommandService
from services.application.desk import TicketDesk
from services.application.registration import Registrar, Request
from services.readside.projections import projections_for

NAMES = ("sla", "audit", "stats", "reports")
EVENTS_PER_TICKET = 9.8  # what the command mix below stores per ticket (measured)
REBUILD_TARGET = 50_000  # events/s
T0 = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)  # Tuesday 09:00 in Asia/Shanghai
SPACING = timedelta(seconds=15)  # between two tickets' arrivals
SUPERVISOR = {"id": "S001", "role": "supervisor"}
CHANNEL = {"id": "web", "role": "channel"}
AGENTS = [f"A{i:03d}" for i in range(1, 41)]
WAIT_TIMEOUT = 120.0

_quiet = False


def say(text: str) -> None:
    if not _quiet:
        print(text, file=sys.stderr, flush=True)


# ---- 1. realistic events ----------------------------------------------------------------


class MovingClock:
    """A fake clock the preparation sets per ticket and per command."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Prepared:
    desk: TicketDesk
    tickets: int
    events: int
    seconds: float
    commands: int
    counts: dict[str, int]


def _requests(n: int, seed: int) -> list[tuple[datetime, Request]]:
    """bench.intake's realistic request bodies, arriving SPACING apart from T0."""
    out = []
    for i, r in enumerate(make_requests(n, load_texts(), f"proj{seed}", seed)):
        arrived = T0 + i * SPACING
        doc = json.loads(r.payload)
        if "received_at" in doc:  # email: its Date header, a little before arrival
            doc["received_at"] = (arrived - timedelta(seconds=30)).isoformat()
        out.append((arrived, Request(r.channel, m.IntakeRequest.model_validate(doc), arrived)))
    return out


def prepare(store_url: str, tmp: Path, n_events: int, seed: int = 7) -> Prepared:
    """About `n_events` ticket events from the real application code.

    Registration is `Registrar.register` (batches of 100, the clock at the batch's last
    arrival). Commands are the `CommandService`'s own handlers (`_acts`, after the same
    role check `execute` makes) applied to tickets held in memory, in rounds over all
    tickets (so the store interleaves tickets as a busy day does), saved 200 tickets per
    transaction. `execute` itself would load and save per command: ~1.7 ms each, 30 s
    for this mix; the events are the same.
    """
    t_start = time.perf_counter()
    policy = load_policy()
    clock = MovingClock(T0)
    desk = TicketDesk(policy, store_env(store_url, tmp), clock=clock)
    rng = random.Random(seed)
    n_tickets = max(math.ceil(n_events / EVENTS_PER_TICKET), 1)
    requests = _requests(n_tickets, seed)
    registrar = Registrar(desk)
    ids = []
    for start in range(0, n_tickets, 100):
        part = requests[start : start + 100]
        clock.now = part[-1][0]
        ids += [r.ticket_id for r in registrar.register([req for _, req in part])]
    tickets = [desk.load(i) for i in ids]
    service = CommandService(desk)
    categories = [
        f"{top}/{sub}" if sub else top
        for top, subs in policy.classification.categories.items()
        for sub in (subs or [""])
    ]
    commands = 0
    counts: dict[str, int] = {}

    # One plan per ticket: (offset after arrival, command, fields); a None marks an
    # optional step not taken by this ticket.
    def plan(t: Any) -> list[tuple[timedelta, str, dict] | None]:
        agent = rng.choice(AGENTS)
        actor = {"id": agent, "role": "agent"}
        waits = rng.random() < 0.4
        closes = rng.random() < 0.85
        rates = closes and rng.random() < 0.6
        score = rng.choices([1, 2, 3, 4, 5], weights=[1, 1, 1, 3, 4])[0]
        low = rates and score <= policy.rating.reopen_at_or_below
        return [
            (
                timedelta(minutes=2),
                "classify",
                {
                    "actor": actor,
                    "type": rng.choice(["technical", "consultation", "complaint"]),
                    "category": rng.choice(categories),
                    "reason": "re-read the request",
                },
            )
            if rng.random() < 0.05
            else None,
            (timedelta(minutes=3), "assign", {"actor": SUPERVISOR, "assignee": agent}),
            (timedelta(minutes=8), "acknowledge", {"actor": actor}),
            (timedelta(minutes=20), "update", {"actor": actor, "note": "looking into it"}),
            (
                timedelta(minutes=40),
                "update",
                {
                    "actor": actor,
                    "note": "we are on it",
                    "visibility": "customer",
                    "next_step": "check the order",
                },
            ),
            (
                timedelta(hours=1),
                "update",
                {
                    "actor": actor,
                    "note": "please send the order number",
                    "visibility": "customer",
                    "waiting_on_customer": True,
                },
            )
            if waits
            else None,
            (
                timedelta(hours=3),
                "update",
                {"actor": actor, "note": "thanks, got it", "visibility": "customer"},
            )
            if waits
            else None,
            (
                timedelta(hours=4),
                "update",
                {"actor": actor, "note": "fix is being tested", "visibility": "customer"},
            ),
            (
                timedelta(hours=4, minutes=30),
                "escalate",
                {"actor": actor, "level": "supervisor", "reason": "needs a refund approval"},
            )
            if rng.random() < 0.15
            else None,
            (timedelta(hours=6), "close", {"actor": actor, "resolution": "resolved"})
            if closes
            else None,
            (
                timedelta(hours=8),
                "rate",
                {"actor": CHANNEL, "score": score, "comment": "ok" if score > 2 else "not solved"},
            )
            if rates
            else None,
            (timedelta(hours=30), "close", {"actor": actor, "resolution": "resolved again"})
            if low
            else None,
        ]

    plans = [plan(t) for t in tickets]
    rounds = len(plans[0])
    for step in range(rounds):
        order = list(range(len(tickets)))
        rng.shuffle(order)
        changed = []
        for k in order:
            entry = plans[k][step]
            if entry is None:
                continue
            offset, name, fields = entry
            t = tickets[k]
            now = t.received_at + offset + timedelta(seconds=rng.uniform(0, 60))
            clock.now = now
            command = m.COMMANDS[name].model_validate({"ticket_id": str(t.id), **fields})
            check_may_send(name, command.actor.role)
            service._acts[name](t, command, command.actor.value(), now)
            commands += 1
            counts[name] = counts.get(name, 0) + 1
            changed.append(t)
            if len(changed) >= 200:
                desk.save(*changed)
                changed = []
        if changed:
            desk.save(*changed)
    events = sum(t.version for t in tickets)
    return Prepared(desk, n_tickets, events, time.perf_counter() - t_start, commands, counts)


async def publish_with_relay(desk: TicketDesk, js: JetStreamContext) -> tuple[int, float]:
    """Relay everything stored to TICKETS_EVENTS (as the service does); (count, seconds)."""
    await reset_streams(js, [EVENTS])
    await ensure_streams(js)
    relay = Relay(desk, js, batch_size=500)
    t0 = time.perf_counter()
    await relay.flush()  # publish what is stored, then return
    await asyncio.wait_for(relay.run(), WAIT_TIMEOUT)
    return relay.published, time.perf_counter() - t0


# ---- 2. raw limits ----------------------------------------------------------------------


async def drop_consumer(js: JetStreamContext, durable: str) -> None:
    with contextlib.suppress(NotFoundError):
        await js.delete_consumer(EVENTS, durable)


async def raw_pull(js: JetStreamContext, n: int, durable: str, ack_all: bool = False) -> float:
    """Durable pull consumer from the start, fetch(500) + ack each (the projector's way);
    with `ack_all`, AckPolicy.ALL and one ack for the last message of each batch. msgs/s."""
    await drop_consumer(js, durable)
    t0 = time.perf_counter()
    sub = await js.pull_subscribe(
        "tickets.events.>",
        durable=durable,
        stream=EVENTS,
        config=ConsumerConfig(
            ack_policy=AckPolicy.ALL if ack_all else AckPolicy.EXPLICIT,
            ack_wait=60,
            deliver_policy=DeliverPolicy.ALL,
            max_ack_pending=20_000,
        ),
    )
    got = 0
    try:
        while got < n:
            try:
                msgs = await sub.fetch(500, timeout=0.5)
            except TimeoutError:
                continue
            for msg in msgs[-1:] if ack_all else msgs:
                await msg.ack()
            got += len(msgs)
        elapsed = time.perf_counter() - t0
    finally:
        await sub.unsubscribe()
        await drop_consumer(js, durable)
    return got / elapsed


async def raw_ordered_cb(js: JetStreamContext, n: int) -> float:
    """Ordered push consumer from the start, a callback counting messages; msgs/s."""
    done = asyncio.Event()
    got = 0

    async def on_msg(msg: Any) -> None:
        nonlocal got
        got += 1
        if got >= n:
            done.set()

    t0 = time.perf_counter()
    sub = await js.subscribe(
        "tickets.events.>", cb=on_msg, ordered_consumer=True, deliver_policy=DeliverPolicy.ALL
    )
    try:
        await asyncio.wait_for(done.wait(), WAIT_TIMEOUT)
        elapsed = time.perf_counter() - t0
    finally:
        await sub.unsubscribe()
    return got / elapsed


async def raw_ordered_next(js: JetStreamContext, n: int) -> tuple[float, list]:
    """Ordered consumer read with next_msg() + json.loads, as Projector.rebuild reads;
    msgs/s, and the parsed (stream seq, event) pairs."""
    out: list[tuple[int, dict]] = []
    t0 = time.perf_counter()
    sub = await js.subscribe(
        "tickets.events.>", ordered_consumer=True, deliver_policy=DeliverPolicy.ALL
    )
    try:
        while len(out) < n:
            msg = await sub.next_msg(timeout=5.0)
            out.append((msg.metadata.sequence.stream, json.loads(msg.data)))
        elapsed = time.perf_counter() - t0
    finally:
        await sub.unsubscribe()
    return len(out) / elapsed, out


# ---- 3./4. projections ------------------------------------------------------------------


def new_projections(desk: TicketDesk, names: Sequence[str]) -> list[Projection]:
    return [p for p in projections_for(desk.policy) if p.name in names]


class Cpu:
    """CPU seconds of this process (all threads) and of the nats-server over a span."""

    def __init__(self, nats_pid: int | None) -> None:
        self.nats_pid = nats_pid
        self.me0, self.srv0, self.t0 = time.process_time(), cpu_seconds(nats_pid), 0.0

    def start(self) -> None:
        self.me0, self.srv0 = time.process_time(), cpu_seconds(self.nats_pid)
        self.t0 = time.perf_counter()

    def util(self) -> dict[str, float | None]:
        wall = time.perf_counter() - self.t0
        srv1 = cpu_seconds(self.nats_pid)
        return {
            "bench_cpu_util": (time.process_time() - self.me0) / wall,
            "nats_cpu_util": None
            if self.srv0 is None or srv1 is None
            else (srv1 - self.srv0) / wall,
        }


def timed_apply(projector: Projector) -> list[float]:
    """Wrap this projector's `apply_batch` (an instance attribute; the class is untouched)
    to add up the wall time spent in it; returns the one-element accumulator."""
    spent = [0.0]
    original = projector.apply_batch

    def apply_batch(batch: Sequence[tuple[int, dict]]) -> list[dict]:
        t0 = time.perf_counter()
        try:
            return original(batch)
        finally:
            spent[0] += time.perf_counter() - t0

    projector.apply_batch = apply_batch  # type: ignore[method-assign]
    return spent


async def live(
    desk: TicketDesk,
    js: JetStreamContext,
    names: Sequence[str],
    db_urls: Sequence[str],
    last_seq: int,
    nats_pid: int | None,
    profile: cProfile.Profile | None = None,
    shared: bool = False,
) -> tuple[dict, list[Projector]]:
    """Projectors for `names` (each its own ReadDB, on `db_urls[i]` or all on the one URL
    given) consume their durables from the start, together; time until each one's
    position reaches `last_seq`. `shared`: one durable for all, each batch read once and
    applied by each projector in turn (`infra.projector.Feed`, as the service runs them)."""
    projectors: list[Projector] = []
    spent: dict[str, list[float]] = {}
    finished: dict[str, float] = {}
    all_done = asyncio.Event()

    def applied(name: str, events: Sequence[dict]) -> None:
        p = next(p for p in projectors if p.projection.name == name)
        if p.position >= last_seq and name not in finished:
            finished[name] = time.perf_counter()
            if len(finished) == len(projectors):
                all_done.set()

    for i, projection in enumerate(new_projections(desk, names)):
        await drop_consumer(js, f"ticketflow-projection-{projection.name}")
        url = db_urls[i] if len(db_urls) > 1 else db_urls[0]
        projectors.append(Projector(projection, ReadDB(url, durable=False), js, on_applied=applied))
        spent[projection.name] = timed_apply(projectors[-1])
    cpu = Cpu(nats_pid)
    cpu.start()
    t0 = time.perf_counter()
    if profile:
        profile.enable()
    if shared:  # as the service: services.bootstrap, infra.projector.Feed
        await drop_consumer(js, "ticketflow-projection-shared")
        feeds = [Feed(projectors, js, durable="ticketflow-projection-shared")]
    else:  # a consumer each
        feeds = [
            Feed([p], js, durable=f"ticketflow-projection-{p.projection.name}") for p in projectors
        ]
    tasks = [asyncio.create_task(f.run()) for f in feeds]
    try:
        await asyncio.wait_for(all_done.wait(), WAIT_TIMEOUT)
        elapsed = time.perf_counter() - t0
        util = cpu.util()
    finally:
        if profile:
            profile.disable()
        for f in feeds:
            f.stop()
        await asyncio.wait(tasks, timeout=5)
        for f in feeds:
            await drop_consumer(js, f.durable)
    result = {
        "events_s": last_seq / elapsed,
        "seconds": elapsed,
        "per_projection_events_s": {n: last_seq / (t - t0) for n, t in finished.items()},
        "apply_share": {n: s[0] / (finished[n] - t0) for n, s in spent.items()},
        **util,
    }
    return result, projectors


async def rebuild(
    projector: Projector, nats_pid: int | None, profile: cProfile.Profile | None = None
) -> dict:
    """`Projector.rebuild()` as the admin command runs it; the share of its wall time
    spent in apply_batch (a worker thread) is measured alongside."""
    spent = timed_apply(projector)
    cpu = Cpu(nats_pid)
    cpu.start()
    if profile:
        profile.enable()
    t0 = time.perf_counter()
    try:
        done = await asyncio.wait_for(projector.rebuild(), WAIT_TIMEOUT)
    finally:
        if profile:
            profile.disable()
        del projector.apply_batch  # back to the class's method
    elapsed = time.perf_counter() - t0
    return {
        "events_s": done / elapsed,
        "seconds": elapsed,
        "position": done,
        "apply_share": spent[0] / elapsed,
        **cpu.util(),
    }


async def rebuild_sketch(
    projectors: Sequence[Projector], js: JetStreamContext, last_seq: int
) -> dict:
    """NOT the service's code: what `Projector.rebuild` (and, from a stored position, the
    live loop) could do instead, measured on the same projectors. An ordered consumer
    with a callback (no task per message, unlike `next_msg` and `fetch`) parses each
    message once into chunks of 2,000; each chunk is applied to every projector in a
    worker thread while the next one is read."""
    chunks: asyncio.Queue[list[tuple[int, dict]]] = asyncio.Queue()
    chunk: list[tuple[int, dict]] = []

    async def on_msg(msg: Any) -> None:
        nonlocal chunk
        seq = msg.metadata.sequence.stream
        chunk.append((seq, json.loads(msg.data)))
        if len(chunk) >= 2000 or seq >= last_seq:
            chunks.put_nowait(chunk)
            chunk = []

    def apply_all(batch: list[tuple[int, dict]]) -> None:
        for projector in projectors:
            projector.apply_batch(batch)

    t0 = time.perf_counter()
    for projector in projectors:
        await asyncio.to_thread(projector._reset)
    sub = await js.subscribe(
        "tickets.events.>", cb=on_msg, ordered_consumer=True, deliver_policy=DeliverPolicy.ALL
    )
    done = 0
    try:
        while done < last_seq:
            batch = await asyncio.wait_for(chunks.get(), 10)
            await asyncio.to_thread(apply_all, batch)
            done = batch[-1][0]
        elapsed = time.perf_counter() - t0
    finally:
        await sub.unsubscribe()
    return {"events_s": done / elapsed, "seconds": elapsed, "position": done}


def apply_only(
    desk: TicketDesk,
    name: str,
    db_url: str,
    stream: Sequence[tuple[int, dict]],
    profile: cProfile.Profile | None = None,
) -> float:
    """Projector.apply_batch alone, 500 parsed events per call, into a fresh database."""
    [projection] = new_projections(desk, [name])
    projector = Projector(projection, ReadDB(db_url, durable=False), js=None)  # type: ignore[arg-type]
    try:
        if profile:
            profile.enable()
        t0 = time.perf_counter()
        for start in range(0, len(stream), 500):
            projector.apply_batch(stream[start : start + 500])
        elapsed = time.perf_counter() - t0
    finally:
        if profile:
            profile.disable()
        projector.db.close()
    return len(stream) / elapsed


def top_functions(profile: cProfile.Profile, limit: int = 12) -> dict:
    stats = pstats.Stats(profile, stream=io.StringIO())
    total = stats.total_tt or 1.0  # type: ignore[attr-defined]
    rows = []
    for (file, line, func), (_cc, nc, tt, ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        short = (
            file
            if file.startswith("<") or file == "~"
            else ("/".join(Path(file).parts[-2:]) + f":{line}")
        )
        rows.append(
            {
                "function": f"{short}({func})",
                "calls": nc,
                "tottime_share": tt / total,
                "cumtime_share": ct / total,
            }
        )
    rows.sort(key=lambda r: -r["tottime_share"])
    return {"by_area": by_area(profile), "top": rows[:limit]}


AREAS = (  # (area, substrings of a profile entry's file:function), first match wins
    ("idle (epoll wait)", ("'poll' of 'select.epoll'",)),
    ("sqlite3 (execute, fetch, commit)", ("sqlite3.",)),
    ("json decode/encode", ("/json/", "json.decoder", "json.encoder")),
    ("nats-py", ("/nats/",)),
    ("asyncio + selectors", ("/asyncio/", "selectors.py", "_asyncio", "'run_in_executor'")),
    ("uuid", ("uuid.py",)),
    (
        "projections + projector + readdb",
        ("projections/", "infra/projector", "infra/readdb", "services/group_impact"),
    ),
)


def by_area(profile: cProfile.Profile) -> dict[str, float]:
    """Own time of a profile grouped into AREAS (shares of the total)."""
    stats = pstats.Stats(profile, stream=io.StringIO())
    total = stats.total_tt or 1.0  # type: ignore[attr-defined]
    shares: dict[str, float] = {}
    for (file, _line, func), (_cc, _nc, tt, _ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        key = f"{file}:{func}"
        area = next(
            (a for a, needles in AREAS if any(x in key for x in needles)), "builtins and other"
        )
        shares[area] = shares.get(area, 0.0) + tt / total
    return dict(sorted(shares.items(), key=lambda kv: -kv[1]))


def dump(projector: Projector) -> dict[str, list[tuple]]:
    """Every row of the projection's tables, sorted (to compare two rebuilds)."""
    with projector.db.transaction(write=False) as tx:
        return {
            table: sorted(tuple(r) for r in tx.execute(f"SELECT * FROM {table}").fetchall())
            for table in projector.projection.table_names
        }


def close_projectors(projectors: Sequence[Projector]) -> None:
    for p in projectors:
        with contextlib.suppress(Exception):
            p.db.close()


# ---- 5. SLA watcher lateness ------------------------------------------------------------


async def sla_lateness(
    url: str, js: JetStreamContext, store: StoreKind, tmp: Path, n: int, spread: float, wait: float
) -> dict:
    from services.bootstrap import build_service
    from services.runtime.settings import Settings

    await reset_streams(js, [INTAKE, EVENTS, DLQ])
    base = load_policy()
    policy = base.model_copy(update={"sla": [SlaRule(when={}, clock="wall", first_response="3s")]})
    due_after = 3.0
    run_dir = Path(tempfile.mkdtemp(prefix="sla-", dir=tmp))
    reqs = make_requests(n, load_texts(), f"sla{os.getpid()}", seed=11)
    escalated: list[dict] = []
    received = 0

    async def on_event(msg: Any) -> None:
        nonlocal received
        kind = msg.subject.split(".", 3)[2]
        if kind == "Received":
            received += 1
        elif kind == "Escalated":
            event = json.loads(msg.data)
            escalated.append(
                {"event": event, "stored": msg.metadata.timestamp, "seen": datetime.now(UTC)}
            )

    try:
        with store.fresh(run_dir) as store_url:
            settings = Settings(
                data_dir=run_dir / "data",
                nats_url=url,
                store=store_url if store.postgres else None,
                policy=policy,
            )
            service = build_service(settings)
            started = False
            try:
                t_start = time.perf_counter()
                await service.start()
                started = True
                startup = time.perf_counter() - t_start
                sub = await js.subscribe(
                    "tickets.events.>",
                    cb=on_event,
                    ordered_consumer=True,
                    deliver_policy=DeliverPolicy.ALL,
                )
                try:
                    futures = []
                    async for r in paced(reqs, n / spread):
                        doc = json.loads(r.payload)
                        doc.pop("received_at", None)  # due = arrival + 3 s for every ticket
                        futures.append(
                            await js.publish_async(
                                r.subject,
                                json.dumps(doc, ensure_ascii=False).encode(),
                                headers={"Nats-Msg-Id": r.msg_id},
                            )
                        )
                    await asyncio.wait_for(asyncio.gather(*futures), 30)
                    t_last = time.perf_counter()
                    watcher = service.parts.watcher
                    deadline = t_last + due_after + wait
                    while time.perf_counter() < deadline:
                        if len(watcher.escalated) >= n and len(escalated) >= n:
                            break
                        await asyncio.sleep(0.05)
                    await asyncio.sleep(0.5)  # the last events' way to the stream
                finally:
                    await sub.unsubscribe()
                recorded = [
                    late * 1000
                    for _, target, late in watcher.escalated
                    if target == "first_response"
                ]
            finally:
                if started:
                    await service.stop()
                else:
                    service.desk.close()
    finally:
        await reset_streams(js, [INTAKE, EVENTS, DLQ])
        shutil.rmtree(run_dir, ignore_errors=True)

    def ms(key: str) -> list[float]:
        out = []
        for e in escalated:
            data = e["event"]["data"]
            if data.get("target") != "first_response" or data.get("level") != "supervisor":
                continue
            due = datetime.fromisoformat(data["due"])
            at = datetime.fromisoformat(e["event"]["time"]) if key == "time" else e[key]
            if at.tzinfo is None:
                at = at.replace(tzinfo=UTC)
            out.append((at - due).total_seconds() * 1000)
        return out

    def summary(values: list[float]) -> dict:
        return {
            "p50_ms": pct(values, 50),
            "p99_ms": pct(values, 99),
            "max_ms": max(values, default=None),
            "min_ms": min(values, default=None),
            "count": len(values),
        }

    return {
        "tickets": n,
        "spread_s": spread,
        "due_after_s": due_after,
        "startup_s": startup,
        "received": received,
        "watcher": summary(recorded),
        "event_time": summary(ms("time")),
        "stream_stored": summary(ms("stored")),
        "seen_by_bench": summary(ms("seen")),
    }


# ---- the run ----------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> dict:
    store = StoreKind(args.store)
    tmp = Path(tempfile.mkdtemp(prefix="ticketflow-bench-proj-"))
    server = EmbeddedNats(tmp / "nats", sync_interval="always")
    nc = None
    prepared: Prepared | None = None
    out: dict[str, Any] = {
        "events_target": args.events,
        "repeat": args.repeat,
        "store": "postgresql" if store.postgres else "sqlite",
        "nats_sync": "always",
        "nproc": os.cpu_count(),
        "python": platform.python_version(),
    }
    open_projectors: list[Projector] = []
    stack = contextlib.ExitStack()
    t_bench = time.perf_counter()
    reps = args.repeat
    try:
        url = await asyncio.to_thread(server.start)
        nats_pid = server.process.pid if server.process else None
        nc = await nats.connect(url, name="ticketflow-bench-projections")
        js = nc.jetstream(publish_async_max_pending=4000)

        def fresh_url(name: str) -> str:
            d = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=tmp))
            return stack.enter_context(store.fresh(d, f"{name}.db"))

        # 2. prepare + relay
        prepared = await asyncio.to_thread(prepare, fresh_url("events"), tmp, args.events)
        published, relay_s = await publish_with_relay(prepared.desk, js)
        info = await js.stream_info(EVENTS)
        n = info.state.last_seq
        out.update(
            {
                "tickets": prepared.tickets,
                "stored_events": prepared.events,
                "commands": prepared.commands,
                "command_counts": prepared.counts,
                "prepare_s": prepared.seconds,
                "relay_published": published,
                "relay_events_s": published / relay_s,
                "stream_events": n,
                "stream_bytes_avg": info.state.bytes / max(n, 1),
            }
        )
        say(
            f"prepared {prepared.tickets:,} tickets, {prepared.events:,} events in "
            f"{prepared.seconds:.1f} s; relay published {published:,} in {relay_s:.2f} s"
        )

        # 1. raw
        pulls, pulls_all, cbs, nexts = [], [], [], []
        stream: list[tuple[int, dict]] = []
        for k in range(reps):
            pulls.append(await raw_pull(js, n, f"bench-raw-pull-{k}"))
            pulls_all.append(await raw_pull(js, n, f"bench-raw-pullall-{k}", ack_all=True))
            cbs.append(await raw_ordered_cb(js, n))
            rate, stream = await raw_ordered_next(js, n)
            nexts.append(rate)
            say(
                f"raw {k + 1}/{reps}: pull fetch(500)+ack {pulls[-1]:,.0f}, with one ack-all "
                f"per batch {pulls_all[-1]:,.0f}, ordered cb {cbs[-1]:,.0f}, ordered "
                f"next_msg+json {nexts[-1]:,.0f} msgs/s"
            )
        out.update(
            {
                "raw_pull_msgs_s": median(pulls),
                "raw_pull_runs": pulls,
                "raw_pull_ack_all_msgs_s": median(pulls_all),
                "raw_pull_ack_all_runs": pulls_all,
                "raw_ordered_msgs_s": median(cbs),
                "raw_ordered_runs": cbs,
                "raw_ordered_next_json_msgs_s": median(nexts),
                "raw_ordered_next_json_runs": nexts,
            }
        )

        # 3. live, one at a time, then all four together
        profiles: dict[str, dict] = {}
        names = [n_ for n_ in NAMES if n_ in (args.only or NAMES)]
        filled: dict[str, Projector] = {}
        for name in names:
            runs = []
            for k in range(reps):
                result, projectors = await live(
                    prepared.desk, js, [name], [fresh_url(name)], n, nats_pid
                )
                runs.append(result)
                if k == reps - 1:
                    filled[name] = projectors[0]
                    open_projectors += projectors
                else:
                    close_projectors(projectors)
                say(
                    f"live {name} {k + 1}/{reps}: {result['events_s']:,.0f} events/s "
                    f"(in apply_batch {result['apply_share'][name]:.0%} of the time; bench "
                    f"CPU {result['bench_cpu_util']:.2f}, nats {result['nats_cpu_util'] or 0:.2f})"
                )
            out[f"live_{name}_events_s"] = median([r["events_s"] for r in runs])
            out[f"live_{name}_runs"] = [r["events_s"] for r in runs]
            out[f"live_{name}_apply_share"] = median([r["apply_share"][name] for r in runs])
            out[f"live_{name}_bench_cpu_util"] = median([r["bench_cpu_util"] for r in runs])
            out[f"live_{name}_nats_cpu_util"] = median([r["nats_cpu_util"] for r in runs])
            if args.profile:  # an extra run, not in the medians
                prof = cProfile.Profile()
                _, projectors = await live(
                    prepared.desk, js, [name], [fresh_url(name)], n, nats_pid, prof
                )
                close_projectors(projectors)
                profiles[f"live_{name}_event_loop_thread"] = top_functions(prof)
        if len(names) > 1:
            # as in the service: one consumer for the four, one database; then a
            # consumer each on one database; then one database each
            variants = [("live_shared", False, True), ("live_all", False, False)]
            if args.separate_dbs:
                variants.append(("live_all_separate_dbs", True, False))
            for key, separate, shared in variants:
                runs = []
                for k in range(reps):
                    urls = (
                        [fresh_url(f"all-{nm}") for nm in names] if separate else [fresh_url("all")]
                    )
                    result, projectors = await live(
                        prepared.desk, js, names, urls, n, nats_pid, shared=shared
                    )
                    close_projectors(projectors)
                    runs.append(result)
                    per = ", ".join(
                        f"{k_} {v:,.0f}" for k_, v in result["per_projection_events_s"].items()
                    )
                    say(
                        f"{key} {k + 1}: {result['events_s']:,.0f} events/s until the last "
                        f"caught up ({per}; bench CPU {result['bench_cpu_util']:.2f}, nats "
                        f"{result['nats_cpu_util'] or 0:.2f})"
                    )
                out[f"{key}_events_s"] = median([r["events_s"] for r in runs])
                out[f"{key}_runs"] = [r["events_s"] for r in runs]
                out[f"{key}_bench_cpu_util"] = median([r["bench_cpu_util"] for r in runs])
                out[f"{key}_nats_cpu_util"] = median([r["nats_cpu_util"] for r in runs])
                out[f"{key}_per_projection_events_s"] = {
                    name: median([r["per_projection_events_s"].get(name) for r in runs])
                    for name in names
                }
                out[f"{key}_apply_share"] = {
                    name: median([r["apply_share"].get(name) for r in runs]) for name in names
                }

        # 4. rebuild of the filled projections (+ the sketch of a faster reader)
        for name in names:
            runs = []
            for k in range(reps):
                runs.append(await rebuild(filled[name], nats_pid))
                say(
                    f"rebuild {name} {k + 1}/{reps}: {runs[-1]['events_s']:,.0f} events/s "
                    f"(position {runs[-1]['position']:,}, in apply_batch "
                    f"{runs[-1]['apply_share']:.0%} of the time)"
                )
            out[f"rebuild_{name}_events_s"] = median([r["events_s"] for r in runs])
            out[f"rebuild_{name}_runs"] = [r["events_s"] for r in runs]
            out[f"rebuild_{name}_complete"] = all(r["position"] == n for r in runs)
            out[f"rebuild_{name}_apply_share"] = median([r["apply_share"] for r in runs])
            out[f"rebuild_{name}_bench_cpu_util"] = median([r["bench_cpu_util"] for r in runs])
            before = await asyncio.to_thread(dump, filled[name])
            sketches = []
            for _ in range(reps):
                sketches.append(await rebuild_sketch([filled[name]], js, n))
            out[f"rebuild_sketch_{name}_same_tables"] = (
                await asyncio.to_thread(dump, filled[name]) == before
            )
            out[f"rebuild_sketch_{name}_events_s"] = median([r["events_s"] for r in sketches])
            out[f"rebuild_sketch_{name}_runs"] = [r["events_s"] for r in sketches]
            say(
                f"rebuild sketch (callback reader, pipelined) {name}: "
                f"{out[f'rebuild_sketch_{name}_events_s']:,.0f} events/s, same tables as "
                f"Projector.rebuild: {out[f'rebuild_sketch_{name}_same_tables']}"
            )
            if args.profile:  # an extra run, not in the medians
                prof = cProfile.Profile()
                await rebuild(filled[name], nats_pid, prof)
                profiles[f"rebuild_{name}_event_loop_thread"] = top_functions(prof)
        close_projectors(open_projectors)
        open_projectors = []
        if len(names) > 1:  # all four from one reader, on one fresh database
            sketches = []
            for _ in range(reps):
                url_all = fresh_url("sketch-all")
                projectors = [
                    Projector(p, ReadDB(url_all, durable=False), js)
                    for p in new_projections(prepared.desk, names)
                ]
                try:
                    sketches.append(await rebuild_sketch(projectors, js, n))
                finally:
                    close_projectors(projectors)
            out["sketch_all_events_s"] = median([r["events_s"] for r in sketches])
            out["sketch_all_runs"] = [r["events_s"] for r in sketches]
            say(
                f"sketch: all four from one callback reader, pipelined: "
                f"{out['sketch_all_events_s']:,.0f} events/s"
            )

        # apply_batch alone (the stream parsed once above)
        for name in names:
            rates: list[float] = []
            for _ in range(reps):
                rates.append(
                    await asyncio.to_thread(
                        apply_only, prepared.desk, name, fresh_url(f"apply-{name}"), stream
                    )
                )
            out[f"apply_{name}_events_s"] = median(rates)
            out[f"apply_{name}_runs"] = rates
            say(f"apply_batch alone {name}: {median(rates):,.0f} events/s")
            if args.profile:
                prof = cProfile.Profile()
                apply_only(prepared.desk, name, fresh_url(f"prof-{name}"), stream, prof)
                profiles[f"apply_{name}"] = top_functions(prof)
        if profiles:
            out["profiles"] = profiles
            for key, prof_out in profiles.items():
                say(f"\ncProfile {key}: own time by area")
                for area, share in prof_out["by_area"].items():
                    say(f"  {share * 100:5.1f} %  {area}")
                say("  top functions by own time:")
                for r in prof_out["top"]:
                    say(f"  {r['tottime_share'] * 100:5.1f} %  {r['calls']:>9,}  {r['function']}")

        prepared.desk.close()
        prepared = None
        await reset_streams(js, [EVENTS])

        # 5. SLA watcher lateness: the brief's load, then a burst
        for key, count, wait in (
            ("sla", args.sla_tickets, args.sla_wait),
            ("sla_burst", args.sla_burst, args.sla_burst_wait),
        ):
            if count <= 0:
                continue
            sla = await sla_lateness(url, js, store, tmp, count, args.sla_spread, wait)
            out[key] = sla
            w = sla["watcher"]
            say(
                f"{key}: {w['count']}/{count} escalated within {wait:g} s after the last due; "
                f"watcher p50 {w['p50_ms'] or 0:.0f} ms, p99 {w['p99_ms'] or 0:.0f} ms, max "
                f"{w['max_ms'] or 0:.0f} ms; stored on the stream p50 "
                f"{sla['stream_stored']['p50_ms'] or 0:.0f} ms"
            )
    finally:
        close_projectors(open_projectors)
        if prepared is not None:
            with contextlib.suppress(Exception):
                prepared.desk.close()
        if nc is not None:
            with contextlib.suppress(Exception):
                await nc.close()
        await asyncio.to_thread(server.stop)
        with contextlib.suppress(Exception):
            stack.close()  # drops PostgreSQL schemas
        shutil.rmtree(tmp, ignore_errors=True)
    out["bench_s"] = time.perf_counter() - t_bench
    return out


# ---- output -----------------------------------------------------------------------------


def ratio(a: float | None, b: float | None) -> str:
    return "" if a is None or not b else f"{a / b:.2f}"


def table(out: dict) -> str:
    rows: list[tuple[str, str, str, str]] = []
    pull, ordered = out.get("raw_pull_msgs_s"), out.get("raw_ordered_msgs_s")
    nxt, pull_all = out.get("raw_ordered_next_json_msgs_s"), out.get("raw_pull_ack_all_msgs_s")
    pull_s = f"{fmt(pull)} msgs/s pull fetch(500)+ack"
    ordered_s = f"{fmt(ordered)} msgs/s ordered consumer"
    rows.append(
        (
            "raw: durable pull fetch(500) + ack each (the projector's pattern; msgs/s)",
            fmt(pull),
            "",
            "",
        )
    )
    rows.append(
        (
            "raw: the same with AckPolicy.ALL, one ack per batch (msgs/s)",
            fmt(pull_all),
            pull_s,
            ratio(pull_all, pull),
        )
    )
    rows.append(("raw: ordered push consumer, callback (msgs/s)", fmt(ordered), "", ""))
    rows.append(
        (
            "raw: ordered consumer, next_msg + json.loads (rebuild's read; msgs/s)",
            fmt(nxt),
            ordered_s,
            ratio(nxt, ordered),
        )
    )
    rows.append(
        (
            "prepare: relay publishing the N events (atomic batches; events/s)",
            fmt(out.get("relay_events_s")),
            "",
            "",
        )
    )
    names = [n for n in NAMES if f"live_{n}_events_s" in out]
    for name in names:
        v = out[f"live_{name}_events_s"]
        share = fmt(out[f"live_{name}_apply_share"] * 100, " %")
        rows.append(
            (
                f"live `{name}` alone (events/s; {share} of it in apply_batch)",
                fmt(v),
                pull_s,
                ratio(v, pull),
            )
        )
    for key, what in (
        ("live_shared", "one consumer and one database, as in the service"),
        ("live_all", "a consumer each, one database"),
        ("live_all_separate_dbs", "a consumer and a database each"),
    ):
        if f"{key}_events_s" not in out:
            continue
        v = out[f"{key}_events_s"]
        per = out.get(f"{key}_per_projection_events_s", {})
        rows.append(
            (
                f"live all four at once, {what}: until the last caught up (events/s)",
                fmt(v),
                pull_s,
                ratio(v, pull),
            )
        )
        rows.append(
            (
                "  each one's own finish (events/s)",
                " / ".join(f"{n} {fmt(per.get(n))}" for n in names),
                "",
                "",
            )
        )
    for name in names:
        v = out.get(f"rebuild_{name}_events_s")
        rshare = out.get(f"rebuild_{name}_apply_share")
        rows.append(
            (
                f"rebuild `{name}` (events/s; {fmt((rshare or 0) * 100, ' %')} of it in "
                "apply_batch)",
                fmt(v),
                f"{ordered_s}; target {REBUILD_TARGET:,}",
                f"{ratio(v, ordered)} / {ratio(v, REBUILD_TARGET)}",
            )
        )
    for name in names:
        v = out.get(f"rebuild_sketch_{name}_events_s")
        if v is not None:
            rows.append(
                (
                    f"  sketch, not service code: rebuild `{name}` with a callback reader, "
                    "pipelined (events/s)",
                    fmt(v),
                    f"target {REBUILD_TARGET:,}",
                    ratio(v, REBUILD_TARGET),
                )
            )
    if "sketch_all_events_s" in out:
        v = out["sketch_all_events_s"]
        rows.append(
            (
                "  sketch, not service code: all four from ONE callback reader, pipelined "
                "(events/s each)",
                fmt(v),
                f"{fmt(out.get('live_shared_events_s'))} live all four, one consumer",
                ratio(v, out.get("live_shared_events_s")),
            )
        )
    for name in names:
        v = out.get(f"apply_{name}_events_s")
        rows.append(
            (
                f"`{name}`: apply_batch alone, no NATS (events/s)",
                fmt(v),
                f"target {REBUILD_TARGET:,}",
                ratio(v, REBUILD_TARGET),
            )
        )
    for part in ("sla", "sla_burst"):
        sla = out.get(part)
        if not sla:
            continue
        load = f"{sla['tickets']} due over {sla['spread_s']:g} s"
        for key, what in (
            ("watcher", "watcher's record (escalated - due)"),
            ("event_time", "Escalated event time - due"),
            ("stream_stored", "Escalated stored on the stream - due"),
        ):
            s = sla[key]
            rows.append(
                (
                    f"SLA lateness, {load}, {what}: p50 / p99 / max",
                    f"{fmt(s['p50_ms'], ' ms')} / {fmt(s['p99_ms'], ' ms')} / "
                    f"{fmt(s['max_ms'], ' ms')}",
                    f"{s['count']} of {sla['tickets']} escalated in the wait",
                    "",
                )
            )
    head = ("what", "figure", "raw limit beside it", "ratio")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench.projections",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--events", type=int, default=20_000, help="about N events (20000)")
    p.add_argument("--store", default="sqlite", help="sqlite (default) or postgresql://...")
    p.add_argument("--repeat", type=int, default=3, help="runs per figure; median reported")
    p.add_argument(
        "--only",
        type=lambda s: [x for x in s.split(",") if x],
        default=None,
        help="comma list of projections (sla,audit,stats,reports)",
    )
    p.add_argument(
        "--sla-tickets",
        type=int,
        default=200,
        help="SLA part: unanswered requests (0 skips the part)",
    )
    p.add_argument("--sla-spread", type=float, default=2.0, help="SLA part: over seconds")
    p.add_argument(
        "--sla-wait",
        type=float,
        default=6.0,
        help="SLA part: longest wait after the last due instant (s)",
    )
    p.add_argument(
        "--sla-burst",
        type=int,
        default=1000,
        help="SLA part, second run: this many requests over --sla-spread (0 skips)",
    )
    p.add_argument(
        "--sla-burst-wait",
        type=float,
        default=10.0,
        help="SLA burst: longest wait after the last due instant (s)",
    )
    p.add_argument(
        "--separate-dbs",
        action="store_true",
        help="also run all four live projections with one database each",
    )
    p.add_argument(
        "--profile",
        action="store_true",
        help="cProfile apply_batch of each projection and one rebuild's reading",
    )
    p.add_argument("--json-only", action="store_true", help="print just the JSON line")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    global _quiet
    args = parse_args(argv)
    _quiet = args.json_only

    out = run_cleanly(run(args))
    if not args.json_only:
        print(
            f"\nticketflow projections bench: {out['stream_events']:,} events "
            f"({out['tickets']:,} tickets), repeat={args.repeat} (medians), "
            f"store={out['store']}, nats sync_interval=always, {out['nproc']} CPUs, "
            f"Python {out['python']}, {out['bench_s']:.0f} s\n"
        )
        print(table(out))
        print()
    print(json.dumps(out, separators=(",", ":"), default=str))


if __name__ == "__main__":
    main()
