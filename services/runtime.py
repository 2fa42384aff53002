"""`ticketflow up`: the composition root that wires the parts and runs them together.

    adapters -> TICKETS_INTAKE -> intake -> store -> relay -> TICKETS_EVENTS -> projections
                                   commands/queries (request/reply) -> store

Shutdown (SIGINT/SIGTERM): finish the intake batch in hand, stop consuming, stop the
handlers, let the relay publish everything stored, then close NATS (and the embedded
server) and exit 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nats
from faststream.nats import NatsBroker

from domain.policy import Policy
from infra.auth_file import AuthFile
from infra.lease import Lease
from infra.metrics_http import MetricsServer
from infra.nats_auth import embedded_authorization
from infra.nats_credentials import NatsCredentials, from_env, service_credentials
from infra.nats_server import EmbeddedNats, die_with_parent
from infra.relay import Relay
from infra.store import default_store_url, store_env
from infra.streams import INTAKE_DURABLE, ensure_streams
from infra.urls import without_credentials
from services.admin import Admin
from services.commands import CommandService
from services.desk import TicketDesk
from services.handlers import Answer, build_router
from services.health import LEADER_SUBJECT, Health, Local, leader_facts
from services.intake import IntakeConsumer
from services.metrics import Counters
from services.ops import Ops, ops_router
from services.queries import QueryService
from services.read_side import ReadSide
from services.registration import Registrar
from services.retention import RetentionSchedule

log = logging.getLogger("ticketflow")
RELAY_FLUSH_TIMEOUT = 30.0
NUDGE = "ticketflow.internal.stored"  # front -> back: "something new is in the store"


@dataclass
class Settings:
    data_dir: Path = Path(".ticketflow")
    nats_url: str | None = None
    store: str | None = None
    policy: Policy | None = None
    nats_sync: str = "always"
    replicas: int = 1  # stream replicas on a NATS cluster (3 for a 3-node cluster)
    # "all": everything in one process. "front": intake, commands and queries. "back":
    # the leader's work (relay, projections, SLA watcher, group impact). `up
    # --processes 2` runs a front and a back, one per core.
    role: str = "all"
    processes: int = 1
    policy_path: Path | None = None
    intake_batch: int = 500
    auth: AuthFile | None = None  # --auth: the embedded server's users per role
    metrics_port: int | None = None  # HTTP /metrics, /healthz, /readyz; None: off
    metrics_host: str = "127.0.0.1"

    @property
    def store_url(self) -> str:
        return self.store or default_store_url(self.data_dir)


@dataclass
class Service:
    settings: Settings
    desk: TicketDesk
    url: str = ""
    embedded: EmbeddedNats | None = None
    relay: Relay | None = None
    read: ReadSide | None = None
    intake: IntakeConsumer | None = None
    leading: bool = False
    back: BackProcess | None = None
    credentials: NatsCredentials | None = None  # the service's own NATS identity
    metrics: MetricsServer | None = None
    _nudges: set[asyncio.Future] = field(default_factory=set)
    tasks: list[asyncio.Task] = field(default_factory=list)

    async def start(self) -> str:
        s = self.settings
        if s.nats_url:
            self.url, self.credentials = s.nats_url, from_env()
        else:
            self.url = await self._start_embedded()
        servers = [u.strip() for u in self.url.split(",")]  # a cluster: several URLs
        login = self.credentials.connect_options() if self.credentials else {}
        self.nc = await nats.connect(servers=servers, name="ticketflow",
                                     max_reconnect_attempts=-1, **login)
        self.js = self.nc.jetstream(publish_async_max_pending=4000)
        await ensure_streams(self.js, replicas=s.replicas)
        self.relay = Relay(self.desk, self.js)
        self.read = ReadSide(self.desk, s.store_url, self.js)
        queries = QueryService(self.desk)
        answers: dict[str, Answer] = {"ticket": queries.ticket, "history": queries.history,
                                      **self.read.answers()}
        # graceful_timeout: on stop, commands in hand finish before the store closes
        self.broker = NatsBroker(servers, logger=log, log_level=logging.DEBUG,
                                 graceful_timeout=10.0, **broker_login(self.credentials))
        self.broker.include_router(build_router(CommandService(self.desk), answers))
        self.intake = IntakeConsumer(self.nc, self.js, Registrar(self.desk),
                                     durable=INTAKE_DURABLE, batch_size=s.intake_batch)
        self.ops = self._ops()
        self.broker.include_router(ops_router(self.ops))
        self.admin = Admin(self.nc, self.read)  # started by the leader: it owns the projections
        self.lease = Lease(s.store_url)
        if s.role in ("all", "front"):
            await self.broker.start()
            await self._until_answering()
            self.tasks.append(asyncio.create_task(self.intake.run(), name="intake"))
            if s.metrics_port is not None:
                self.metrics = MetricsServer(s.metrics_host, s.metrics_port,
                                             self.ops.http_routes())
                await self.metrics.start()
        if s.role == "all":
            self.desk.on_saved(self.relay.wake)
        elif s.role == "front":  # the relay is in the back process: nudge it after a save
            self._loop = asyncio.get_running_loop()
            self.desk.on_saved(self._after_save)
        if s.role in ("all", "back"):
            if s.role == "back":
                await self.nc.subscribe(NUDGE, cb=self._woken)
            self.tasks.append(asyncio.create_task(self._lead(), name="leader"))
        return self.url

    def _ops(self) -> Ops:
        assert self.read and self.intake
        intake = self.intake
        local = Local(role=self.settings.role, leading=lambda: self.leading,
                      intake_running=self._intake_running)
        health = Health(self.nc, self.js, self.desk, self.settings.store_url,
                        list(self.read.projectors), local)

        def counters() -> Counters:
            return Counters(received=intake.registrar.received, stored=intake.stats.accepted,
                            rejected=intake.stats.rejected,
                            batch_seconds=intake.registrar.batch_seconds)

        return Ops(health, counters)

    def _intake_running(self) -> bool | None:
        task = next((t for t in self.tasks if t.get_name() == "intake"), None)
        return None if task is None else not task.done()

    async def _answer_as_leader(self, msg: Any) -> None:
        assert self.read
        facts = leader_facts(self._leading_since, self.relay,
                             getattr(self, "_relay_task", None), self.read)
        await msg.respond(json.dumps(facts).encode())

    async def _start_embedded(self) -> str:
        """With --auth the server requires credentials: the file's users with their roles'
        subjects, and the service's own identity with every right."""
        s, config = self.settings, ""
        if s.auth:
            self.credentials, own_user = service_credentials(s.auth)
            config = embedded_authorization(s.auth, dict(os.environ), (
                self.credentials.user, self.credentials.password) if own_user else None)
        self.embedded = EmbeddedNats(s.data_dir / "nats", sync_interval=s.nats_sync,
                                     extra_config=config, secret_config=bool(s.auth))
        return await asyncio.to_thread(self.embedded.start)

    def _after_save(self) -> None:  # in the worker thread that saved
        self._loop.call_soon_threadsafe(self._nudge)

    def _nudge(self) -> None:
        """A hint, not an event: the relay still reads the store (and polls besides)."""
        task = asyncio.ensure_future(self.nc.publish(NUDGE, b""))
        self._nudges.add(task)
        task.add_done_callback(self._nudges.discard)

    async def _woken(self, _msg: Any) -> None:
        if self.relay:
            self.relay.wake()

    async def _until_answering(self, timeout: float = 10.0) -> None:
        """Ask our own query subject until the handlers answer: once `up` prints its URL,
        a client's first request finds a responder."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            try:
                await self.nc.request("tickets.query.ticket", b"{}", timeout=1.0)
                return
            except (nats.errors.NoRespondersError, nats.errors.TimeoutError):
                if asyncio.get_running_loop().time() > deadline:
                    raise
                await asyncio.sleep(0.01)

    async def _lead(self) -> None:
        """Once this instance holds the lease: the relay and the read side run here."""
        assert self.relay and self.read
        await self.lease.acquire()
        self.leading, self._leading_since = True, time.monotonic()
        self._relay_task = asyncio.create_task(self.relay.run(), name="relay")
        self.read.start()
        await self.admin.start()
        self.retention = RetentionSchedule(self.desk)  # the purge of personal data
        self.retention.start()
        self._leader_sub = await self.nc.subscribe(LEADER_SUBJECT, cb=self._answer_as_leader)
        holding = asyncio.create_task(self.lease.hold(), name="lease")
        try:
            done, _ = await asyncio.wait([self._relay_task, holding],
                                         return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                task.result()  # a failure ends the leader (the service exits 1)
            await holding
        finally:
            holding.cancel()

    async def stop(self) -> None:
        assert self.intake and self.relay and self.read
        tasks = {t.get_name(): t for t in self.tasks}
        if "intake" in tasks:
            self.intake.stop()
            await asyncio.wait([tasks["intake"]], timeout=10)  # the batch in hand is finished
            if not tasks["intake"].done():
                tasks["intake"].cancel()
            await self.broker.stop()
        if self.metrics:
            await self.metrics.stop()
        if self.back:  # the back process publishes what the front stored
            await self.back.stop()
        if self.leading:
            if sub := getattr(self, "_leader_sub", None):
                with contextlib.suppress(nats.errors.Error):  # a connection already gone
                    await sub.unsubscribe()
            await self.admin.stop()
            if retention := getattr(self, "retention", None):  # made once the lease is held
                await retention.stop()
            await self.read.stop()
            await self.relay.flush()
            try:
                await asyncio.wait_for(self._relay_task, RELAY_FLUSH_TIMEOUT)
            except TimeoutError:
                log.error("relay did not finish within %ss; the rest follows at next start",
                          RELAY_FLUSH_TIMEOUT)
        if "leader" in tasks:
            tasks["leader"].cancel()
            await asyncio.wait([tasks["leader"]], timeout=5)
        self.lease.release()
        await self.nc.flush()
        await self.nc.close()
        if self.embedded:
            await asyncio.to_thread(self.embedded.stop)
        self.ops.health.close()
        self.desk.close()


class BackProcess:
    """`up --processes 2`: the back role in a child process, on the same NATS and store."""

    def __init__(self, settings: Settings, url: str,
                 credentials: NatsCredentials | None = None) -> None:
        self.settings, self.url, self.credentials = settings, url, credentials

    async def start(self) -> asyncio.Task:
        s = self.settings
        args = [sys.executable, "-m", "services.cli", "up", "--role", "back", "--processes", "1",
                "--nats-url", self.url, "--store", s.store_url, "--data-dir", str(s.data_dir),
                "--nats-replicas", str(s.replicas)]
        if s.policy_path:
            args += ["--policy", str(s.policy_path)]
        env = {k: v for k, v in os.environ.items()
               if k not in ("TICKETFLOW_PROCESSES", "TICKETFLOW_AUTH")}
        env.update(self.credentials.env() if self.credentials else {})  # never in argv
        self.process = await asyncio.create_subprocess_exec(
            *args, stdout=asyncio.subprocess.PIPE, env=env,
            preexec_fn=die_with_parent if sys.platform == "linux" else None)
        assert self.process.stdout is not None
        line = await self.process.stdout.readline()
        if not line.startswith(b"nats: "):
            raise RuntimeError(f"the back process did not start (exit {self.process.returncode})")
        return asyncio.create_task(self.process.wait(), name="back")

    async def stop(self) -> None:
        if self.process.returncode is None:
            self.process.terminate()  # it flushes the relay, then exits
            await asyncio.wait_for(self.process.wait(), RELAY_FLUSH_TIMEOUT + 10)


def broker_login(credentials: NatsCredentials | None) -> dict[str, Any]:
    if credentials is None:
        return {}
    from faststream.nats.security import NatsUserPassword

    return {"security": NatsUserPassword(credentials.user, credentials.password),
            "inbox_prefix": credentials.connect_options()["inbox_prefix"]}


def build_service(settings: Settings) -> Service:
    from infra.policy_file import load_policy

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    policy = settings.policy or load_policy()
    desk = TicketDesk(policy, store_env(settings.store_url, settings.data_dir))
    return Service(settings, desk)


async def serve(settings: Settings, announce: Callable[[str], None]) -> int:
    """Run until SIGINT/SIGTERM (exit code 0) or until a part fails (exit code 1)."""
    if settings.processes > 1:
        settings.role = "front"  # and a back process beside it
    service = build_service(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    url = await service.start()
    if settings.processes > 1:
        service.back = BackProcess(settings, url, service.credentials)
        service.tasks.append(await service.back.start())
    url_file = settings.data_dir / "nats.url"  # where client commands find the service
    url_file.write_text(without_credentials(url) + "\n")
    url_file.chmod(0o600)
    announce(url)
    waiter = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait([waiter, *service.tasks], return_when=asyncio.FIRST_COMPLETED)
    failed = [t for t in done if t is not waiter]
    for task in failed:
        log.error("%s stopped unexpectedly: %r", task.get_name(), task.exception())
    log.info("shutting down")
    await service.stop()
    url_file.unlink(missing_ok=True)
    return 1 if failed else 0
