"""The console's report pages: /stats (the `stats` query, charted, every figure a link),
/tickets (the `tickets` query: the tickets behind a figure) and /audit (the `audit`
query, paged). Each checks the role as the wire does (`access`), validates its URL
parameters (`reports`; a bad one is a 400 page with the reason), asks the application
and renders one template.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from datetime import datetime, tzinfo
from typing import Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response

from services.application.messages import reason_of
from services.edge.http.console import i18n, reports
from services.edge.http.console.access import may_ask
from services.edge.http.console.sessions import Session
from services.edge.nats.handlers import Answer

Render = Callable[..., Response]  # Console._render(request, template, context, session, status)


class ReportPages:
    def __init__(
        self,
        answers: Mapping[str, Answer],
        tz: tzinfo,
        clock: Callable[[], datetime],
        render: Render,
    ) -> None:
        self.answers, self.tz, self.clock, self.render = answers, tz, clock, render

    async def stats(self, request: Request, session: Session) -> Response:
        if refused := self._refused(request, session, "stats"):
            return refused
        today = self.clock().astimezone(self.tz).date()
        try:
            params = reports.parse(reports.StatsParams, request.query_params, today=today)
        except ValidationError as e:
            return self._problem(request, session, reason_of(e), 400)
        queries = reports.stats_queries(params, self.tz, session.actor.record())
        replies = await self._ask("stats", queries)
        view = reports.stats_view(replies, params, self._words(request))
        context = {**view, "tickets_may": may_ask(session.actor.role, "tickets")}
        return self.render(request, "stats.html", context, session)

    async def tickets(self, request: Request, session: Session) -> Response:
        if refused := self._refused(request, session, "tickets"):
            return refused
        try:
            params = reports.parse(reports.ListParams, request.query_params)
            query = reports.list_query(params, self.tz, session.actor.record())
        except ValidationError as e:
            return self._problem(request, session, reason_of(e), 400)
        reply = await self._ask("tickets", {"list": query})
        view = reports.list_view(reply["list"], params)
        context = {**view, "ticket_may": may_ask(session.actor.role, "ticket")}
        return self.render(request, "tickets.html", context, session)

    async def audit(self, request: Request, session: Session) -> Response:
        if refused := self._refused(request, session, "audit"):
            return refused
        try:
            params = reports.parse(reports.AuditParams, request.query_params)
            query = reports.audit_query(params, self.tz, session.actor.record())
        except ValidationError as e:
            return self._problem(request, session, reason_of(e), 400)
        reply = await self._ask("audit", {"page": query})
        view = reports.audit_view(reply["page"], params, self.tz)
        context = {**view, "ticket_may": may_ask(session.actor.role, "ticket")}
        return self.render(request, "audit.html", context, session)

    # ---- shared --------------------------------------------------------------------------

    async def _ask(self, name: str, queries: Mapping[str, Any]) -> dict[str, dict]:
        """The query's replies, one per question (asked one after another, in a thread)."""
        answer = self.answers[name]
        return await asyncio.to_thread(lambda: {k: answer(q) for k, q in queries.items()})

    def _refused(self, request: Request, session: Session, query: str) -> Response | None:
        if may_ask(session.actor.role, query):
            return None
        words = self._words(request)
        return self._problem(request, session, words["not_for_role"], 403)

    def _problem(self, request: Request, session: Session, problem: str, status: int) -> Response:
        return self.render(request, "problem.html", {"problem": problem}, session, status)

    @staticmethod
    def _words(request: Request) -> dict[str, str]:
        lang = i18n.pick(request.cookies.get("lang"), request.headers.get("accept-language"))
        return i18n.words(lang)
