"""The customers' self-service page (`/help`): a public web form, the `web` channel's
adapter. No sign-in, no scripts.

A customer describes a question (`/help/ask`); the knowledge base offers its best
articles, each with "This solved my question" and "Not solved" (`/help/solved`,
recorded as `self_served`). When none helps, `/help/ticket` publishes an intake request
on `tickets.intake.web` exactly as a channel adapter does; the intake consumer opens
the ticket (the store is the truth: this page writes no ticket itself).

Every POST carries a token signed with the store's secret (salt "help", an hour). It
holds what the customer asked and which articles were shown, so a crafted request
cannot report a self-service read for another text or article, and the external id of
the ticket this question would open (`help-<uuid4 hex>`, drawn once), so a second
submit is the same request: JetStream drops it by its `Nats-Msg-Id`, and intake is
idempotent. A refused token is a 400 page and nothing is recorded.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any, Final
from uuid import uuid4

import jinja2
import nats.errors
from itsdangerous import BadData, URLSafeTimedSerializer
from nats.js import JetStreamContext
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from domain.article_search import worth_showing
from domain.errors import IllegalState, NotFound, TicketError
from domain.ticket import ticket_id_for
from services.application.article_messages import SelfServed, SuggestArticles
from services.application.articles import KnowledgeBase
from services.application.messages import Actor
from services.edge.http import help_text
from services.edge.http.console.text import shown
from services.edge.http.console.views import CSP, HERE
from services.edge.nats.handlers import Answer
from services.edge.nats.intake import Rejected, parse_intake

log = logging.getLogger("ticketflow.help")
CHANNEL: Final = "web"
SUBJECT = f"tickets.intake.{CHANNEL}"
ACTOR = Actor(id="web", role="channel")
MAX_QUESTION = 4000  # characters
MAX_NAME, MAX_EMAIL, MAX_SUBJECT = 200, 254, 200
LIMITS = {"question": MAX_QUESTION, "name": MAX_NAME, "email": MAX_EMAIL, "subject": MAX_SUBJECT}
SUGGESTED = 3  # articles offered at most
TOKEN_AGE = 3600  # seconds a page's forms stay good
LANG_COOKIE_AGE = 365 * 86400
TICKET_FORM = "help_ticket.html"  # the open-a-ticket form, with what the customer gave


@dataclass(frozen=True)
class Carried:
    """What a page's forms carry to the next step, inside the signed token."""

    question: str = ""
    name: str = ""
    email: str = ""
    external_id: str = ""  # of the ticket this question would open
    articles: tuple[str, ...] = field(default=())  # the ids shown for it

    def typed(self) -> dict[str, str]:
        """The open-a-ticket form, filled in with what the customer gave."""
        return {"content": self.question, "name": self.name, "email": self.email, "subject": ""}


class Unfit(Exception):
    """What the customer typed cannot be taken; `key` names the message shown."""

    def __init__(self, key: str, detail: str = "") -> None:
        super().__init__(key)
        self.key, self.detail = key, detail


class Refused(Exception):
    """A POST without a good token: stale, tampered with or sent from elsewhere."""


Form = Callable[[Request, FormData, Carried], Awaitable[Response]]


