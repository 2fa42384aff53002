"""The console's problem pages: /problems (the `problems` query; supervisors and
managers open one there) and /problems/<number> (the `problem` query: its tickets, the
root-cause analysis, each action with its baseline → result, the knowledge-base articles
written from it, and the forms the role may use). Forms are parsed into the same
commands as on NATS and the API; the actor is the signed-in user.

Also the helpers the other console pages share: the refusal page, a refusal as a flash
message, the reader's words, ticket numbers as typed."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Mapping
from datetime import tzinfo
from typing import Any
from urllib.parse import quote

from markupsafe import Markup
from pydantic import ValidationError
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from domain.errors import TicketError
from domain.problem import LOWER_IS_BETTER, METHODS, METRICS
from domain.roles import MAY_SEND
from services.application.messages import reason_of
from services.application.problem_messages import PROBLEM_COMMANDS, EvaluateAction, ProblemQuery
from services.application.problems import ProblemService
from services.automation.effects import Effects
from services.edge.http.console import i18n
from services.edge.http.console.access import may_ask
from services.edge.http.console.charts import Bar, meters, nice_top
from services.edge.http.console.sessions import Session
from services.edge.nats.handlers import Answer
from services.readside.problems import ProblemsQuery

Render = Callable[..., Response]
Csrf = Callable[[Request, Session], Awaitable[FormData]]
Moment = Callable[[str, tzinfo], str]
Numbers = Callable[[list[str], Session], Awaitable[list[str]]]
Articles = Callable[[str, Session], Awaitable[list[dict]]]
TICKETS_SHOWN = 50
WORKERS = ("supervisor", "manager")  # who opens, analyses, plans and closes


class ProblemPages:
    def __init__(
        self,
        answers: Mapping[str, Answer],
        problems: ProblemService,
        effects: Effects,
        tz: tzinfo,
        render: Render,
        csrf: Csrf,
        moment_in: Moment,
        numbers_of: Numbers,
        articles_of: Articles | None = None,
    ) -> None:
        self.answers, self.problems, self.effects, self.tz = answers, problems, effects, tz
        self.render, self.csrf, self.moment_in = render, csrf, moment_in
        self.numbers_of = numbers_of  # ticket ids -> the numbers the reader may see
        self.articles_of = articles_of  # a problem -> the articles written from it (if a KB)

    # ---- pages -------------------------------------------------------------------------

    async def index(self, request: Request, session: Session) -> Response:
        if not may_ask(session.actor.role, "problems"):
            return self._problem(request, session, self._words(request)["not_for_role"], 403)
        status = request.query_params.get("status") or None
        try:
            query = ProblemsQuery.model_validate(
                {"status": status, "actor": session.actor.record()}
            )
        except ValidationError as e:
            return self._problem(request, session, reason_of(e), 400)
        reply = await asyncio.to_thread(self.answers["problems"], query)
        context = {
            "rows": reply["problems"],
            "status": status or "",
            "may_open": session.actor.role in WORKERS,
            "message": request.query_params.get("msg", ""),
        }
        return self.render(request, "problems.html", context, session)

    async def page(self, request: Request, session: Session) -> Response:
        if not may_ask(session.actor.role, "problem"):
            return self._problem(request, session, self._words(request)["not_for_role"], 403)
        number, as_of = request.path_params["number"], request.query_params.get("as_of")
        fields: dict[str, Any] = {"number": number, "actor": session.actor.record()}
        if as_of:
            fields["as_of"] = int(as_of) if as_of.isdigit() else as_of
        try:
            reply = await asyncio.to_thread(
                self.answers["problem"], ProblemQuery.model_validate(fields)
            )
        except ValidationError as e:
            return self._problem(request, session, reason_of(e), 400)
        except TicketError as e:
            return self._problem(request, session, e.message, 404)
        problem = reply["problem"]
        words = self._words(request)
        context = {
            "p": problem,
            "as_of": as_of,
            "tickets": await self.numbers_of(problem["tickets"][:TICKETS_SHOWN], session),
            "charts": {a["action_id"]: effect_chart(a, words) for a in problem["actions"]},
            "methods": METHODS,
            "metrics": sorted(METRICS),
            "works": session.actor.role in WORKERS and not as_of,
            "message": request.query_params.get("msg", ""),
            **await self._articles(problem, session, as_of),
        }
        return self.render(request, "problem_page.html", context, session)

    async def _articles(self, problem: dict, session: Session, as_of: str | None) -> dict:
        """The knowledge base's part of the page: the articles written from the problem,
        and whether the reader may draft one from its root cause."""
        if self.articles_of is None:
            return {"kb": False, "articles": [], "may_draft": False}
        may_draft = not as_of and session.actor.role in MAY_SEND["draft_article"]
        return {
            "kb": True,
            "articles": await self.articles_of(problem["number"], session),
            "may_draft": may_draft and problem["root_cause"] is not None,
        }

    # ---- forms -------------------------------------------------------------------------

    async def open(self, request: Request, session: Session) -> Response:
        form = await self.csrf(request, session)
        body = {
            "title": str(form.get("title", "")),
            "category": str(form.get("category", "")) or None,
            "tickets": refs(str(form.get("tickets", ""))),
            "actor": session.actor.record(),
        }
        try:
            command = PROBLEM_COMMANDS["open_problem"].model_validate(body)
            reply = await asyncio.to_thread(self.problems.execute, "open_problem", command)
        except ValidationError as e:
            return RedirectResponse(f"/problems?msg={quote(reason_of(e))}", 303)
        except TicketError as e:
            return RedirectResponse(f"/problems?msg={quote(outcome_of(e))}", 303)
        return RedirectResponse(f"/problems/{quote(reply['number'])}?msg=done", 303)

    async def act(self, request: Request, session: Session) -> Response:
        form = await self.csrf(request, session)
        number, name = request.path_params["number"], request.path_params["command"]
        if name == "open_problem" or (name not in PROBLEM_COMMANDS and name != "evaluate_action"):
            return self._problem(request, session, name, 404)
        body = self._body(name, form)
        body.update(number=number, actor=session.actor.record())
        if (version := str(form.get("expected_version", ""))) and name != "evaluate_action":
            body["expected_version"] = int(version) if version.isdigit() else version
        try:
            if name == "evaluate_action":
                command: Any = EvaluateAction.model_validate(body)
                await asyncio.to_thread(self.effects.evaluate_action, command)
            else:
                command = PROBLEM_COMMANDS[name].model_validate(body)
                await asyncio.to_thread(self.problems.execute, name, command)
            outcome = "done"
        except ValidationError as e:
            outcome = reason_of(e)
        except TicketError as e:
            outcome = outcome_of(e)
        return RedirectResponse(f"/problems/{quote(number)}?msg={quote(outcome)}", 303)

    def _body(self, name: str, form: FormData) -> dict[str, Any]:
        text = {k: str(v) for k, v in form.items() if isinstance(v, str) and v.strip()}
        if name == "link_tickets":
            return {"tickets": refs(text.get("tickets", ""))}
        if name == "record_root_cause":
            method = text.get("method", "")
            headings = METHODS.get(method, ())
            analysis: dict[str, Any] = {}
            for heading in headings:
                if value := text.get(heading):
                    lines = [line.strip() for line in value.splitlines() if line.strip()]
                    analysis[heading] = lines if method == "fishbone" else value
            return {"method": method, "analysis": analysis, "root_cause": text.get("root_cause")}
        if name == "plan_action":
            facets = ("category", "type", "channel", "team")
            scope = {k: text[f"scope_{k}"] for k in facets if text.get(f"scope_{k}")}
            body: dict[str, Any] = {k: text.get(k) for k in ("title", "owner", "metric")}
            body.update(scope=scope, target={"op": text.get("op"), "value": text.get("value")})
            if due := text.get("due"):
                body["due"] = self.moment_in(due, self.tz)
            if span := text.get("evaluate_after"):
                body["evaluate_after"] = span
            return body
        if name == "update_action":
            return {k: text.get(k) for k in ("action_id", "note", "status")}
        if name == "evaluate_action":
            return {"action_id": text.get("action_id")}
        return {"resolution": text.get("resolution")}  # close_problem

    # ---- shared ------------------------------------------------------------------------

    def _problem(self, request: Request, session: Session, problem: str, status: int) -> Response:
        return refused(self.render, request, session, problem, status)

    @staticmethod
    def _words(request: Request) -> dict[str, str]:
        return words_of(request)


def refused(
    render: Render, request: Request, session: Session, problem: str, status: int
) -> Response:
    """The page that says why a request was refused."""
    return render(request, "problem.html", {"problem": problem}, session, status)


def outcome_of(e: TicketError) -> str:
    """A refusal as the flash message a page shows after its redirect."""
    return "conflict" if e.code == "conflict" else f"{e.code}: {e.message}"


def words_of(request: Request) -> dict[str, str]:
    """The console's words in the reader's language."""
    return i18n.words(
        i18n.pick(request.cookies.get("lang"), request.headers.get("accept-language"))
    )


def refs(text: str) -> list[str]:
    """Ticket numbers or ids as typed: separated by spaces, commas or new lines."""
    return [part for part in re.split(r"[\s,，、]+", text) if part]


def effect_chart(action: dict, words: Mapping[str, str]) -> Markup | None:
    """Baseline → result as two bars, the target as a line; None before the verdict."""
    if action.get("verdict") in (None, "pending"):
        return None
    baseline, result, target = action["baseline"], action["result"], action["target"]["value"]
    top = nice_top(max(v for v in (baseline, result, target, 0) if v is not None))
    better = (
        words["lower_is_better"]
        if action["metric"] in LOWER_IS_BETTER
        else words["higher_is_better"]
    )
    rows = [
        (words["baseline"], Bar(baseline, f"{words['baseline']}: {baseline}", text=_n(baseline))),
        (
            words["result"],
            Bar(result, f"{words['result']}: {result}", kind=action["verdict"], text=_n(result),
                goal=target),
        ),
    ]  # fmt: skip
    return meters(rows, title=f"{action['metric']} ({better})", empty=words["no_data"], top=top)


def _n(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.0f}" if abs(value) >= 10 else f"{value:.2f}"
