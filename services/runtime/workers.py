"""The one protocol every background part follows, and the runner that starts and stops
them in order.

A worker is started once and stopped once; `task` is what ends if the worker stops by
itself (a failure the service exits on), or None for a worker with nothing running.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, Protocol

log = logging.getLogger("ticketflow")


class Worker(Protocol):
    name: str

    @property
    def task(self) -> asyncio.Task | None: ...

    async def start(self) -> object: ...

    async def stop(self) -> None: ...


class Loop:
    """A worker around a `run()` coroutine that returns once `halt()` was called: stop
    halts it, waits up to `grace` seconds for the work in hand, then cancels."""

    def __init__(
        self,
        name: str,
        run: Callable[[], Coroutine[Any, Any, None]],
        halt: Callable[[], object],
        grace: float = 15.0,
    ) -> None:
        self.name, self._run, self._halt, self.grace = name, run, halt, grace
        self.task: asyncio.Task | None = None

    @property
    def running(self) -> bool:
        return self.task is not None and not self.task.done()

    async def start(self) -> None:
        self.task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        halted = self._halt()
        if inspect.isawaitable(halted):
            await halted
        if self.task is None:
            return
        _, late = await asyncio.wait([self.task], timeout=self.grace)
        if late:
            log.error("%s did not finish within %ss", self.name, self.grace)
            self.task.cancel()
            await asyncio.wait([self.task], timeout=5)


class Runner:
    """Starts workers in order and stops the started ones in reverse order."""

    def __init__(self, workers: Sequence[Worker]) -> None:
        self.workers = list(workers)
        self._started: list[Worker] = []

    async def start(self) -> None:
        for worker in self.workers:
            await worker.start()
            self._started.append(worker)

    async def stop(self) -> None:
        while self._started:
            await self._started.pop().stop()

    def tasks(self) -> list[asyncio.Task]:
        return [w.task for w in self.workers if w.task is not None]

    async def until_stopped(self, stop: asyncio.Event) -> list[asyncio.Task]:
        """Wait for `stop` or for a worker to end by itself; returns the ended ones."""
        waiter = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait([waiter, *self.tasks()], return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        return [t for t in done if t is not waiter]
