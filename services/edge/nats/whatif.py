"""`tickets.admin.sla_whatif` (docs/contract.md "SLA policies over time"): a candidate
policy's outcomes over a period, beside the recorded ones, with progress.

The requester sends `services.application.whatif.SlaWhatIf` with a reply inbox and
receives `{"progress": {"phase": "reading"|"replaying", "done", "total"}}` messages,
then `{"changed": [...]}` messages (the changed outcomes, in parts that fit a NATS
message), then the final reply: `{"ok": true, "from", "to", "policy_version",
"tickets", "recorded", "whatif", "changed_total", "seconds"}` (or an error). Plain
nats-py rather than faststream: one request, several replies. Any serving instance
answers (it only reads the store).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
from typing import Any

from nats.aio.client import Client
from pydantic import ValidationError

from domain.errors import TicketError
from services.application.messages import reason_of
from services.application.whatif import SlaWhatIf, WhatIf
from services.edge.nats.handlers import QUEUE, error

log = logging.getLogger("ticketflow.admin")
SUBJECT = "tickets.admin.sla_whatif"
CHANGED_PART = 2000  # changed outcomes per message (about 150 kB)


class WhatIfs:
    name = "sla-whatif"
    task = None

    def __init__(self, nc: Client, whatif: WhatIf) -> None:
        self.nc, self.whatif = nc, whatif

    async def start(self) -> None:
        self._sub = await self.nc.subscribe(SUBJECT, queue=QUEUE, cb=self._on_request)

    async def stop(self) -> None:
        await self._sub.unsubscribe()

    async def _on_request(self, msg: Any) -> None:
        reply = await self.handle(msg.data, msg.reply)
        if msg.reply:
            await self.nc.publish(msg.reply, json.dumps(reply, ensure_ascii=False).encode())

    async def handle(self, raw: bytes, reply_to: str | None) -> dict:
        try:
            request = SlaWhatIf.model_validate_json(raw)
        except ValidationError as e:
            return error("invalid", reason_of(e))
        loop = asyncio.get_running_loop()
        sent: list[concurrent.futures.Future] = []

        def tell(body: dict) -> None:  # from the worker thread
            if reply_to:
                data = json.dumps(body, ensure_ascii=False).encode()
                sent.append(asyncio.run_coroutine_threadsafe(self.nc.publish(reply_to, data), loop))

        def progress(phase: str, done: int, total: int) -> None:
            tell({"progress": {"phase": phase, "done": done, "total": total}})

        try:
            report = await asyncio.to_thread(self.whatif.answer, request, progress)
        except TicketError as e:
            return error(e.code, e.message)
        changed = report.pop("changed")
        for at in range(0, len(changed), CHANGED_PART):
            tell({"changed": changed[at : at + CHANGED_PART]})
        await asyncio.gather(*(asyncio.wrap_future(f) for f in sent))  # in order, before the reply
        log.info(
            "what-if by %s: %d tickets, %d changed outcomes, in %.2fs",
            request.actor.id,
            report["tickets"],
            len(changed),
            report["seconds"],
        )
        return {"ok": True, **report, "changed_total": len(changed)}
