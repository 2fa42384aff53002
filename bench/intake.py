"""Intake throughput and latency, end to end, beside the raw limits of the parts beneath.

    .venv/bin/python -m bench.intake [--tickets N] [--store sqlite|postgresql://...]
                                     [--nats-sync always|1s] [--repeat 3] [--json-only]

Everything runs in ONE process against ONE embedded nats-server (its own temp store dir,
`sync_interval` as the service's default `always` unless `--nats-sync` says otherwise):

1. raw pipeline: `publish_async` N intake-sized messages into a scratch work-queue stream
   (same payloads and `Nats-Msg-Id` headers as the service run), consumed concurrently by
   a durable pull consumer `fetch(500)` + ack; msgs/s from the first publish to the last
   message consumed.
2. raw store: the eventsourcing library saving trivial aggregates, 100 per `save()`, on
   the same store kind (SQLite file in a temp dir, or a fresh PostgreSQL schema); also
   with the AES cipher the service uses.
3. service, subprocess (the headline): `python -m services.cli up --nats-url URL
   --data-dir TMP`, fresh streams and a fresh store each repeat. N realistic intake
   requests (bitext `instruction` texts, channels email/chat/web/app/phone, unique
   external ids, `Nats-Msg-Id: <channel>:<external_id>`) published with
   `publish_async`; tickets/s from the first publish until Received and Classified of
   all N are on TICKETS_EVENTS (an ordered consumer started before publishing). The same
   in-process (`build_service` + `start()` in this event loop) for comparison.
4. latency at a gentle rate (`--rate 40`/s, `--latency-tickets 400`): publish -> the
   ticket's Received on TICKETS_EVENTS, p50/p99; beside it the raw JetStream latency at
   the same rate through a durable push consumer and through a pull `fetch(500, 0.5)`
   (the intake consumer's pattern).

Repeated parts (`--repeat`, default 3) report the median. A table goes to stdout, then a
single JSON line with every figure (`--json-only`: just the JSON line).
`--profile py-spy|cprofile --profile-out DIR` profiles the service subprocess.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import json
import os
import platform
import random
import shutil
import signal
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
import uuid
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlunparse

import nats
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.errors import NotFoundError

from infra.nats_server import EmbeddedNats, die_with_parent
from infra.store import store_env
from infra.streams import DLQ, EVENTS, INTAKE

ROOT = Path(__file__).resolve().parents[1]
BITEXT = ROOT / "tests/fixtures/data/bitext/bitext_sample_6480.csv"
CHANNELS = ("email", "chat", "web", "app", "phone")
# What one new ticket stores: Ticket.Received + Ticket.Classified + TicketNumber's event.
STORED_EVENTS_PER_TICKET = 3
ACK_TIMEOUT = 30.0  # publish_async futures never time out by themselves
CLK_TCK = os.sysconf("SC_CLK_TCK")

_quiet = False


def say(text: str) -> None:
    if not _quiet:
        print(text, file=sys.stderr, flush=True)


# ---- requests ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Req:
    channel: str
    external_id: str
    payload: bytes

    @property
    def msg_id(self) -> str:
        return f"{self.channel}:{self.external_id}"

    @property
    def subject(self) -> str:
        return f"tickets.intake.{self.channel}"


def load_texts() -> list[str]:
    with BITEXT.open(newline="", encoding="utf-8") as f:
        return [row["instruction"] for row in csv.DictReader(f) if row["instruction"].strip()]


_NAMES = (
    "Li Wei",
    "Zhang Min",
    "Wang Fang",
    "Chen Jie",
    "Liu Yang",
    "Maria Garcia",
    "John Smith",
    "Anna Müller",
    "Sato Yuki",
    "Nguyen Van An",
)


def make_requests(n: int, texts: Sequence[str], tag: str, seed: int) -> list[Req]:
    """N realistic intake requests, unique external ids under `tag`, mixed channels."""
    rng = random.Random(seed)
    now = datetime.now(UTC).isoformat(timespec="seconds")
    out = []
    for i in range(n):
        channel = CHANNELS[i % len(CHANNELS)]
        text = rng.choice(texts)
        name = rng.choice(_NAMES)
        customer: dict[str, Any] = {"name": name, "customer_id": f"C{rng.randrange(10**6):06d}"}
        if channel in ("phone", "app", "chat"):
            customer["phone"] = f"13{rng.randrange(10**9):09d}"
        if channel in ("email", "web"):
            customer["email"] = f"{name.split()[0].lower()}{rng.randrange(1000)}@example.com"
        body: dict[str, Any] = {
            "external_id": f"bench-{tag}-{channel}-{i:06d}",
            "customer": customer,
            "content": text,
        }
        if channel == "email":
            body["subject"] = " ".join(text.split()[:6])
            body["received_at"] = now
        if channel == "web" and i % 10 == 4:
            body["attachments"] = [
                {"name": "screenshot.png", "url": f"https://files.example/{tag}/{i}"}
            ]
        payload = json.dumps(body, ensure_ascii=False).encode()
        out.append(Req(channel, body["external_id"], payload))
    return out


# ---- small helpers ----------------------------------------------------------------------


def cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU of a process (all its threads), from /proc."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def descendants(pid: int) -> list[int]:
    """Every live descendant of `pid` (children, their children, ...)."""
    found, todo = [], [pid]
    while todo:
        p = todo.pop(0)
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{p}/task").iterdir():
                kids = [int(c) for c in (task / "children").read_text().split()]
                found += kids
                todo += kids
    return found


def tree_cpu_seconds(pid: int | None) -> float | None:
    """CPU of a process and of every process it started (`--processes 2`: the back
    process too)."""
    if pid is None:
        return None
    own = cpu_seconds(pid)
    if own is None:
        return None
    return own + sum(cpu_seconds(p) or 0.0 for p in descendants(pid))


def descendant_running(pid: int, needle: str) -> int | None:
    """The first descendant of `pid` (not pid itself) whose command line contains needle."""
    for p in descendants(pid):
        with contextlib.suppress(OSError):
            command = Path(f"/proc/{p}/cmdline").read_bytes().decode(errors="replace")
            if needle in command.replace("\0", " "):
                return p
    return None


def pct(values: Sequence[float], q: int) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


QUIET_CPU = 0.05  # seconds of CPU in a second: the service has nothing left to do


async def quiet_cpu(svc: Any, timeout: float) -> tuple[float | None, float | None]:
    """The service's CPU seconds once it has gone quiet after a run (less than
    `QUIET_CPU` in a second), and how long after the run that was: what a run's tickets
    cost with all they set off (projections catching up, group impact raising, the SLA
    watcher). (None, None) if it was still busy after `timeout` seconds."""
    start, last = time.perf_counter(), svc.cpu()
    while last is not None and time.perf_counter() - start < timeout:
        await asyncio.sleep(1.0)
        now = svc.cpu()
        if now is None:
            return None, None
        if now - last < QUIET_CPU:
            return last, time.perf_counter() - start - 1.0
        last = now
    return None, None


def median(values: Sequence[float | None]) -> float | None:
    vs = [v for v in values if v is not None]
    return statistics.median(vs) if vs else None


async def reset_streams(js: JetStreamContext, names: Sequence[str]) -> None:
    for name in names:
        with contextlib.suppress(NotFoundError):
            await js.delete_stream(name)


async def publish_all(
    js: JetStreamContext, reqs: Sequence[Req], subject: Callable[[Req], str]
) -> None:
    futures = [
        await js.publish_async(subject(r), r.payload, headers={"Nats-Msg-Id": r.msg_id})
        for r in reqs
    ]
    await asyncio.wait_for(asyncio.gather(*futures), ACK_TIMEOUT)


# ---- stores -----------------------------------------------------------------------------


class StoreKind:
    """`sqlite` (a file in a fresh temp dir each time) or a PostgreSQL URL (a fresh schema)."""

    def __init__(self, spec: str) -> None:
        self.spec = spec
        self.postgres = spec.startswith(("postgresql://", "postgres://"))
        if not self.postgres and spec != "sqlite":
            raise SystemExit(f"--store: use sqlite or postgresql://USER@HOST:PORT/DB, not {spec!r}")

    @contextlib.contextmanager
    def fresh(self, tmp: Path, name: str = "tickets.db"):
        """A store URL nobody used before; `None` for sqlite means the service default."""
        if not self.postgres:
            yield f"sqlite:///{(tmp / name).resolve()}"
            return
        import psycopg

        parts = urlparse(self.spec)
        base = urlunparse(parts._replace(query=""))
        schema = f"bench_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {schema}")
        try:
            yield f"{base}?schema={schema}"
        finally:
            with psycopg.connect(base, autocommit=True) as conn:
                conn.execute(f"DROP SCHEMA {schema} CASCADE")


class BenchItem(Aggregate):
    """A trivial aggregate: one Created event, no fields."""


def raw_store(
    store: StoreKind, tmp: Path, n_events: int, cipher: bool, per_save: int = 100
) -> float:
    """eventsourcing's own batch save: `per_save` new trivial aggregates per `save()`."""
    with store.fresh(tmp, "raw.db") as url:
        env = store_env(url, tmp)
        if not cipher:
            env.pop("CIPHER_TOPIC")
            env.pop("CIPHER_KEY")
        app: Application[Any] = Application(env=env)
        try:
            batches = max(n_events // per_save, 1)
            t0 = time.perf_counter()
            for _ in range(batches):
                app.save(*[BenchItem() for _ in range(per_save)])
            elapsed = time.perf_counter() - t0
        finally:
            app.close()
    return batches * per_save / elapsed


# ---- raw JetStream ----------------------------------------------------------------------

RAW_STREAM, LAT_STREAM = "BENCH_RAW", "BENCH_LATENCY"


async def raw_pipeline(js: JetStreamContext, reqs: Sequence[Req]) -> float:
    """publish_async N + concurrent durable pull fetch(500) + ack; msgs/s overall."""
    await reset_streams(js, [RAW_STREAM])
    await js.add_stream(
        StreamConfig(
            name=RAW_STREAM,
            subjects=["bench.raw.>"],
            retention=RetentionPolicy.WORK_QUEUE,
            storage=StorageType.FILE,
            discard=DiscardPolicy.NEW,
            max_msg_size=1024 * 1024,
            duplicate_window=120.0,
        )
    )
    try:
        sub = await js.pull_subscribe(
            "bench.raw.>",
            durable="bench-raw",
            stream=RAW_STREAM,
            config=ConsumerConfig(
                ack_policy=AckPolicy.EXPLICIT, ack_wait=60, max_ack_pending=20_000
            ),
        )
        n, consumed, t_end = len(reqs), 0, 0.0

        async def consume() -> None:
            nonlocal consumed, t_end
            while consumed < n:
                try:
                    msgs = await sub.fetch(500, timeout=0.5)
                except TimeoutError:
                    continue
                for m in msgs:
                    await m.ack()
                consumed += len(msgs)
            t_end = time.perf_counter()

        t0 = time.perf_counter()
        consumer = asyncio.create_task(consume())
        try:
            await publish_all(js, reqs, lambda r: f"bench.raw.{r.channel}")
            await asyncio.wait_for(consumer, 60)
        finally:
            consumer.cancel()
            with contextlib.suppress(BaseException):
                await consumer
            await sub.unsubscribe()
        return n / (t_end - t0)
    finally:
        await reset_streams(js, [RAW_STREAM])


async def paced(reqs: Sequence[Req], rate: float):
    """Yields each request at its time on a fixed schedule of `rate` per second."""
    t0 = time.perf_counter()
    for i, r in enumerate(reqs):
        delay = t0 + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        yield r


async def raw_latency(js: JetStreamContext, reqs: Sequence[Req], rate: float) -> dict:
    """Publish at `rate`/s; latency to a durable push consumer and to a pull fetch(500, 0.5)."""
    await reset_streams(js, [LAT_STREAM])
    await js.add_stream(
        StreamConfig(
            name=LAT_STREAM,
            subjects=["bench.lat.>"],
            storage=StorageType.FILE,
            duplicate_window=120.0,
        )
    )
    sent: dict[str, float] = {}
    push_at: dict[str, float] = {}
    pull_at: dict[str, float] = {}
    n = len(reqs)

    async def on_push(msg: Any) -> None:
        push_at[(msg.headers or {})["Nats-Msg-Id"]] = time.perf_counter()
        await msg.ack()

    push = await js.subscribe(
        "bench.lat.>",
        durable="bench-lat-push",
        stream=LAT_STREAM,
        cb=on_push,
        manual_ack=True,
        config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT),
    )
    pull = await js.pull_subscribe(
        "bench.lat.>",
        durable="bench-lat-pull",
        stream=LAT_STREAM,
        config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT),
    )

    async def consume() -> None:
        while len(pull_at) < n:
            try:
                msgs = await pull.fetch(500, timeout=0.5)
            except TimeoutError:
                continue
            now = time.perf_counter()
            for m in msgs:
                pull_at[(m.headers or {})["Nats-Msg-Id"]] = now
                await m.ack()

    consumer = asyncio.create_task(consume())
    try:
        futures = []
        async for r in paced(reqs, rate):
            sent[r.msg_id] = time.perf_counter()
            futures.append(
                await js.publish_async(
                    f"bench.lat.{r.channel}", r.payload, headers={"Nats-Msg-Id": r.msg_id}
                )
            )
        await asyncio.wait_for(asyncio.gather(*futures), ACK_TIMEOUT)
        await asyncio.wait_for(consumer, 10)
        deadline = time.perf_counter() + 10
        while len(push_at) < n and time.perf_counter() < deadline:
            await asyncio.sleep(0.01)
    finally:
        consumer.cancel()
        with contextlib.suppress(BaseException):
            await consumer
        await push.unsubscribe()
        await pull.unsubscribe()
        await reset_streams(js, [LAT_STREAM])

    def ms(at: dict[str, float]) -> list[float]:
        return [(at[k] - t) * 1000 for k, t in sent.items() if k in at]

    push_ms, pull_ms = ms(push_at), ms(pull_at)
    return {
        "push_p50_ms": pct(push_ms, 50),
        "push_p99_ms": pct(push_ms, 99),
        "pull_p50_ms": pct(pull_ms, 50),
        "pull_p99_ms": pct(pull_ms, 99),
        "count": n,
        "push_seen": len(push_ms),
        "pull_seen": len(pull_ms),
    }


