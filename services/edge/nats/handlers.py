"""NATS request/reply handlers for `tickets.cmd.<name>` and `tickets.query.<name>`.

Each handler takes its typed request, calls the synchronous service in a thread and
returns the reply. Failures become `{"ok": false, "error": {"code", "message"}}` in
one place, the router's exception middleware, and change nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from faststream import ExceptionMiddleware
from faststream.nats import NatsRouter
from pydantic import ValidationError

from domain.errors import TicketError
from services.application.article_messages import (
    ARTICLE_COMMANDS,
    ArticleQuery,
    ArticlesQuery,
    SuggestArticles,
)
from services.application.articles import KnowledgeBase
from services.application.commands import CommandService
from services.application.messages import (
    COMMANDS,
    Forget,
    HistoryQuery,
    Replan,
    TicketQuery,
    reason_of,
)
from services.application.problem_messages import PROBLEM_COMMANDS, EvaluateAction, ProblemQuery
from services.application.problems import ProblemService
from services.application.replanning import Replanner
from services.automation.effects import Effects
from services.edge.nats.logins import as_login
from services.readside.audit import AuditQuery
from services.readside.board import BoardQuery
from services.readside.problems import ProblemsQuery
from services.readside.sla import SlaQuery
from services.readside.stats import StatsQuery
from services.readside.tickets import TicketsQuery

log = logging.getLogger("ticketflow.handlers")
QUEUE = "ticketflow"  # instances share the work
QUERIES: dict[str, type] = {
    "ticket": TicketQuery,
    "history": HistoryQuery,
    "sla": SlaQuery,
    "stats": StatsQuery,
    "audit": AuditQuery,
    "board": BoardQuery,
    "tickets": TicketsQuery,
    "problem": ProblemQuery,
    "problems": ProblemsQuery,
    "article": ArticleQuery,
    "articles": ArticlesQuery,
    "suggest_articles": SuggestArticles,
}
# queries of no one ticket (each `GET /api/v1/<name>`)
LISTS = ("sla", "stats", "audit", "board", "problems", "tickets", "articles")
Answer = Callable[[Any], dict]


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

    @middleware.add_handler(RecursionError, publish=True)
    def too_deep(exc: RecursionError) -> dict:  # JSON nested deeper than Python recurses
        return error("invalid", "the request is nested too deeply to read")

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


def build_router(
    commands: CommandService | None,
    answers: Mapping[str, Answer] | None = None,
    problems: ProblemService | None = None,
    effects: Effects | None = None,
    logins: Mapping[str, str] | None = None,
    replanner: Replanner | None = None,
    kb: KnowledgeBase | None = None,
) -> NatsRouter:
    """The request/reply handlers; `answers` maps each query name to its service call.
    `logins` (with `--auth`): each login's role; the actor of a request is its login
    (`services.edge.nats.logins`)."""
    decoder = as_login(logins) if logins is not None else None
    router = NatsRouter(middlewares=[replies_for_errors()], decoder=decoder)
    if effects is not None:
        subject = "tickets.cmd.evaluate_action"
        router.subscriber(subject, queue=QUEUE, title=subject)(
            typed("cmd_evaluate_action", EvaluateAction, effects.evaluate_action)
        )
    for name, model in PROBLEM_COMMANDS.items() if problems else ():
        call = (lambda n: lambda c: problems.execute(n, c))(name)  # type: ignore[union-attr]
        router.subscriber(f"tickets.cmd.{name}", queue=QUEUE, title=f"tickets.cmd.{name}")(
            typed(f"cmd_{name}", model, call)
        )
    for name, model in ARTICLE_COMMANDS.items() if kb else ():
        call = (lambda n: lambda c: kb.execute(n, c))(name)  # type: ignore[union-attr]
        router.subscriber(f"tickets.cmd.{name}", queue=QUEUE, title=f"tickets.cmd.{name}")(
            typed(f"cmd_{name}", model, call)
        )
    for name, model in COMMANDS.items():
        call = (lambda n: lambda c: commands.execute(n, c))(name)  # type: ignore[union-attr]
        router.subscriber(f"tickets.cmd.{name}", queue=QUEUE, title=f"tickets.cmd.{name}")(
            typed(f"cmd_{name}", model, call)
        )
    replan = lambda c: replanner.replan(c)  # type: ignore[union-attr]  # noqa: E731
    router.subscriber("tickets.cmd.replan", queue=QUEUE, title="tickets.cmd.replan")(
        typed("cmd_replan", Replan, replan)
    )
    forget = lambda c: commands.forget(c)  # type: ignore[union-attr]  # noqa: E731
    router.subscriber("tickets.cmd.forget", queue=QUEUE, title="tickets.cmd.forget")(
        typed("cmd_forget", Forget, forget)
    )
    for name, model in QUERIES.items():
        call = (lambda n: lambda q: answers[n](q))(name)  # type: ignore[index]
        router.subscriber(f"tickets.query.{name}", queue=QUEUE, title=f"tickets.query.{name}")(
            typed(f"query_{name}", model, call)
        )
    return router
