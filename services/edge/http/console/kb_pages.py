"""The console's knowledge-base pages: /kb (the `articles` query: a search ranked by
similarity, filters, the list; supervisors and managers write an article there) and
/kb/<number> (the `article` query: a version as it was published, every version, the
draft waiting, and the forms that publish the next version or retire the article).

Also what the ticket and problem pages show of the knowledge base: the articles
suggested for an open ticket, the articles written from a problem, and drafting an
article from a closed ticket or a problem's root cause (`POST /kb/draft`).

Forms are parsed into the same commands as on NATS and the API; the actor is the
signed-in user. A refused article text is shown again with the reason, as typed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from pydantic import ValidationError
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from domain.article import LANGUAGES, STATUSES
from domain.errors import TicketError
from domain.roles import MAY_SEND
from services.application.article_messages import (
    ARTICLE_COMMANDS,
    ArticleQuery,
    ArticlesQuery,
    SuggestArticles,
)
from services.application.articles import KnowledgeBase
from services.application.messages import reason_of
from services.edge.http.console.access import may_ask
from services.edge.http.console.problem_pages import (
    Csrf,
    Render,
    outcome_of,
    refs,
    refused,
    words_of,
)
from services.edge.http.console.sessions import Session
from services.edge.nats.handlers import Answer

LISTED = 200  # articles listed on /kb
SUGGESTED = 3  # articles suggested on a ticket's page
FILTERS = ("q", "status", "language", "category")
CASES = {"ticket": "/tickets", "problem": "/problems"}  # what a draft is turned from
REFUSED_STATUS = {"forbidden": 403, "not_found": 404, "conflict": 409, "illegal_state": 409}


class Refusal(Exception):
    """A knowledge-base command the application refused: why, and the page's status."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.message, self.status = message, status


