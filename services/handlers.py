"""NATS request/reply handlers for `tickets.cmd.<name>` and `tickets.query.<name>`.

Each handler parses, calls the synchronous service in a thread, and replies; every
failure becomes `{"ok": false, "error": {"code", "message"}}` and changes nothing.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any

from faststream.nats import NatsRouter
from faststream.nats.annotations import NatsMessage
from pydantic import BaseModel, ValidationError

from domain.errors import Invalid, TicketError
from services.commands import CommandService
from services.messages import COMMANDS, HistoryQuery, TicketQuery, reason_of
from services.queries import QueryService

log = logging.getLogger("ticketflow.handlers")
QUEUE = "ticketflow"


def error(code: str, message: str) -> dict:
    return {"ok": False, "error": {"code": code, "message": message}}


def parse(model: type[BaseModel], raw: bytes) -> Any:
    try:
        document = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise Invalid(f"bad JSON: {e}") from None
    if not isinstance(document, dict):
        raise Invalid("the request must be a JSON object")
    try:
        return model.model_validate(document)
    except ValidationError as e:
        raise Invalid(reason_of(e)) from None


async def answer(raw: bytes, model: type[BaseModel], call: Callable[[Any], dict]) -> dict:
    try:
        request = parse(model, raw)
        return await asyncio.to_thread(call, request)
    except TicketError as e:
        return error(e.code, e.message)
    except Exception as e:
        log.exception("handler failed")
        return error("internal", f"{type(e).__name__}: {e}")


def build_router(commands: CommandService, queries: QueryService) -> NatsRouter:
    router = NatsRouter()

    for name, model in COMMANDS.items():
        def handler(message: NatsMessage, name: str = name, model: type = model) -> Any:
            return answer(message.body, model, lambda c: commands.execute(name, c))

        router.subscriber(f"tickets.cmd.{name}", queue=QUEUE, title=f"cmd.{name}",
                          description=f"{model.__doc__ or name} Reply: ok/ticket_id/number/version "
                                      "or error code.")(_named(handler, f"cmd_{name}"))

    async def ticket(message: NatsMessage) -> dict:
        return await answer(message.body, TicketQuery, queries.ticket)

    async def history(message: NatsMessage) -> dict:
        return await answer(message.body, HistoryQuery, queries.history)

    router.subscriber("tickets.query.ticket", queue=QUEUE, title="query.ticket")(ticket)
    router.subscriber("tickets.query.history", queue=QUEUE, title="query.history")(history)
    return router


def _named(func: Callable, name: str) -> Callable:
    async def wrapper(message: NatsMessage) -> dict:
        return await func(message)

    wrapper.__name__ = wrapper.__qualname__ = name
    return wrapper
