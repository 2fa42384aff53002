"""The console's pages: one view per page, each gathering what the application answers
and rendering one template (templates only render; escaping is on everywhere).

Every state-changing request is a POST with the session's CSRF token; the actor is the
signed-in user. Commands go through the same application as NATS and the HTTP API.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import jinja2
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from domain.errors import IllegalState, TicketError
from services.application.articles import KnowledgeBase
from services.application.commands import CommandService
from services.application.desk import utc_now
from services.application.messages import (
    COMMANDS,
    HistoryQuery,
    Replan,
    TicketQuery,
    reason_of,
)
from services.application.problems import ProblemService
from services.application.replanning import Replanner
from services.application.whatif import WhatIf
from services.automation.effects import Effects
from services.edge.http.console import i18n
from services.edge.http.console.access import may_ask, nav_for
from services.edge.http.console.board import board_query, filters_of, link
from services.edge.http.console.kb_pages import KbPages, may_send
from services.edge.http.console.live import Live
from services.edge.http.console.problem_pages import ProblemPages, outcome_of
from services.edge.http.console.report_pages import ReportPages
from services.edge.http.console.sessions import COOKIE, MAX_AGE, Session, Sessions
from services.edge.http.console.text import shown
from services.edge.http.console.whatif_pages import WhatIfPages
from services.edge.http.users import ROLES, Users
from services.edge.nats.handlers import Answer
from services.readside.board import FILTER_CHOICES
from services.readside.problems import ProblemsQuery

HERE = Path(__file__).parent
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
FORM_FIELDS = {  # the console's forms: command -> the fields it sends
    "assign": ("assignee",),
    "acknowledge": (),
    "update": (
        "note",
        "visibility",
        "next_step",
        "expected_done_at",
        "waiting_on_customer",
        "promised_by",
    ),
    "escalate": ("level", "reason"),
    "classify": ("type", "category", "priority", "reason", "demand", "mood"),
    "close": ("resolution", "solution", "scheduled_for"),
    "analyse": ("analysis",),
    "reopen": ("reason",),
    "follow_up": ("note",),
    "reveal_contact": ("reason",),
    "confirm": ("comment",),
    "decline": ("reason",),
    "request_department": ("department", "ask", "due"),
    "answer_department": ("request_id", "answer"),
    "answer_with_article": ("article_id", "reply", "note"),
    "replan": (),  # a manager applies the running policy (not a `COMMANDS` entry)
}
LINKED_SHOWN = 20  # linked tickets listed on a ticket's page
CHECKBOXES = ("waiting_on_customer",)  # sent as "on" when ticked
MOMENTS = ("expected_done_at", "promised_by", "due", "scheduled_for")
INTEGERS = ("reply",)  # sent as digits; anything else is refused by name
View = Callable[[Request, Session], Awaitable[Response]]


class Console:
    def __init__(
        self,
        commands: CommandService,
        answers: Mapping[str, Answer],
        users: Users,
        sessions: Sessions,
        live: Live,
        tz: tzinfo,
        categories: list[str],
        clock: Callable[[], datetime] = utc_now,
        problems: ProblemService | None = None,
        effects: Effects | None = None,
        whatif: WhatIf | None = None,
        replanner: Replanner | None = None,
        kb: KnowledgeBase | None = None,
    ) -> None:
        self.commands, self.answers, self.users, self.sessions = commands, answers, users, sessions
        self.replanner, self.kb = replanner, kb
        self.live, self.categories, self.tz = live, categories, tz
        self.reports = ReportPages(answers, tz, clock, self._render)  # /stats, /tickets, /audit
        self.kb_pages = (  # /kb
            KbPages(answers, kb, categories, self._render, self._csrf) if kb is not None else None
        )
        self.problem_pages = (
            ProblemPages(
                answers,
                problems,
                effects,
                tz,
                self._render,
                self._csrf,
                moment_in,
                self._numbers_of,
                self.kb_pages.written_for if self.kb_pages is not None else None,
            )
            if problems is not None and effects is not None
            else None
        )
        self.whatif_pages = (  # /whatif
            WhatIfPages(whatif, tz, clock, self._render, self._csrf) if whatif is not None else None
        )
        loader = jinja2.FileSystemLoader(HERE / "templates")
        # customers' words stay text: escaped, and with reordering controls made visible
        env = jinja2.Environment(loader=loader, autoescape=True, finalize=shown)
        env.filters["local"] = lambda text: local_time(text, tz)
        self.templates = Jinja2Templates(env=env)

    def routes(self) -> list:
        return [
            Route("/login", self.login_page, methods=["GET"]),
            Route("/login", self.login, methods=["POST"]),
            Route("/logout", self._signed_in(self.logout), methods=["POST"]),
            Route("/lang/{lang}", self.language, methods=["GET"]),
            Route("/", self._signed_in(self.board), methods=["GET"]),
            Route("/board/table", self._signed_in(self.board_table), methods=["GET"]),
            Route("/live", self._signed_in(self.live_feed), methods=["GET"]),
            Route("/stats", self._signed_in(self.reports.stats), methods=["GET"]),
            Route("/tickets", self._signed_in(self.reports.tickets), methods=["GET"]),
            Route("/audit", self._signed_in(self.reports.audit), methods=["GET"]),
            Route("/tickets/{number}", self._signed_in(self.ticket), methods=["GET"]),
            *self._problem_routes(),
            *self._kb_routes(),
            *self._whatif_routes(),
            Route("/tickets/{number}/{command}", self._signed_in(self.act), methods=["POST"]),
            Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
        ]

    def _problem_routes(self) -> list:
        pages = self.problem_pages
        if pages is None:
            return []
        return [
            Route("/problems", self._signed_in(pages.index), methods=["GET"]),
            Route("/problems", self._signed_in(pages.open), methods=["POST"]),
            Route("/problems/{number}", self._signed_in(pages.page), methods=["GET"]),
            Route("/problems/{number}/{command}", self._signed_in(pages.act), methods=["POST"]),
        ]

    def _kb_routes(self) -> list:
        pages = self.kb_pages
        if pages is None:
            return []
        return [
            Route("/kb", self._signed_in(pages.index), methods=["GET"]),
            Route("/kb", self._signed_in(pages.write), methods=["POST"]),
            Route("/kb/draft", self._signed_in(pages.draft), methods=["POST"]),
            Route("/kb/{number}", self._signed_in(pages.article), methods=["GET"]),
            Route("/kb/{number}/publish", self._signed_in(pages.publish), methods=["POST"]),
            Route("/kb/{number}/retire", self._signed_in(pages.retire), methods=["POST"]),
        ]

    def _whatif_routes(self) -> list:
        pages = self.whatif_pages
        if pages is None:
            return []
        return [
            Route("/whatif", self._signed_in(pages.form), methods=["GET"]),
            Route("/replan", self._signed_in(self.replan_open), methods=["POST"]),
            Route("/whatif", self._signed_in(pages.run), methods=["POST"]),
            Route("/whatif/jobs/{id}", self._signed_in(pages.job), methods=["GET"]),
        ]

    # ---- signing in and out ------------------------------------------------------------

    async def login_page(self, request: Request, problem: str = "", status: int = 200) -> Response:
        context = {
            "local": self.users.local,
            "roles": sorted(ROLES - {"channel"}),
            "problem": problem,
        }
        return self._render(request, "login.html", context, status=status)

    async def login(self, request: Request) -> Response:
        form = await request.form()
        name, secret = (
            str(form.get("username", "")),
            str(form.get("password") or form.get("role") or ""),
        )
        address = request.client.host if request.client else "?"
        if not self.sessions.may_try(name, address):
            refused = await self.login_page(request, "too_many", 429)
            refused.headers["Retry-After"] = str(self.sessions.attempts.retry_after(name, address))
            return refused
        actor = await asyncio.to_thread(self.users.check, name, secret)
        if actor is None:
            self.sessions.failed(name, address)
            return await self.login_page(request, "bad_credentials", 401)
        if actor.role == "channel":
            return await self.login_page(request, "no_console", 403)
        _, cookie = self.sessions.open(actor)
        response = RedirectResponse("/", 303)
        response.set_cookie(
            COOKIE,
            cookie,
            max_age=MAX_AGE,
            httponly=True,
            samesite="lax",
        )
        return response

    async def logout(self, request: Request, session: Session) -> Response:
        await self._csrf(request, session)
        response = RedirectResponse("/login", 303)
        response.delete_cookie(COOKIE)
        return response

    async def language(self, request: Request) -> Response:
        lang = request.path_params["lang"]
        response = RedirectResponse("/", 303)
        if lang in i18n.LANGUAGES:
            response.set_cookie("lang", lang, max_age=365 * 86400, samesite="lax")
        return response

    # ---- pages ---------------------------------------------------------------------------

    async def board(self, request: Request, session: Session) -> Response:
        if session.actor.role == "analytics":  # statistics only
            return RedirectResponse("/stats", 303)
        return await self._board(request, session, "board.html")

    async def board_table(self, request: Request, session: Session) -> Response:
        """The board's counts and rows alone: what an open board fetches after a change."""
        return await self._board(request, session, "board_table.html")

    async def _board(self, request: Request, session: Session, template: str) -> Response:
        params = request.query_params
        try:
            query = board_query(params, session.actor.record())
        except ValidationError as e:
            return self._render(request, "problem.html", {"problem": reason_of(e)}, session, 400)
        reply = await asyncio.to_thread(self.answers["board"], query)
        filters = filters_of(params)
        context = {
            "board": reply,
            "filters": filters,
            "choices": FILTER_CHOICES,
            "categories": self.categories,
            "link": lambda **change: link(filters, **change),
            "table_url": "/board/table?" + str(params),
        }
        return self._render(request, template, context, session)

    async def live_feed(self, request: Request, session: Session) -> Response:
        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        return StreamingResponse(self.live.feed(), media_type="text/event-stream", headers=headers)

    async def ticket(
        self, request: Request, session: Session, revealed: dict | None = None
    ) -> Response:
        """`revealed`: the contact a `reveal_contact` just returned, shown on this answer
        only (never in a URL or a cache)."""
        number, as_of = request.path_params["number"], request.query_params.get("as_of")
        query: dict[str, Any] = {"number": number, "actor": session.actor.record()}
        if at := request.query_params.get("at"):  # a moment, as the team's clock reads
            as_of = moment_in(at, self.tz)
        if as_of:
            query["as_of"] = int(as_of) if as_of.isdigit() else as_of
        try:
            state = await asyncio.to_thread(
                self.answers["ticket"], TicketQuery.model_validate(query)
            )
            history = await asyncio.to_thread(
                self.answers["history"], HistoryQuery(number=number, actor=query["actor"])
            )
        except ValidationError as e:
            return self._render(request, "problem.html", {"problem": reason_of(e)}, session, 400)
        except TicketError as e:
            return self._render(request, "problem.html", {"problem": e.message}, session, 404)
        ticket = state["ticket"]
        context = {
            "categories": self.categories,
            "t": ticket,
            "history": history,
            "as_of": as_of,
            "message": request.query_params.get("msg", ""),
            "forms": FORM_FIELDS,
            "departments": self.commands.desk.policy.departments,
            "running_policy": self.commands.desk.policy.version,
            "may_replan": self.replanner is not None,
            "reason": classification_reason(history["events"], ticket["version"]),
            "linked": await self._numbers_of(ticket["linked"][:LINKED_SHOWN], session),
            "problems": await self._problems_of(ticket["ticket_id"], session),
            "revealed": revealed,
            "attachments": [(a, safe_link(a.get("url"))) for a in ticket["attachments"]],
            **await self._knowledge(ticket, session, as_of),
        }
        response = self._render(request, "ticket.html", context, session)
        if revealed is not None:
            response.headers["Cache-Control"] = "no-store"
        return response

    async def _knowledge(self, ticket: dict, session: Session, as_of: str | None) -> dict:
        """The knowledge base's part of a ticket's page: the articles suggested for it
        (open tickets), and whether the reader may draft one from it (closed ones)."""
        if self.kb_pages is None or as_of:
            return {"suggestions": None, "may_draft": False}
        return {
            "suggestions": await self.kb_pages.suggested(ticket, session),
            "may_draft": ticket["status"] == "closed" and may_send("draft_article", session),
        }

    async def _problems_of(self, ticket_id: str, session: Session) -> list[dict]:
        """The problems this ticket is linked to (none when the role may not ask)."""
        if "problems" not in self.answers or not may_ask(session.actor.role, "problems"):
            return []
        query = ProblemsQuery.model_validate(
            {"ticket_id": ticket_id, "actor": session.actor.record()}
        )
        reply = await asyncio.to_thread(self.answers["problems"], query)
        return list(reply["problems"])

    async def _numbers_of(self, ticket_ids: list[str], session: Session) -> list[str]:
        """The numbers of linked tickets (the ones still readable)."""
        numbers = []
        for ticket_id in ticket_ids:
            query = TicketQuery.model_validate(
                {"ticket_id": ticket_id, "actor": session.actor.record()}
            )
            try:
                reply = await asyncio.to_thread(self.answers["ticket"], query)
            except TicketError:
                continue
            numbers.append(reply["ticket"]["number"])
        return numbers

    async def act(self, request: Request, session: Session) -> Response:
        form = await self._csrf(request, session)
        number, name = request.path_params["number"], request.path_params["command"]
        if name not in FORM_FIELDS:
            return self._render(request, "problem.html", {"problem": name}, session, 404)
        body: dict[str, Any] = {f: form.get(f) for f in FORM_FIELDS[name] if form.get(f)}
        body.update({box: True for box in CHECKBOXES if box in body})
        for key in MOMENTS:  # typed on the team's clock (a datetime-local field)
            if key in body:
                body[key] = moment_in(str(body[key]), self.tz)
        for key in INTEGERS:
            if str(body.get(key, "")).isdigit():
                body[key] = int(str(body[key]))
        if version := str(form.get("expected_version", "")):
            body["expected_version"] = int(version) if version.isdigit() else version
        body.update(number=number, actor=session.actor.record())
        if name == "assign":
            body["collaborators"] = []
        try:
            if name == "replan":
                return await self._replan(number, session)
            command = COMMANDS[name].model_validate(body)
            reply = await asyncio.to_thread(self.commands.execute, name, command)
            if name == "reveal_contact":  # shown on this answer, not put in the redirect
                return await self.ticket(request, session, revealed=reply["contact"])
            outcome = "done"
        except ValidationError as e:
            outcome = reason_of(e)
        except TicketError as e:
            outcome = outcome_of(e)
        return RedirectResponse(f"/tickets/{quote(number)}?msg={quote(outcome)}", 303)

    async def _replan(self, number: str, session: Session) -> Response:
        """The running policy applied to this ticket (`tickets.cmd.replan`)."""
        if self.replanner is None:
            raise IllegalState("replanning is not offered here")
        command = Replan.model_validate({"number": number, "actor": session.actor.record()})
        reply = await asyncio.to_thread(self.replanner.replan, command)
        outcome = "done" if reply["replanned"] else "unchanged"
        return RedirectResponse(f"/tickets/{quote(number)}?msg={quote(outcome)}", 303)

    async def replan_open(self, request: Request, session: Session) -> Response:
        """`/replan`: the running policy applied to every open ticket (managers)."""
        await self._csrf(request, session)
        if self.replanner is None:
            return self._render(request, "problem.html", {"problem": "replan"}, session, 404)
        try:
            command = Replan.model_validate({"all_open": True, "actor": session.actor.record()})
            reply = await asyncio.to_thread(self.replanner.replan, command)
        except TicketError as e:
            return RedirectResponse(f"/whatif?msg={quote(f'{e.code}: {e.message}')}", 303)
        counts = f"replanned={reply['replanned']}&unchanged={reply['unchanged']}"
        return RedirectResponse(f"/whatif?{counts}&version={reply['policy_version']}", 303)

    # ---- the parts every view shares -----------------------------------------------------

    def _signed_in(self, view: View) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            session = self.sessions.read(request.cookies.get(COOKIE))
            if session is None:
                return RedirectResponse("/login", 303)
            try:
                return await view(request, session)
            except _Refused:
                problem = "the form is stale or came from elsewhere (CSRF); reload the page"
                return self._render(request, "problem.html", {"problem": problem}, session, 403)

        return endpoint

    async def _csrf(self, request: Request, session: Session) -> Any:
        form = await request.form()
        if not session.checks(str(form.get("csrf", ""))):
            raise _Refused()
        return form

    def _render(
        self,
        request: Request,
        template: str,
        context: dict,
        session: Session | None = None,
        status: int = 200,
    ) -> Response:
        lang = i18n.pick(request.cookies.get("lang"), request.headers.get("accept-language"))
        context = {
            **context,
            "w": i18n.words(lang),
            "lang": lang,
            "session": session,
            "local": self.users.local,
            "nav": nav_for(session.actor.role, request.url.path) if session else [],
        }
        response = self.templates.TemplateResponse(request, template, context, status_code=status)
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


def classification_reason(events: list[dict], version: int) -> str | None:
    """Why the ticket has its classification: the reason of the last `Classified` or
    `ImpactRaised` up to the version shown."""
    for e in reversed(events):
        if e.get("version", 0) <= version and e.get("type") in ("Classified", "ImpactRaised"):
            return (e.get("data") or {}).get("reason")
    return None


def moment_in(text: str, tz: tzinfo) -> str:
    """`2026-11-24T10:30` (a browser's datetime-local) in the team's time zone, as RFC
    3339; text that is no such moment is passed on for the query to refuse by name."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return text
    return (moment if moment.tzinfo else moment.replace(tzinfo=tz)).isoformat()


def safe_link(url: object) -> str | None:
    """An attachment's URL as a link only when it is http(s); anything else is text."""
    text = str(url or "")
    return text if urlsplit(text).scheme in ("http", "https") else None


def local_time(text: str | None, tz: tzinfo) -> str:
    """An RFC 3339 time as the team reads it: in the policy's time zone, to the minute."""
    if not text:
        return "—"
    try:
        moment = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return str(text)
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M")


class _Refused(Exception):
    """A state-changing request without the session's CSRF token."""