# ---- the service ------------------------------------------------------------------------


class ServiceProcess:
    """`ticketflow up` as a child process on the bench's nats-server."""

    def __init__(
        self,
        url: str,
        data_dir: Path,
        store: str | None,
        profile: str | None = None,
        profile_file: Path | None = None,
    ) -> None:
        self.url, self.data_dir, self.store = url, data_dir, store
        self.profile, self.profile_file = profile, profile_file
        self.proc: subprocess.Popen | None = None
        self.pid: int | None = None  # the service's Python process (not a profiler wrapper)
        self.startup_s = 0.0
        self.subcommand = ["up"]

    def command(self) -> list[str]:
        args = [*self.subcommand, "--nats-url", self.url, "--data-dir", str(self.data_dir)]
        if self.store:
            args += ["--store", self.store]
        py = [sys.executable]
        if self.profile == "cprofile":
            return [
                *py,
                "-m",
                "cProfile",
                "-o",
                str(self.profile_file),
                "-m",
                "services.cli",
                *args,
            ]
        base = [*py, "-m", "services.cli", *args]
        if self.profile == "py-spy":
            spy = Path(sysconfig.get_path("scripts")) / "py-spy"
            if not spy.exists():
                spy = Path(shutil.which("py-spy") or "py-spy")
            return [
                str(spy),
                "record",
                "--format",
                "raw",
                "--rate",
                "250",
                "--threads",
                "--subprocesses",  # --processes 2: the back process too
                "-o",
                str(self.profile_file),
                "--",
                *base,
            ]
        return base

    def start(self, timeout: float = 60.0) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        out_path, err_path = self.data_dir / "service.out", self.data_dir / "service.err"
        t0 = time.perf_counter()
        with out_path.open("wb") as out, err_path.open("wb") as err:
            self.proc = subprocess.Popen(
                self.command(), stdout=out, stderr=err, cwd=ROOT, preexec_fn=die_with_parent
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err_text = err_path.read_text()
                if "unexpected extra argument" in err_text and self.subcommand:
                    # a CLI with `up` as its only command: Typer runs it as the whole app
                    self.subcommand = []
                    return self.start(timeout)
                raise RuntimeError(
                    f"service exited with {self.proc.returncode}: {err_text[-2000:]}"
                )
            if b"nats: " in out_path.read_bytes():
                self.startup_s = time.perf_counter() - t0
                self.pid = self.proc.pid
                if self.profile == "py-spy":  # the service is py-spy's child
                    self.pid = descendant_running(self.proc.pid, "services.cli") or self.pid
                return
            time.sleep(0.01)
        raise RuntimeError(f"service did not announce itself within {timeout}s")

    def cpu(self) -> float | None:
        return tree_cpu_seconds(self.pid)

    def stop(self, timeout: float = 60.0) -> None:
        """SIGTERM to the service (a clean shutdown; py-spy then writes its profile);
        whatever is still alive after `timeout` is killed, the service included."""
        if not self.proc:
            return
        child = self.pid if self.pid and self.pid != self.proc.pid else None
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child or self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                say("  service did not stop in time; killed")
                self.proc.kill()
                self.proc.wait()
        if child and cpu_seconds(child) is not None:  # py-spy gone, its child not
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)


