"""Front and back in two processes: after a save the front nudges the back's relay.

A hint, not an event: the relay still reads the store (and polls besides), so a lost
nudge delays publishing by at most the relay's poll interval.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from nats.aio.client import Client

SUBJECT = "ticketflow.internal.stored"


class Nudger:
    """In the front: publishes a nudge after each save (called in the saving thread)."""

    name = "nudger"
    task = None

    def __init__(self, nc: Client) -> None:
        self.nc, self._loop = nc, asyncio.get_running_loop()
        self._sent: set[asyncio.Future] = set()

    async def start(self) -> None:
        pass

    def after_save(self) -> None:
        self._loop.call_soon_threadsafe(self._nudge)

    def _nudge(self) -> None:
        task = asyncio.ensure_future(self.nc.publish(SUBJECT, b""))
        self._sent.add(task)
        task.add_done_callback(self._sent.discard)

    async def stop(self) -> None:
        if self._sent:
            await asyncio.wait(self._sent, timeout=5)


class NudgeListener:
    """In the back: wakes the relay on each nudge."""

    name = "nudge-listener"
    task = None

    def __init__(self, nc: Client, wake: Callable[[], None]) -> None:
        self.nc, self.wake = nc, wake

    async def start(self) -> None:
        self._sub = await self.nc.subscribe(SUBJECT, cb=self._woken)

    async def _woken(self, _msg: Any) -> None:
        self.wake()

    async def stop(self) -> None:
        await self._sub.unsubscribe()
