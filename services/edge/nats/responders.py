"""The request/reply handlers on one faststream broker: commands, queries and the
operations queries. Instances share the work through a queue group."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import nats
from faststream.nats import NatsBroker, NatsRouter
from nats.aio.client import Client

log = logging.getLogger("ticketflow")


class Responders:
    name = "responders"
    task = None

    def __init__(
        self, nc: Client, servers: list[str], login: dict[str, Any], routers: list[NatsRouter]
    ) -> None:
        self.nc = nc
        # graceful_timeout: on stop, commands in hand finish before the store closes
        self.broker = NatsBroker(
            servers, logger=log, log_level=logging.DEBUG, graceful_timeout=10.0, **login
        )
        for router in routers:
            self.broker.include_router(router)

    async def start(self) -> None:
        await self.broker.start()
        await self._until_answering()

    async def stop(self) -> None:
        await self.broker.stop()

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
