"""The leader: the one instance (per store) that holds the lease runs the relay and the
read side's workers; the others wait to take over.

While it leads it answers `ticketflow.internal.leader` with what runs only here (for
the health report). It ends, and the service exits 1, if the relay fails or the lease
is lost for good.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable, Sequence
from typing import Any

import nats
from nats.aio.client import Client

from infra.lease import Lease
from services.ops.health import LEADER_SUBJECT
from services.runtime.workers import Loop, Runner, Worker


class Leader:
    name = "leader"

    def __init__(
        self,
        nc: Client,
        lease: Lease,
        workers: Sequence[Worker],
        relay: Loop,
        facts: Callable[[float], dict],
    ) -> None:
        self.nc, self.lease, self.relay, self.facts = nc, lease, relay, facts
        self.runner = Runner(workers)
        self.leading, self.since = False, 0.0
        self.task: asyncio.Task | None = None
        self._sub: Any = None

    async def start(self) -> None:
        self.task = asyncio.create_task(self._lead(), name=self.name)

    async def _lead(self) -> None:
        await self.lease.acquire()
        self.leading, self.since = True, time.monotonic()
        await self.runner.start()
        self._sub = await self.nc.subscribe(LEADER_SUBJECT, cb=self._answer)
        holding = asyncio.create_task(self.lease.hold(), name="lease")
        watched = [holding, *([self.relay.task] if self.relay.task else [])]
        try:
            done, _ = await asyncio.wait(watched, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                task.result()  # a failure ends the leader (the service exits 1)
            await holding
        finally:
            holding.cancel()

    async def _answer(self, msg: Any) -> None:
        await msg.respond(json.dumps(self.facts(self.since)).encode())

    async def stop(self) -> None:
        if self._sub is not None:
            with contextlib.suppress(nats.errors.Error):  # a connection already gone
                await self._sub.unsubscribe()
        await self.runner.stop()  # the relay last: it publishes what the others stored
        if self.task is not None:
            self.task.cancel()
            await asyncio.wait([self.task], timeout=5)
        self.lease.release()
