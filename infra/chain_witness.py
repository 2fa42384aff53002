"""The event stream as a witness of the store's tail.

A ticket's hash chain (each event names its predecessor's digest) shows an event that
was changed or removed *before* another one; the last event has nobody after it to
vouch for it. The stream does: every event the relay published carries its digest
(`chaindigest`). `StreamWitness.head` finds the newest event the stream holds for a
ticket, one `get_last_msg` per event type (the subject is
`tickets.events.<EventType>.<ticket_id>`); the `history` query compares it with the
store. A deleted tail shows as a version the store no longer has, a rewritten one as
a digest that differs.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from dataclasses import dataclass

from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from infra.streams import EVENTS

WAIT = 5.0  # seconds a history query waits for the stream's answer


@dataclass(frozen=True)
class Head:
    version: int
    digest: str | None


class StreamWitness:
    def __init__(
        self, js: JetStreamContext, loop: asyncio.AbstractEventLoop, names: Iterable[str]
    ) -> None:
        self.js, self.loop, self.names = js, loop, tuple(sorted(names))

    async def head(self, ticket_id: str) -> Head | None:
        """The newest event of the ticket on the stream (None: none published yet)."""
        newest: Head | None = None
        for name in self.names:
            try:
                msg = await self.js.get_last_msg(EVENTS, f"tickets.events.{name}.{ticket_id}")
            except NotFoundError:
                continue
            envelope = json.loads(msg.data or b"{}")
            version = int(str(envelope["id"]).rsplit(":", 1)[1])
            if newest is None or version > newest.version:
                newest = Head(version, envelope.get("chaindigest"))
        return newest

    def __call__(self, ticket_id: str) -> Head | None:
        """From a worker thread (the queries run there): ask on the service's loop."""
        try:
            on_loop = asyncio.get_running_loop() is self.loop
        except RuntimeError:
            on_loop = False
        if on_loop:  # waiting here would block the very loop that must answer
            raise RuntimeError("asked on the event loop's own thread")
        future = asyncio.run_coroutine_threadsafe(self.head(ticket_id), self.loop)
        return future.result(WAIT)