class InProcessService:
    """`build_service(...)` + `start()` in the bench's own event loop."""

    def __init__(self, url: str, data_dir: Path, store: str | None) -> None:
        from infra.policy_file import load_policy
        from services.bootstrap import build_service
        from services.runtime.settings import Settings

        self.service = build_service(
            Settings(data_dir=data_dir, nats_url=url, store=store, policy=load_policy())
        )
        self.pid = os.getpid()
        self.startup_s = 0.0

    async def start(self) -> None:
        t0 = time.perf_counter()
        await self.service.start()
        self.startup_s = time.perf_counter() - t0

    def cpu(self) -> float | None:
        return time.process_time()  # the whole process: service and bench client together

    async def stop(self) -> None:
        await self.service.stop()


class EventWatch:
    """Counts Received / Classified on TICKETS_EVENTS; notes when each Received arrived."""

    def __init__(self, n: int, latency: bool = False) -> None:
        self.n, self.latency = n, latency
        self.received = self.classified = 0
        self.done = asyncio.Event()
        self.t_done = 0.0
        self.received_at: dict[str, float] = {}

    async def on_msg(self, msg: Any) -> None:
        now = time.perf_counter()
        kind = msg.subject.split(".", 3)[2]
        if kind == "Received":
            self.received += 1
            if self.latency:
                data = json.loads(msg.data)["data"]
                self.received_at[f"{data['channel']}:{data['external_id']}"] = now
        elif kind == "Classified":
            self.classified += 1
        if self.received >= self.n and self.classified >= self.n and not self.done.is_set():
            self.t_done = now
            self.done.set()