class SelfServicePages:
    def __init__(
        self,
        answers: Mapping[str, Answer],
        kb: KnowledgeBase,
        js: JetStreamContext,
        secret: str,
        tz: tzinfo,
    ) -> None:
        self.answers, self.kb, self.js, self.secret, self.tz = answers, kb, js, secret, tz
        self._signer = URLSafeTimedSerializer(signing_key(secret), salt="help")
        loader = jinja2.FileSystemLoader(HERE / "templates")
        env = jinja2.Environment(loader=loader, autoescape=True, finalize=shown)
        self.templates = Jinja2Templates(env=env)

    def routes(self) -> list[Route]:
        return [
            Route("/help", self.form, methods=["GET"]),
            Route("/help/help.css", self.style, methods=["GET"]),
            Route("/help/ask", self._posted(self.ask), methods=["POST"]),
            Route("/help/solved", self._posted(self.report), methods=["POST"]),
            Route("/help/ticket", self._posted(self.ticket), methods=["POST"]),
        ]

    # ---- pages: parse, call, reply ---------------------------------------------------

    async def form(self, request: Request) -> Response:
        """The question form; `?lang=zh|en` switches the language and keeps it."""
        response = self._page(request, "help.html", {"typed": {}}, Carried())
        if request.query_params.get("lang") in help_text.LANGUAGES:
            lang = request.query_params["lang"]
            response.set_cookie("lang", lang, max_age=LANG_COOKIE_AGE, samesite="lax")
        return response

    async def style(self, request: Request) -> Response:
        return Response(
            help_text.STYLE, media_type="text/css", headers={"Cache-Control": "max-age=3600"}
        )

    async def ask(self, request: Request, form: FormData, _: Carried) -> Response:
        """The best articles for the question, or the open-a-ticket form when none."""
        try:
            question = question_of(form, "question")
            name, email = contact_of(form)
        except Unfit as unfit:
            return self._again(request, "help.html", Carried(), dict(form), unfit.key, unfit.detail)
        articles = await self._suggest(question)
        ids = tuple(a["article_id"] for a in articles)
        carried = Carried(question, name, email, f"help-{uuid4().hex}", ids)
        context = {"articles": articles, "typed": carried.typed()}
        return self._page(request, "help_suggestions.html", context, carried)

    async def report(self, request: Request, form: FormData, carried: Carried) -> Response:
        """Record whether the article solved the question: thanks, or the ticket form."""
        article_id, solved = str(form.get("article_id", "")), form.get("solved")
        if article_id not in carried.articles or solved not in ("yes", "no"):
            raise Refused()
        try:
            await self._report(carried, article_id, solved == "yes")
        except TicketError as error:
            log.info("a self-service report on %s was refused: %s", article_id, error.message)
            typed = carried.typed()
            return self._again(request, TICKET_FORM, carried, typed, readable(error), status=409)
        if solved == "yes":
            return self._page(request, "help_thanks.html", {})
        return self._page(request, TICKET_FORM, {"typed": carried.typed()}, carried)

    async def ticket(self, request: Request, form: FormData, carried: Carried) -> Response:
        """Publish the intake request; "received", with the ticket's id as reference."""
        if not carried.external_id:
            raise Refused()
        try:
            raw = intake_request(form, carried.external_id)
        except Unfit as unfit:
            return self._again(request, TICKET_FORM, carried, dict(form), unfit.key, unfit.detail)
        try:
            await self.js.publish(SUBJECT, raw, headers={"Nats-Msg-Id": intake_key(carried)})
        except nats.errors.Error as error:
            log.warning("a help request could not be published: %r", error)
            return self._again(request, TICKET_FORM, carried, dict(form), "unavailable", status=503)
        context = {
            "reference": str(ticket_id_for(CHANNEL, carried.external_id)),
            "contact": bool(form.get("email", "")),
        }
        return self._page(request, "help_received.html", context)

    # ---- calls ---------------------------------------------------------------------

    async def _suggest(self, question: str) -> list[dict]:
        query = SuggestArticles(text=question, limit=SUGGESTED, actor=ACTOR)
        reply = await asyncio.to_thread(self.answers["suggest_articles"], query)
        return worth_showing(reply["articles"], score=lambda a: a["score"])

    async def _report(self, carried: Carried, article_id: str, solved: bool) -> None:
        """`self_served`, named by the question's and the article's ids: sent again
        (a double click, a resubmitted form), the store records it once."""
        command = SelfServed(
            article_id=article_id,
            channel=CHANNEL,
            solved=solved,
            text=carried.question,
            report=f"{carried.external_id}:{article_id}",
            actor=ACTOR,
        )
        await asyncio.to_thread(self.kb.execute, "self_served", command)

    # ---- the parts every page shares -------------------------------------------------

    def _posted(self, page: Form) -> Callable[[Request], Awaitable[Response]]:
        """A POST page, given its form and what its signed token carries."""

        async def endpoint(request: Request) -> Response:
            form = await request.form()
            try:
                return await page(request, form, self._carried(str(form.get("token", ""))))
            except Refused:
                context = {"problem": "expired"}
                return self._page(request, "help_problem.html", context, status=400)

        return endpoint

    def _carried(self, token: str) -> Carried:
        try:
            values = self._signer.loads(token, max_age=TOKEN_AGE)
            carried = Carried(**{**values, "articles": tuple(values["articles"])})
        except (BadData, TypeError, KeyError, ValueError):
            raise Refused() from None
        return carried

    def _again(
        self,
        request: Request,
        template: str,
        carried: Carried,
        typed: dict[str, Any],
        problem: str,
        detail: str = "",
        status: int = 400,
    ) -> Response:
        """A form shown again with what the customer typed and why it was not taken."""
        context = {"typed": typed, "problem": problem, "detail": detail}
        return self._page(request, template, context, carried, status)

    def _page(
        self,
        request: Request,
        template: str,
        context: dict[str, Any],
        carried: Carried | None = None,
        status: int = 200,
    ) -> Response:
        """The template in the customer's language, with the next step's token."""
        params = request.query_params
        lang = help_text.language(
            params.get("lang"), request.cookies.get("lang"), request.headers.get("accept-language")
        )
        context = {
            **context,
            "w": help_text.words(lang, limit=MAX_QUESTION),
            "lang": lang,
            "other": "en" if lang == "zh" else "zh",
            "limits": LIMITS,
            "carried": carried,
            "token": self._signer.dumps(asdict(carried)) if carried is not None else "",
        }
        response = self.templates.TemplateResponse(request, template, context, status_code=status)
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Cache-Control"] = "no-store"  # the customer's words, and tokens
        response.headers["Referrer-Policy"] = "no-referrer"
        return response


