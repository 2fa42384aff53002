"""`tickets.admin.rebuild` (an extension): rebuild a projection from the stream while the
service runs, reporting progress to the requester as it goes.

The requester sends `{"projection": NAME, "actor": {...}}` with a reply inbox and
receives `{"progress": {"done": n, "total": N}}` messages, then the final reply
`{"ok": true, "projection": NAME, "position": N, "seconds": s}` (or an error).
Plain nats-py rather than faststream: one request, several replies.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

from nats.aio.client import Client
from pydantic import BaseModel, ConfigDict, ValidationError

from infra.projector import Projector
from services.application.messages import Actor, reason_of
from services.edge.nats.handlers import QUEUE, error

log = logging.getLogger("ticketflow.admin")
SUBJECT = "tickets.admin.rebuild"
MAY_REBUILD = frozenset({"manager", "auditor", "system"})


class Rebuild(BaseModel):
    model_config = ConfigDict(extra="forbid")

    projection: str
    actor: Actor


class Rebuilds:
    """Answers `tickets.admin.rebuild` where the projections run (at the leader)."""

    name = "rebuilds"
    task = None

    def __init__(self, nc: Client, projectors: dict[str, Projector]) -> None:
        self.nc, self.projectors = nc, projectors

    async def start(self) -> None:
        self._sub = await self.nc.subscribe(SUBJECT, queue=QUEUE, cb=self._on_request)

    async def stop(self) -> None:
        await self._sub.unsubscribe()

    async def _on_request(self, msg: Any) -> None:
        reply = await self.handle(msg.data, msg.reply)
        if msg.reply:
            await self.nc.publish(msg.reply, json.dumps(reply).encode())

    async def handle(self, raw: bytes, reply_to: str | None) -> dict:
        try:
            request = Rebuild.model_validate_json(raw)
        except ValidationError as e:
            return error("invalid", reason_of(e))
        if request.actor.role not in MAY_REBUILD:
            return error("forbidden", f"role {request.actor.role!r} may not rebuild")
        projector = self.projectors.get(request.projection)
        if projector is None:
            return error(
                "not_found",
                f"no projection {request.projection!r}; "
                f"known: {', '.join(sorted(self.projectors))}",
            )
        started, loop = time.monotonic(), asyncio.get_running_loop()
        sent: list[asyncio.Task] = []

        def progress(done: int, total: int) -> None:
            if reply_to:
                body = json.dumps({"progress": {"done": done, "total": total}}).encode()
                sent.append(loop.create_task(self.nc.publish(reply_to, body)))

        position = await projector.rebuild(progress)
        await asyncio.gather(*sent)  # every progress message goes before the final reply
        seconds = time.monotonic() - started
        log.info("rebuilt projection %s to %d in %.2fs", request.projection, position, seconds)
        return {
            "ok": True,
            "projection": request.projection,
            "position": position,
            "seconds": round(seconds, 3),
        }