class KbPages:
    def __init__(
        self,
        answers: Mapping[str, Answer],
        kb: KnowledgeBase,
        categories: list[str],
        render: Render,
        csrf: Csrf,
    ) -> None:
        self.answers, self.kb, self.categories = answers, kb, categories
        self.render, self.csrf = render, csrf

    # ---- pages -------------------------------------------------------------------------

    async def index(
        self,
        request: Request,
        session: Session,
        typed: dict | None = None,
        problem: str = "",
        status: int = 200,
    ) -> Response:
        """/kb: the list, searched and filtered; `typed`: a refused new article's text."""
        if not may_ask(session.actor.role, "kb"):
            return refused(self.render, request, session, words_of(request)["not_for_role"], 403)
        filters = {key: request.query_params.get(key, "").strip() for key in FILTERS}
        fields: dict[str, Any] = {k: filters[k] or None for k in ("status", "language", "category")}
        fields.update(text=filters["q"] or None, limit=LISTED, actor=session.actor.record())
        try:
            query = ArticlesQuery.model_validate(fields)
        except ValidationError as e:
            return refused(self.render, request, session, reason_of(e), 400)
        reply = await self._ask("articles", query)
        context = {
            "rows": reply["articles"],
            "filters": filters,
            "statuses": STATUSES,
            "languages": LANGUAGES,
            "categories": self.categories,
            "may_publish": may_send("publish_article", session),
            "typed": typed or {},
            "problem": problem,
            "message": request.query_params.get("msg", ""),
        }
        return self.render(request, "kb.html", context, session, status)

    async def article(
        self,
        request: Request,
        session: Session,
        typed: dict | None = None,
        problem: str = "",
        status: int = 200,
    ) -> Response:
        """/kb/<number>[?version=n]: one version of an article, and what surrounds it;
        `typed`: a refused revision's text."""
        if not may_ask(session.actor.role, "kb"):
            return refused(self.render, request, session, words_of(request)["not_for_role"], 403)
        number, version = request.path_params["number"], request.query_params.get("version")
        fields: dict[str, Any] = {"article_id": number, "actor": session.actor.record()}
        if version:
            fields["version"] = int(version) if version.isdigit() else version
        try:
            reply = await self._ask("article", ArticleQuery.model_validate(fields))
        except ValidationError as e:
            return refused(self.render, request, session, reason_of(e), 400)
        except TicketError as e:
            code = 404 if e.code == "not_found" else 400
            return refused(self.render, request, session, e.message, code)
        a, shown = reply["article"], reply["article"]["version"]
        context = {
            "a": a,
            "v": shown,
            "old": shown is not None and shown["version"] != a["latest"],
            "counts": await self._counts(a, session),
            "may_publish": may_send("publish_article", session),
            "text": typed or a["draft"] or shown or {},
            "categories": self.categories,
            "problem": problem,
            "message": request.query_params.get("msg", ""),
        }
        return self.render(request, "kb_article.html", context, session, status)

    # ---- forms -------------------------------------------------------------------------

    async def write(self, request: Request, session: Session) -> Response:
        """POST /kb: a new article, published as its version 1."""
        form = await self.csrf(request, session)
        content = content_of(form)
        try:
            reply = await self._send("publish_article", content, session)
        except Refusal as r:
            return await self.index(request, session, content, r.message, r.status)
        return RedirectResponse(published(reply), 303)

    async def publish(self, request: Request, session: Session) -> Response:
        """POST /kb/<number>/publish: the article's next version (a draft's first)."""
        form = await self.csrf(request, session)
        content = content_of(form)
        body = {**content, "article_id": request.path_params["number"]}
        try:
            reply = await self._send("publish_article", body, session)
        except Refusal as r:
            return await self.article(request, session, content, r.message, r.status)
        return RedirectResponse(published(reply), 303)

    async def retire(self, request: Request, session: Session) -> Response:
        """POST /kb/<number>/retire: nobody is answered with the article any more."""
        form = await self.csrf(request, session)
        number = request.path_params["number"]
        body = {"article_id": number, "reason": str(form.get("reason", "")).strip()}
        try:
            await self._send("retire_article", body, session)
            outcome = "done"
        except Refusal as r:
            outcome = r.message
        return RedirectResponse(f"/kb/{quote(number)}?msg={quote(outcome)}", 303)

    async def draft(self, request: Request, session: Session) -> Response:
        """POST /kb/draft: a draft from a closed ticket or a problem's root cause (the
        form's `ticket` or `problem`); the draft's page, or the case's with the reason."""
        form = await self.csrf(request, session)
        case = {kind: str(form[kind]) for kind in CASES if form.get(kind)}
        try:
            reply = await self._send("draft_article", case, session)
        except Refusal as r:
            if len(case) != 1:
                return refused(self.render, request, session, r.message, r.status)
            ((kind, number),) = case.items()
            return RedirectResponse(f"{CASES[kind]}/{quote(number)}?msg={quote(r.message)}", 303)
        return RedirectResponse(f"/kb/{quote(reply['number'])}?msg=kb_drafted", 303)

    # ---- what other pages show ---------------------------------------------------------

    async def suggested(self, ticket: dict, session: Session) -> list[dict] | None:
        """The articles that best answer an open ticket, for a role that may answer with
        one (None: nothing to suggest on a closed ticket or to such a role)."""
        if ticket["status"] == "closed" or not may_send("answer_with_article", session):
            return None
        query = SuggestArticles.model_validate(
            {"number": ticket["number"], "limit": SUGGESTED, "actor": session.actor.record()}
        )
        try:
            reply = await self._ask("suggest_articles", query)
        except TicketError:
            return []
        return list(reply["articles"])

    async def written_for(self, problem: str, session: Session) -> list[dict]:
        """The articles drafted from a problem (its number or id)."""
        if not may_ask(session.actor.role, "articles"):
            return []
        query = ArticlesQuery.model_validate({"problem": problem, "actor": session.actor.record()})
        return list((await self._ask("articles", query))["articles"])

    # ---- shared ------------------------------------------------------------------------

    async def _ask(self, name: str, query: Any) -> dict:
        return await asyncio.to_thread(self.answers[name], query)

    async def _send(self, name: str, body: dict, session: Session) -> dict:
        """A knowledge-base command as the signed-in user; `Refusal` when refused."""
        try:
            command = ARTICLE_COMMANDS[name].model_validate(
                {**body, "actor": session.actor.record()}
            )
            return await asyncio.to_thread(self.kb.execute, name, command)
        except ValidationError as e:
            raise Refusal(reason_of(e), 400) from None
        except TicketError as e:
            raise Refusal(outcome_of(e), REFUSED_STATUS.get(e.code, 400)) from None

    async def _counts(self, a: dict, session: Session) -> dict | None:
        """How often agents answered with the article, and its self-service reports
        (`uses`, `self_served`, `solved`): the read model counts them (None while it has
        not caught up). Looked up among the articles of its status and first category."""
        content = a["version"] or a["draft"] or {}
        fields = {"status": a["status"], "limit": 1000, "actor": session.actor.record()}
        if content.get("categories"):
            fields["category"] = content["categories"][0]
        rows = (await self._ask("articles", ArticlesQuery.model_validate(fields)))["articles"]
        return next((r for r in rows if r["number"] == a["number"]), None)


def may_send(command: str, session: Session) -> bool:
    """Whether the signed-in user's role may send the command."""
    return session.actor.role in MAY_SEND[command]


def content_of(form: FormData) -> dict[str, Any]:
    """An article's text as the form has it: categories separated by commas or spaces,
    one standard reply a line."""
    text = {key: str(form.get(key, "")) for key in ("title", "body", "language")}
    replies = str(form.get("replies", "")).splitlines()
    return {
        "title": text["title"].strip(),
        "body": text["body"].strip(),
        "language": text["language"],
        "categories": refs(str(form.get("categories", ""))),
        "replies": [reply.strip() for reply in replies if reply.strip()],
    }


def published(reply: dict) -> str:
    """Where a publication leads: the article's page, saying whether a version came."""
    message = "done" if reply["changed"] else "kb_unchanged"
    return f"/kb/{quote(reply['number'])}?msg={message}"
