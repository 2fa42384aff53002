"""`ticketflow up`: one instance, run until SIGINT/SIGTERM or until a part fails.

Start: connect to NATS (or start the embedded server), build the parts for this role
(`services.bootstrap`), start them in order. Stop, in reverse: the metrics server, then
intake finishes the batch in hand, the handlers finish the commands in hand, the leader's
workers stop with the relay last (it publishes everything stored), the lease is
released, NATS closed (and the embedded server), the store closed.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from infra.urls import without_credentials
from services.application.desk import TicketDesk
from services.automation.sla_watcher import SlaWatcher
from services.edge.http.server import HttpServer
from services.edge.nats.handlers import Answer
from services.edge.nats.intake import IntakeConsumer
from services.ops.health import Health
from services.runtime.link import NatsLink
from services.runtime.settings import Settings
from services.runtime.workers import Runner, Worker

log = logging.getLogger("ticketflow")


@dataclass
class Parts:
    """What the composition root built; `workers` are the ones this role runs, in start
    order. The others are here for the tests and benchmarks that look inside."""

    workers: list[Worker]
    health: Health
    intake: IntakeConsumer
    watcher: SlaWatcher
    metrics: Worker | None
    http: HttpServer | None
    answers: Mapping[str, Answer]  # the queries, as every edge calls them
    # Called once the workers stopped: the read side's database connections.
    closers: list[Callable[[], None]] = field(default_factory=list)


Wire = Callable[[Settings, TicketDesk, NatsLink], Parts]


class Service:
    """One instance: its store, its NATS connection, and the parts `wire` builds on them."""

    def __init__(self, settings: Settings, desk: TicketDesk, wire: Wire) -> None:
        self.settings, self.desk, self.wire = settings, desk, wire

    async def start(self) -> str:
        self.link = await NatsLink.open(self.settings)
        self.parts = self.wire(self.settings, self.desk, self.link)
        self.runner = Runner(self.parts.workers)
        await self.runner.start()
        return self.link.url

    @property
    def url(self) -> str:
        return self.link.url

    async def stop(self) -> None:
        await self.runner.stop()
        await self.link.close()
        self.parts.health.close()
        for close in self.parts.closers:
            close()
        self.desk.close()


async def serve(service: Service, announce: Callable[[Service], None]) -> int:
    """Run until SIGINT/SIGTERM (exit code 0) or until a part fails (exit code 1)."""
    settings = service.settings
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    url = await service.start()
    url_file = settings.data_dir / "nats.url"  # where client commands find the service
    url_file.write_text(without_credentials(url) + "\n")
    url_file.chmod(0o600)
    announce(service)
    failed = await service.runner.until_stopped(stop)
    for task in failed:
        log.error("%s stopped unexpectedly: %r", task.get_name(), task.exception())
    log.info("shutting down")
    await service.stop()
    url_file.unlink(missing_ok=True)
    return 1 if failed else 0