def signing_key(secret: str) -> str:
    """The tokens' key, derived from the store's secret (which every instance on one
    store shares); without one, a key of this process alone, never an empty one."""
    material = secret.encode() or secrets.token_bytes(32)
    return hashlib.sha256(b"ticketflow-help:" + material).hexdigest()


def question_of(form: FormData, name: str) -> str:
    """The customer's question: not blank, at most `MAX_QUESTION` characters."""
    text = str(form.get(name, ""))
    if not text.strip():
        raise Unfit("blank")
    if len(text) > MAX_QUESTION:
        raise Unfit("too_long")
    return text


def contact_of(form: FormData) -> tuple[str, str]:
    """The optional name and e-mail address, trimmed."""
    name, email = str(form.get("name", "")).strip(), str(form.get("email", "")).strip()
    if len(name) > MAX_NAME or len(email) > MAX_EMAIL:
        raise Unfit("long_contact")
    if email and ("@" not in email.strip("@") or any(c.isspace() for c in email)):
        raise Unfit("bad_email")
    return name, email


def intake_request(form: FormData, external_id: str) -> bytes:
    """The intake request's JSON, checked as the intake consumer will check it."""
    content, (name, email) = question_of(form, "content"), contact_of(form)
    subject = str(form.get("subject", "")).strip()
    if len(subject) > MAX_SUBJECT:
        raise Unfit("long_subject")
    customer = {key: value for key, value in (("name", name), ("email", email)) if value}
    body: dict[str, Any] = {"external_id": external_id, "content": content, "customer": customer}
    if subject:
        body["subject"] = subject
    raw = json.dumps(body, ensure_ascii=False).encode()
    try:
        parse_intake(SUBJECT, raw, lambda: datetime.now(UTC))
    except Rejected as rejected:
        raise Unfit("rejected", str(rejected)) from None
    return raw


def intake_key(carried: Carried) -> str:
    """The request's `Nats-Msg-Id`, as every channel adapter names it."""
    return f"{CHANNEL}:{carried.external_id}"


def readable(error: TicketError) -> str:
    """The message a customer reads for an error of the application."""
    return "article_gone" if isinstance(error, NotFound | IllegalState) else "not_recorded"
