"""The console's live feed: one subscription to TICKETS_EVENTS per process, fanned out to
every open board as server-sent events. A browser learns only that a ticket changed
(its id and the event's type) and fetches what its user may see through the pages."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import nats
from nats.js import JetStreamContext
from nats.js.api import DeliverPolicy

from services.edge.http.sse import server_sent

BACKLOG = 200  # changes waiting for a slow browser; more are dropped


class Live:
    name = "console-live"
    task = None

    def __init__(self, js: JetStreamContext, closing: asyncio.Event) -> None:
        self.js, self.closing = js, closing
        self._browsers: set[asyncio.Queue[str]] = set()
        self._sub: Any = None

    async def start(self) -> None:
        self._sub = await self.js.subscribe(
            "tickets.events.>", ordered_consumer=True, deliver_policy=DeliverPolicy.NEW, cb=self._on
        )

    async def stop(self) -> None:
        if self._sub is not None:
            with contextlib.suppress(nats.errors.Error):
                await self._sub.unsubscribe()

    async def _on(self, msg: Any) -> None:
        kind, ticket = msg.subject.split(".")[2:4]
        change = json.dumps({"ticket_id": ticket, "event": kind})
        for queue in self._browsers:
            with contextlib.suppress(asyncio.QueueFull):  # the next change refreshes it all
                queue.put_nowait(change)

    async def feed(self) -> AsyncIterator[str]:
        queue: asyncio.Queue[str] = asyncio.Queue(BACKLOG)
        self._browsers.add(queue)

        async def next_text(timeout: float) -> str | None:
            return f"event: changed\ndata: {await asyncio.wait_for(queue.get(), timeout)}\n\n"

        try:  # the browser reconnects, to whichever instance serves it
            async for text in server_sent("retry: 2000\n\n", next_text, self.closing):
                yield text
        finally:
            self._browsers.discard(queue)