@dataclass
class Bench:
    args: argparse.Namespace
    tmp: Path
    store: StoreKind
    url: str = ""
    js: Any = None
    nats_pid: int | None = None
    profiled: list[Path] = field(default_factory=list)

    @contextlib.asynccontextmanager
    async def service(self, mode: str, run_dir: Path, profile_name: str | None = None):
        await reset_streams(self.js, [INTAKE, EVENTS, DLQ])
        with self.store.fresh(run_dir) as store_url:
            # sqlite: let the service use its own default (DATA_DIR/tickets.db)
            store = store_url if self.store.postgres else None
            data_dir = run_dir / "data"
            svc: Any
            if mode == "subprocess":
                profile = self.args.profile if profile_name else None
                pfile = None
                if profile and profile_name:
                    out_dir = Path(self.args.profile_out).resolve()
                    out_dir.mkdir(parents=True, exist_ok=True)
                    pfile = out_dir / (
                        profile_name + (".prof" if profile == "cprofile" else ".txt")
                    )
                    self.profiled.append(pfile)
                svc = ServiceProcess(self.url, data_dir, store, profile, pfile)
                try:
                    await asyncio.to_thread(svc.start)
                    yield svc
                finally:
                    await asyncio.to_thread(svc.stop)
            else:
                svc = InProcessService(self.url, data_dir, store)
                started = False
                try:
                    await svc.start()
                    started = True
                    yield svc
                finally:
                    if started:
                        await svc.stop()
                    else:
                        svc.service.desk.close()
        await reset_streams(self.js, [INTAKE, EVENTS, DLQ])

    async def service_throughput(self, mode: str, reqs: Sequence[Req], label: str) -> dict:
        run_dir = Path(tempfile.mkdtemp(prefix=f"svc-{label}-", dir=self.tmp))
        n = len(reqs)
        try:
            async with self.service(
                mode, run_dir, profile_name=f"service-{label}" if self.args.profile else None
            ) as svc:
                watch = EventWatch(n)
                sub = await self.js.subscribe(
                    "tickets.events.>",
                    cb=watch.on_msg,
                    ordered_consumer=True,
                    deliver_policy=DeliverPolicy.ALL,
                )
                try:
                    cpu0, srv0, me0 = svc.cpu(), cpu_seconds(self.nats_pid), time.process_time()
                    front0 = cpu_seconds(getattr(svc, "pid", None))
                    t0 = time.perf_counter()
                    await publish_all(self.js, reqs, lambda r: r.subject)
                    t_published = time.perf_counter()
                    complete = True
                    try:
                        await asyncio.wait_for(watch.done.wait(), self.args.timeout)
                        t_end = watch.t_done
                    except TimeoutError:
                        complete, t_end = False, time.perf_counter()
                    cpu1, srv1, me1 = svc.cpu(), cpu_seconds(self.nats_pid), time.process_time()
                    front1 = cpu_seconds(getattr(svc, "pid", None))
                    cpu_quiet, quiet_after = await quiet_cpu(svc, self.args.settle_timeout)
                finally:
                    await sub.unsubscribe()
                dlq = (await self.js.stream_info(DLQ)).state.messages
                elapsed = t_end - t0
                done = min(watch.received, watch.classified)

                def per_ticket_ms(a: float | None, b: float | None) -> float | None:
                    return None if a is None or b is None else (b - a) * 1000 / n

                result = {
                    "tickets_s": done / elapsed,
                    "elapsed_s": elapsed,
                    "complete": complete,
                    "received": watch.received,
                    "classified": watch.classified,
                    "dead_lettered": dlq,
                    "publish_s": t_published - t0,
                    "startup_s": svc.startup_s,
                    "service_cpu_ms_per_ticket": per_ticket_ms(cpu0, cpu1),
                    # ... and with everything the tickets set off, until the service is quiet
                    "service_cpu_ms_per_ticket_settled": per_ticket_ms(cpu0, cpu_quiet),
                    "settled_after_s": quiet_after,
                    "service_cpu_util": None
                    if cpu0 is None or cpu1 is None
                    else (cpu1 - cpu0) / elapsed,
                    "nats_cpu_ms_per_ticket": per_ticket_ms(srv0, srv1),
                    "client_cpu_ms_per_ticket": per_ticket_ms(me0, me1),
                    # the first process alone (with --processes 2: intake, commands, queries)
                    "front_cpu_util": None
                    if front0 is None or front1 is None
                    else (front1 - front0) / elapsed,
                }
                if mode == "inprocess":  # svc.cpu() is this process: client included
                    result["client_cpu_ms_per_ticket"] = None
            return result
        finally:
            shutil.rmtree(run_dir, ignore_errors=True)

    async def service_latency(self, reqs: Sequence[Req], rate: float) -> dict:
        run_dir = Path(tempfile.mkdtemp(prefix="svc-latency-", dir=self.tmp))
        n = len(reqs)
        try:
            async with self.service("subprocess", run_dir):
                watch = EventWatch(n, latency=True)
                sub = await self.js.subscribe(
                    "tickets.events.>",
                    cb=watch.on_msg,
                    ordered_consumer=True,
                    deliver_policy=DeliverPolicy.ALL,
                )
                sent: dict[str, float] = {}
                try:
                    futures = []
                    async for r in paced(reqs, rate):
                        sent[r.msg_id] = time.perf_counter()
                        futures.append(
                            await self.js.publish_async(
                                r.subject, r.payload, headers={"Nats-Msg-Id": r.msg_id}
                            )
                        )
                    await asyncio.wait_for(asyncio.gather(*futures), ACK_TIMEOUT)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(watch.done.wait(), self.args.timeout)
                finally:
                    await sub.unsubscribe()
            lat = [
                (watch.received_at[k] - t) * 1000 for k, t in sent.items() if k in watch.received_at
            ]
            return {
                "p50_ms": pct(lat, 50),
                "p99_ms": pct(lat, 99),
                "max_ms": max(lat, default=None),
                "count": n,
                "seen": len(lat),
                "rate": rate,
            }
        finally:
            shutil.rmtree(run_dir, ignore_errors=True)


