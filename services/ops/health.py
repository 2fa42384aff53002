"""Health: is the service ready, and how far behind is each part?

`Health.report()` answers `tickets.query.health`, `ticketflow status`, `/readyz` and
the metrics. It reads only heads and counters, never scans: the store's last
notification id, each stream's state, the intake consumer's pending counts, the
stream's last event (its `sequence`: how far the relay got, as the relay itself finds
out), the projections' positions, and a question to the leader (the instance running
the relay and the read side) on `ticketflow.internal.leader`. A report is reused for
`CACHE_SECONDS`, so callers every few seconds cost one round of reads.

Status: `ready` when every check is ok; `starting` while a check fails within
`STARTUP_GRACE` of the start; `degraded` after that. A lag alone is load, not a fault:
it fails its check only when it has not shrunk for `STALL_SECONDS`.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from typing import Any

from nats.aio.client import Client
from nats.js import JetStreamContext

from infra.readdb import ReadDB
from infra.relay import PUBLISHED_TOPICS, stream_position
from infra.streams import DLQ, EVENTS, INTAKE, INTAKE_DURABLE
from services.application.desk import TicketDesk

STARTUP_GRACE = 30.0
CACHE_SECONDS = 0.5
STALL_SECONDS = 60.0
LAG_COUNT_CAP = 10_000  # relay lag is counted exactly up to this many events
READ_TIMEOUT = 2.0
LEADER_SUBJECT = "ticketflow.internal.leader"
INSTANCE = f"{socket.gethostname()}:{os.getpid()}"


def version() -> str:
    try:
        return metadata.version("ticketflow")
    except metadata.PackageNotFoundError:
        return "unknown"


@dataclass
class Local:
    """What only this process knows, asked at each report."""

    role: str
    intake_running: Callable[[], bool | None] = lambda: None  # None: not run here
    leading: Callable[[], bool] = lambda: False


@dataclass
class Health:
    nc: Client
    js: JetStreamContext
    desk: TicketDesk
    read_url: str  # the read models' database
    projections: list[str]
    local: Local
    started: float = field(default_factory=time.monotonic)
    _cached: tuple[float, dict] | None = None
    _running: asyncio.Future | None = None
    _stalls: dict[str, tuple[int, int, float]] = field(default_factory=dict)
    _db: ReadDB | None = None

    async def report(self) -> dict:
        if self._cached and time.monotonic() - self._cached[0] < CACHE_SECONDS:
            return self._cached[1]
        if self._running is None or self._running.done():
            self._running = asyncio.ensure_future(self._check())
        return await asyncio.shield(self._running)

    async def _check(self) -> dict:
        facts = await asyncio.gather(
            *(
                _attempt(c)
                for c in (
                    self._store(),
                    self._streams(),
                    self._intake(),
                    self._relay(),
                    self._positions(),
                    self._leader(),
                )
            )
        )
        store, streams, intake, relay, positions, leader = facts
        checks = {
            "store": _check_of(store, lambda top: {"position": top}),
            "streams": _check_of(streams, dict),
            "intake": _check_of(intake, self._intake_check),
            "relay": _check_of(relay, lambda r: self._relay_check(r, leader)),
            "projections": _check_of(
                positions, lambda p: self._projection_check(p, streams, leader)
            ),
            "leader": _check_of(leader, _leader_check),
            "sla_watcher": _check_of(leader, _watcher_check),
            "dlq": _check_of(streams, lambda s: {"messages": s[DLQ]["messages"]}),
        }
        uptime = time.monotonic() - self.started
        ready = all(c["ok"] for c in checks.values())
        status = "ready" if ready else "starting" if uptime < STARTUP_GRACE else "degraded"
        report = {
            "ok": True,
            "status": status,
            "instance": INSTANCE,
            "role": self.local.role,
            "version": version(),
            "policy_version": self.desk.policy.version,
            "uptime_seconds": round(uptime, 3),
            "checked_at": datetime.now(UTC).isoformat(),
            "checks": checks,
        }
        self._cached = (time.monotonic(), report)
        return report

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    # ---- facts: each one read, or the exception that stopped it ------------------------

    async def _store(self) -> int:
        return await asyncio.to_thread(lambda: self.desk.recorder.max_notification_id() or 0)

    async def _streams(self) -> dict[str, dict]:
        infos = await asyncio.gather(*(self.js.stream_info(n) for n in (INTAKE, EVENTS, DLQ)))
        return {
            str(i.config.name): {"messages": i.state.messages, "last_seq": i.state.last_seq}
            for i in infos
        }

    async def _intake(self) -> Any:
        return await self.js.consumer_info(INTAKE, INTAKE_DURABLE, timeout=READ_TIMEOUT)

    async def _relay(self) -> dict:
        on_stream, _ = await stream_position(self.js)
        top, lag = await asyncio.to_thread(self._events_after, on_stream)
        return {"lag_events": lag, "store_position": top, "stream_position": on_stream}

    def _events_after(self, position: int) -> tuple[int, int]:
        """(the store's last notification id, ticket events after `position`, counted up
        to LAG_COUNT_CAP): other records (ticket numbers) are not the relay's to send."""
        recorder = self.desk.recorder
        top = recorder.max_notification_id() or 0
        if top <= position:
            return top, 0
        pending = recorder.select_notifications(
            start=position,
            limit=LAG_COUNT_CAP,
            topics=sorted(PUBLISHED_TOPICS),
            inclusive_of_start=False,
        )
        return top, len(pending)

    async def _positions(self) -> dict[str, int]:
        return await asyncio.to_thread(self._read_positions)

    def _read_positions(self) -> dict[str, int]:
        if self._db is None:
            self._db = ReadDB(self.read_url, durable=False)
        with self._db.transaction(write=False) as tx:
            rows = tx.execute("SELECT name, stream_seq FROM projection_positions").fetchall()
        return {str(name): int(seq) for name, seq in rows}

    async def _leader(self) -> dict:
        from nats.errors import NoRespondersError
        from nats.errors import TimeoutError as NatsTimeout

        try:
            reply = await self.nc.request(LEADER_SUBJECT, b"", timeout=0.5)
        except (NoRespondersError, NatsTimeout):
            raise NoLeader(
                "no instance leads: the relay, projections and SLA watcher run nowhere"
            ) from None
        return json.loads(reply.data)

    # ---- checks --------------------------------------------------------------------

    def _intake_check(self, info: Any) -> dict:
        running = self.local.intake_running()
        check = {
            "lag_messages": info.num_pending + info.num_ack_pending,
            "pending": info.num_pending,
            "in_flight": info.num_ack_pending,
        }
        if running is not None:
            check["running_here"] = running
            if not running:
                check["error"] = "the intake consumer of this instance stopped"
        return check

    def _relay_check(self, relay: dict, leader: Any) -> dict:
        check = dict(relay)
        if isinstance(leader, dict) and not leader["relay"]["running"]:
            check["error"] = "the leader's relay is not running"
        elif self._stalled("relay", relay["lag_events"], relay["stream_position"]):
            check["error"] = (
                f"{relay['lag_events']} events waiting, none published for {STALL_SECONDS:g}s"
            )
        return check

    def _projection_check(self, positions: dict[str, int], streams: Any, leader: Any) -> dict:
        if isinstance(streams, BaseException):
            raise streams
        last = streams[EVENTS]["last_seq"]
        lags = {n: max(last - positions.get(n, 0), 0) for n in self.projections}
        check: dict[str, Any] = {"stream_last": last, "lag_events": lags}
        stalled = [
            n
            for n in self.projections
            if self._stalled(f"projection:{n}", lags[n], positions.get(n, 0))
        ]
        if isinstance(leader, dict) and not leader["read_side"]["running"]:
            check["error"] = "the leader's projections are not running"
        elif stalled:
            check["error"] = f"no progress for {STALL_SECONDS:g}s: {', '.join(stalled)}"
        return check

    def _stalled(self, key: str, lag: int, position: int) -> bool:
        """Behind, and the position has not moved for STALL_SECONDS."""
        now = time.monotonic()
        if lag <= 0:
            self._stalls.pop(key, None)
            return False
        _, seen, since = self._stalls.get(key, (lag, position, now))
        if seen != position:
            since = now
        self._stalls[key] = (lag, position, since)
        return now - since >= STALL_SECONDS


