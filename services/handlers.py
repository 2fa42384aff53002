"""NATS request/reply handlers for `tickets.cmd.<name>` and `tickets.query.<name>`.

Each handler takes its typed request, calls the synchronous service in a thread and
returns the reply. Failures become `{"ok": false, "error": {"code", "message"}}` in
one place, the router's exception middleware, and change nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from faststream import ExceptionMiddleware
from faststream.nats import NatsRouter
from pydantic import ValidationError

from domain.errors import TicketError
from services.commands import CommandService
from services.messages import COMMANDS, HistoryQuery, TicketQuery, reason_of
from services.queries import QueryService

log = logging.getLogger("ticketflow.handlers")
QUEUE = "ticketflow"  # instances share the work


def error(code: str, message: str) -> dict:
    return {"ok": False, "error": {"code": code, "message": message}}


def replies_for_errors() -> ExceptionMiddleware:
    middleware = ExceptionMiddleware()

    @middleware.add_handler(ValidationError, publish=True)
    def invalid(exc: ValidationError) -> dict:
        return error("invalid", reason_of(exc))

    @middleware.add_handler(TicketError, publish=True)
    def refused(exc: TicketError) -> dict:
        return error(exc.code, exc.message)

    @middleware.add_handler(Exception, publish=True)
    def failed(exc: Exception) -> dict:
        log.error("handler failed: %s: %s", type(exc).__name__, exc, exc_info=exc)
        return error("internal", f"{type(exc).__name__}: {exc}")

    return middleware


def typed(name: str, model: type, call: Callable[[Any], dict]) -> Callable[[Any], Awaitable[dict]]:
    """A handler whose parameter is `model`: faststream validates the request with it
    (and documents it in the AsyncAPI schema); the call runs in a thread."""

    async def handle(request: Any) -> dict:
        return await asyncio.to_thread(call, request)

    handle.__annotations__ = {"request": model, "return": dict}
    handle.__name__ = handle.__qualname__ = name
    handle.__doc__ = model.__doc__
    return handle


def build_router(commands: CommandService, queries: QueryService) -> NatsRouter:
    router = NatsRouter(middlewares=[replies_for_errors()])
    for name, model in COMMANDS.items():
        call = (lambda n: lambda c: commands.execute(n, c))(name)
        router.subscriber(f"tickets.cmd.{name}", queue=QUEUE, title=f"tickets.cmd.{name}")(
            typed(f"cmd_{name}", model, call))
    router.subscriber("tickets.query.ticket", queue=QUEUE, title="tickets.query.ticket")(
        typed("query_ticket", TicketQuery, lambda q: queries.ticket(q)))
    router.subscriber("tickets.query.history", queue=QUEUE, title="tickets.query.history")(
        typed("query_history", HistoryQuery, lambda q: queries.history(q)))
    return router