# ---- the run ----------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> dict:
    parts = (
        set(args.only.split(","))
        if args.only
        else {"raw", "store", "service", "inprocess", "latency"}
    )
    store = StoreKind(args.store)
    texts = load_texts()
    tmp = Path(tempfile.mkdtemp(prefix="ticketflow-bench-"))
    server = EmbeddedNats(tmp / "nats", sync_interval=args.nats_sync)
    bench = Bench(args, tmp, store)
    nc = None
    out: dict[str, Any] = {
        "tickets": args.tickets,
        "repeat": args.repeat,
        "store": "postgresql" if store.postgres else "sqlite",
        "nats_sync": args.nats_sync,
        "nproc": os.cpu_count(),
        "python": platform.python_version(),
    }
    t_bench = time.perf_counter()
    try:
        bench.url = await asyncio.to_thread(server.start)
        bench.nats_pid = server.process.pid if server.process else None
        nc = await nats.connect(bench.url, name="ticketflow-bench")
        bench.js = nc.jetstream(publish_async_max_pending=4000)
        n, reps = args.tickets, args.repeat
        batches = [
            make_requests(n, texts, f"{uuid.uuid4().hex[:6]}{k}", seed=k) for k in range(reps)
        ]
        out["request_bytes_avg"] = statistics.mean(len(r.payload) for r in batches[0])

        if "raw" in parts:
            figures = []
            for k in range(reps):
                figures.append(await raw_pipeline(bench.js, batches[k]))
                say(f"raw pipeline {k + 1}/{reps}: {figures[-1]:,.0f} msgs/s")
            out["raw_pipeline_msgs_s"] = median(figures)
            out["raw_pipeline_runs"] = figures

        if "store" in parts:
            for cipher in (False, True):
                key = "raw_store_cipher_events_s" if cipher else "raw_store_events_s"
                figures = []
                for k in range(reps):
                    d = Path(tempfile.mkdtemp(prefix="store-", dir=tmp))
                    try:
                        figures.append(await asyncio.to_thread(raw_store, store, d, n, cipher))
                    finally:
                        shutil.rmtree(d, ignore_errors=True)
                    say(
                        f"raw store{' +cipher' if cipher else ''} {k + 1}/{reps}: "
                        f"{figures[-1]:,.0f} events/s"
                    )
                out[key] = median(figures)
                out[key.replace("_events_s", "_runs")] = figures

        for mode, part in (("subprocess", "service"), ("inprocess", "inprocess")):
            if part not in parts:
                continue
            runs = []
            for k in range(reps):
                runs.append(await bench.service_throughput(mode, batches[k], f"{mode}{k + 1}"))
                r = runs[-1]
                say(
                    f"service {mode} {k + 1}/{reps}: {r['tickets_s']:,.0f} tickets/s "
                    f"({r['elapsed_s']:.2f} s, complete={r['complete']}, "
                    f"service CPU {r['service_cpu_ms_per_ticket'] or 0:.3f} ms/ticket)"
                )
            prefix = "service" if mode == "subprocess" else "inprocess"
            out[f"{prefix}_tickets_s"] = median([r["tickets_s"] for r in runs])
            for key in (
                "service_cpu_ms_per_ticket",
                "service_cpu_ms_per_ticket_settled",
                "settled_after_s",
                "service_cpu_util",
                "front_cpu_util",
                "nats_cpu_ms_per_ticket",
                "client_cpu_ms_per_ticket",
                "startup_s",
                "publish_s",
            ):
                out[f"{prefix}_{key.removeprefix('service_')}"] = median([r[key] for r in runs])
            out[f"{prefix}_complete"] = all(r["complete"] for r in runs)
            out[f"{prefix}_dead_lettered"] = sum(r["dead_lettered"] for r in runs)
            out[f"{prefix}_runs"] = [r["tickets_s"] for r in runs]

        if "latency" in parts:
            lat_reqs = make_requests(
                args.latency_tickets, texts, f"lat{uuid.uuid4().hex[:6]}", seed=99
            )
            raw = await raw_latency(
                bench.js, lat_reqs[: max(args.latency_tickets // 2, 1)], args.rate
            )
            say(
                f"raw latency @{args.rate:g}/s: push p50 {raw['push_p50_ms']:.1f} ms, "
                f"pull fetch(500) p50 {raw['pull_p50_ms']:.1f} ms"
            )
            svc = await bench.service_latency(lat_reqs, args.rate)
            say(
                f"service latency @{args.rate:g}/s: p50 {svc['p50_ms']:.1f} ms, "
                f"p99 {svc['p99_ms']:.1f} ms ({svc['seen']}/{svc['count']})"
            )
            out.update(
                {
                    "latency_rate": args.rate,
                    "latency_tickets": svc["count"],
                    "latency_seen": svc["seen"],
                    "service_received_p50_ms": svc["p50_ms"],
                    "service_received_p99_ms": svc["p99_ms"],
                    **{
                        f"raw_{k}": raw[k]
                        for k in ("push_p50_ms", "push_p99_ms", "pull_p50_ms", "pull_p99_ms")
                    },
                }
            )
    finally:
        if nc is not None:
            with contextlib.suppress(Exception):
                await nc.close()
        await asyncio.to_thread(server.stop)
        shutil.rmtree(tmp, ignore_errors=True)
    out["bench_s"] = time.perf_counter() - t_bench
    ratios(out)
    if bench.profiled:
        out["profiles"] = [str(p) for p in bench.profiled]
    return out


def ratios(out: dict) -> None:
    def div(a: str, b: str, scale: float = 1.0) -> float | None:
        x, y = out.get(a), out.get(b)
        return None if x is None or not y else x * scale / y

    out["ratio_service_to_raw_pipeline"] = div("service_tickets_s", "raw_pipeline_msgs_s")
    out["ratio_inprocess_to_raw_pipeline"] = div("inprocess_tickets_s", "raw_pipeline_msgs_s")
    out["ratio_service_store_to_raw_store"] = div(
        "service_tickets_s", "raw_store_events_s", STORED_EVENTS_PER_TICKET
    )
    out["ratio_service_store_to_raw_store_cipher"] = div(
        "service_tickets_s", "raw_store_cipher_events_s", STORED_EVENTS_PER_TICKET
    )


def fmt(v: float | None, unit: str = "", digits: int = 0) -> str:
    if v is None:
        return "—"
    return f"{v:,.{digits}f}{unit}"


def table(out: dict) -> str:
    rows: list[tuple[str, str, str, str]] = []
    raw = out.get("raw_pipeline_msgs_s")
    raw_s = f"{fmt(raw)} msgs/s raw pipeline" if raw else "—"
    for prefix, what in (
        ("service", "service end to end, subprocess (tickets/s)"),
        ("inprocess", "service end to end, in-process (tickets/s)"),
    ):
        if f"{prefix}_tickets_s" in out:
            rows.append(
                (
                    what,
                    fmt(out[f"{prefix}_tickets_s"]),
                    raw_s,
                    fmt(out[f"ratio_{prefix}_to_raw_pipeline"], digits=3),
                )
            )
    if "service_tickets_s" in out:
        stored = out["service_tickets_s"] * STORED_EVENTS_PER_TICKET
        rows.append(
            (
                "service store writes (3 events/ticket, events/s)",
                fmt(stored),
                f"{fmt(out.get('raw_store_events_s'))} events/s raw store",
                fmt(out.get("ratio_service_store_to_raw_store"), digits=3),
            )
        )
        rows.append(
            (
                "  same, against the raw store with AES cipher",
                fmt(stored),
                f"{fmt(out.get('raw_store_cipher_events_s'))} events/s raw +cipher",
                fmt(out.get("ratio_service_store_to_raw_store_cipher"), digits=3),
            )
        )
        rows.append(
            (
                "service CPU per ticket (every process of the subprocess)",
                fmt(out.get("service_cpu_ms_per_ticket"), " ms", 3),
                f"util {fmt(out.get('service_cpu_util'), digits=2)} cores "
                f"(the first process {fmt(out.get('service_front_cpu_util'), digits=2)})",
                "",
            )
        )
        rows.append(
            (
                "  the same until the service is quiet again (all the tickets set off)",
                fmt(out.get("service_cpu_ms_per_ticket_settled"), " ms", 3),
                f"quiet {fmt(out.get('service_settled_after_s'), ' s', 1)} after the run",
                "",
            )
        )
        rows.append(
            (
                "nats-server CPU per ticket / bench client CPU per ticket",
                f"{fmt(out.get('service_nats_cpu_ms_per_ticket'), ' ms', 3)} / "
                f"{fmt(out.get('service_client_cpu_ms_per_ticket'), ' ms', 3)}",
                "",
                "",
            )
        )
    if "service_received_p50_ms" in out:
        rate = out["latency_rate"]
        for q in ("p50", "p99"):
            svc, push, pull = (
                out[f"service_received_{q}_ms"],
                out[f"raw_push_{q}_ms"],
                out[f"raw_pull_{q}_ms"],
            )
            rows.append(
                (
                    f"publish -> Received on stream, {q} @{rate:g}/s",
                    fmt(svc, " ms", 1),
                    f"raw push {fmt(push, ' ms', 1)} / pull fetch(500,0.5) {fmt(pull, ' ms', 1)}",
                    fmt(svc / push if svc and push else None, "x", 0),
                )
            )
    if "service_tickets_s" not in out and "raw_store_events_s" in out:
        rows.append(("raw store (events/s)", fmt(out["raw_store_events_s"]), "", ""))
    head = ("what", "figure", "raw limit beside it", "ratio")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench.intake",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--tickets", type=int, default=5000, help="N per throughput run (5000)")
    p.add_argument("--store", default="sqlite", help="sqlite (default) or postgresql://...")
    p.add_argument(
        "--nats-sync",
        default="always",
        help="embedded nats-server sync_interval: always (the service default) or "
        "a duration such as 1s",
    )
    p.add_argument("--repeat", type=int, default=3, help="runs per figure; median reported")
    p.add_argument("--rate", type=float, default=40.0, help="latency mode: requests per second")
    p.add_argument(
        "--latency-tickets",
        type=int,
        default=400,
        help="latency mode: requests through the service (the raw check uses half)",
    )
    p.add_argument(
        "--settle-timeout",
        type=float,
        default=300.0,
        help="longest wait after a run for the service to go quiet (s)",
    )
    p.add_argument(
        "--timeout", type=float, default=60.0, help="longest wait for one service run to finish (s)"
    )
    p.add_argument(
        "--only", default="", help="comma list of parts: raw,store,service,inprocess,latency"
    )
    p.add_argument(
        "--profile",
        choices=("py-spy", "cprofile"),
        help="profile the service subprocess of each throughput run",
    )
    p.add_argument(
        "--profile-out",
        default="bench-profiles",
        help="where profiles go (py-spy: collapsed stacks; cprofile: pstats)",
    )
    p.add_argument("--json-only", action="store_true", help="print just the JSON line")
    return p.parse_args(argv)


def run_cleanly(work: Coroutine[Any, Any, dict]) -> dict:
    """`asyncio.run(work)`; SIGTERM and Ctrl-C unwind through every `finally` (service,
    nats-server, temp dirs) and exit 130."""

    def interrupted(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGINT, interrupted)
    try:
        return asyncio.run(work)
    except KeyboardInterrupt:
        print("interrupted; service, nats-server and temp dirs cleaned up", file=sys.stderr)
        raise SystemExit(130) from None


def main(argv: Sequence[str] | None = None) -> None:
    global _quiet
    args = parse_args(argv)
    _quiet = args.json_only

    out = run_cleanly(run(args))
    if not args.json_only:
        print(
            f"\nticketflow intake bench: N={args.tickets}, repeat={args.repeat} (medians), "
            f"store={out['store']}, nats sync_interval={args.nats_sync}, "
            f"{out['nproc']} CPUs, Python {out['python']}\n"
        )
        print(table(out))
        print()
    print(json.dumps(out, separators=(",", ":"), default=str))


if __name__ == "__main__":
    main()