def _attempt(fact: Awaitable[Any]) -> Awaitable[Any]:
    async def run() -> Any:
        try:
            return await asyncio.wait_for(fact, READ_TIMEOUT)
        except Exception as error:  # reported as the check's error, never raised
            return error

    return run()


def _check_of(fact: Any, build: Callable[[Any], dict]) -> dict:
    """A check: `ok`, what was measured, and `error` when something is wrong."""
    if isinstance(fact, BaseException):
        return {"ok": False, "error": _describe(fact)}
    try:
        check = build(fact)
    except Exception as error:
        return {"ok": False, "error": _describe(error)}
    return {"ok": "error" not in check, **check}


class NoLeader(Exception):
    pass


def _describe(error: BaseException) -> str:
    from nats.js.errors import NotFoundError

    if isinstance(error, NoLeader):
        return str(error)
    if isinstance(error, NotFoundError):
        return f"not found: {error.description or error}"
    if isinstance(error, TimeoutError):
        return f"no answer within {READ_TIMEOUT:g}s"
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


def _leader_check(leader: dict) -> dict:
    return {
        "instance": leader["instance"],
        "here": leader["instance"] == INSTANCE,
        "leading_seconds": leader["leading_seconds"],
    }


def _watcher_check(leader: dict) -> dict:
    watcher = dict(leader["sla_watcher"])
    if not watcher.pop("running"):
        watcher["error"] = "the SLA watcher is not running"
    return watcher


def leader_facts(
    since: float, running: Mapping[str, bool], relay: Any, watcher: Any, group: Any
) -> dict:
    """The leader's answer on LEADER_SUBJECT: what runs only where the lease is held.
    `running` says which of the leader's workers (by name) are running."""
    return {
        "instance": INSTANCE,
        "leading_seconds": round(time.monotonic() - since, 3),
        "relay": {"running": running["relay"], "published": relay.published},
        "read_side": {"running": running["projections"]},
        "sla_watcher": {
            "running": running["sla-watcher"],
            "breaches_escalated": len(watcher.escalated),
            "alarms": watcher.alarms,
        },
        "group_impact": {"running": running["group-impact"], "raised": group.raised},
    }
