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
from collections.abc import Callable

from infra.urls import without_credentials
from services.application.desk import TicketDesk
from services.bootstrap import Parts, bootstrap, build_desk
from services.runtime.link import NatsLink
from services.runtime.settings import Role, Settings
from services.runtime.workers import Runner

log = logging.getLogger("ticketflow")


class Service:
    def __init__(self, settings: Settings, desk: TicketDesk) -> None:
        self.settings, self.desk = settings, desk

    async def start(self) -> str:
        self.link = await NatsLink.open(self.settings)
        self.parts: Parts = bootstrap(self.settings, self.desk, self.link)
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
        self.desk.close()


def build_service(settings: Settings) -> Service:
    return Service(settings, build_desk(settings))


async def serve(settings: Settings, announce: Callable[[str], None]) -> int:
    """Run until SIGINT/SIGTERM (exit code 0) or until a part fails (exit code 1)."""
    if settings.processes > 1:
        settings.role = Role.FRONT  # and a back process beside it
    service = build_service(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    url = await service.start()
    url_file = settings.data_dir / "nats.url"  # where client commands find the service
    url_file.write_text(without_credentials(url) + "\n")
    url_file.chmod(0o600)
    announce(url)
    failed = await service.runner.until_stopped(stop)
    for task in failed:
        log.error("%s stopped unexpectedly: %r", task.get_name(), task.exception())
    log.info("shutting down")
    await service.stop()
    url_file.unlink(missing_ok=True)
    return 1 if failed else 0
