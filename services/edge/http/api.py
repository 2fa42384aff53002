"""The HTTP JSON API under `/api/v1/`: the same commands and queries as on NATS, through
the same application, with the same validation, replies and error codes.

The actor of every request is the signed-in user (HTTP Basic), never the body. Intake
is published to JetStream exactly as a channel adapter does (`Nats-Msg-Id:
<channel>:<external_id>`) and answered once JetStream holds it: the store, fed by the
intake consumer, stays the only truth.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import nats
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy
from pydantic import BaseModel, ValidationError
from pydantic_core import to_jsonable_python
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from domain.actor import Actor
from domain.errors import TicketError
from domain.ticket import ticket_id_for
from infra.stream_seek import first_after
from services.application.article_messages import ARTICLE_COMMANDS, ArticleQuery
from services.application.articles import KnowledgeBase
from services.application.commands import CommandService
from services.application.messages import COMMANDS, HistoryQuery, Replan, TicketQuery, reason_of
from services.application.problem_messages import PROBLEM_COMMANDS, EvaluateAction, ProblemQuery
from services.application.problems import ProblemService
from services.application.replanning import Replanner
from services.application.whatif import SlaWhatIf, WhatIf
from services.automation.effects import Effects
from services.edge.http.openapi import ARTICLE_PATHS, openapi_document
from services.edge.http.sse import server_sent
from services.edge.http.users import Attempts, Users
from services.edge.nats.handlers import LISTS, QUERIES, Answer
from services.edge.nats.intake import Rejected, parse_intake

log = logging.getLogger("ticketflow.http")
STATUS = {
    "invalid": 400,
    "unauthorized": 401,
    "forbidden": 403,
    "not_found": 404,
    "conflict": 409,
    "illegal_state": 409,
    "too_many_attempts": 429,
    "internal": 500,
}
MAY_SUBMIT = frozenset({"channel", "agent", "supervisor", "manager"})
MAY_FOLLOW = frozenset({"analytics", "auditor"})  # the readers of TICKETS_EVENTS on NATS
UUID_TEXT = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)
MAX_BODY = 256 * 1024
Handler = Callable[[Request, Actor], Awaitable[Response]]


class Reply(JSONResponse):
    """JSON as the NATS handlers send it: times and other values as pydantic renders them."""

    def render(self, content: Any) -> bytes:
        return json.dumps(to_jsonable_python(content), ensure_ascii=False).encode()


class ApiError(Exception):
    def __init__(
        self, code: str, message: str, status: int | None = None, headers: dict | None = None
    ) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status or STATUS[code]
        self.headers = headers or {}


def error(
    code: str, message: str, status: int | None = None, headers: dict | None = None
) -> JSONResponse:
    ask = {"WWW-Authenticate": 'Basic realm="ticketflow"'} if code == "unauthorized" else {}
    body = {"error": {"code": code, "message": message}}
    return JSONResponse(body, status or STATUS[code], headers={**ask, **(headers or {})})


class Api:
    def __init__(
        self,
        commands: CommandService,
        answers: Mapping[str, Answer],
        js: JetStreamContext,
        users: Users,
        closing: asyncio.Event | None = None,
        attempts: Attempts | None = None,
        problems: ProblemService | None = None,
        effects: Effects | None = None,
        whatif: WhatIf | None = None,
        replanner: Replanner | None = None,
        kb: KnowledgeBase | None = None,
    ) -> None:
        self.replanner, self.kb = replanner, kb
        self.commands, self.answers, self.js, self.users = commands, answers, js, users
        self.problems, self.effects, self.whatif = problems, effects, whatif
        self.closing = closing or asyncio.Event()
        self.attempts = attempts or Attempts()  # the console's too, when it shares one
        self._document = openapi_document()

    def routes(self) -> list[Route]:
        signed_in = self._signed_in
        return [
            Route("/api/v1/openapi.json", self.openapi, methods=["GET"]),
            Route("/api/v1/events", signed_in(self.events), methods=["GET"]),
            Route("/api/v1/intake/{channel}", signed_in(self.intake), methods=["POST"]),
            Route("/api/v1/tickets/{ref}", signed_in(self.ticket), methods=["GET"]),
            Route("/api/v1/tickets/{ref}/history", signed_in(self.history), methods=["GET"]),
            Route("/api/v1/tickets/{ref}/{command}", signed_in(self.command), methods=["POST"]),
            Route("/api/v1/problems", signed_in(self.problem_command), methods=["POST"]),
            Route("/api/v1/problems/{ref}", signed_in(self.problem), methods=["GET"]),
            Route(
                "/api/v1/problems/{ref}/{command}",
                signed_in(self.problem_command),
                methods=["POST"],
            ),
            *[
                Route(f"/api/v1/{name}", signed_in(self._query(name)), methods=["GET"])
                for name in LISTS
            ],
            Route("/api/v1/articles", signed_in(self.article_command), methods=["POST"]),
            Route(
                "/api/v1/articles/suggestions",
                signed_in(self._query("suggest_articles")),
                methods=["GET"],
            ),
            Route("/api/v1/articles/drafts", signed_in(self.article_draft), methods=["POST"]),
            Route("/api/v1/articles/{ref}", signed_in(self.article), methods=["GET"]),
            Route(
                "/api/v1/articles/{ref}/{command}",
                signed_in(self.article_command),
                methods=["POST"],
            ),
            Route("/api/v1/admin/sla-whatif", signed_in(self.sla_whatif), methods=["POST"]),
            Route("/api/v1/admin/replan", signed_in(self.replan_open), methods=["POST"]),
        ]

    # ---- handlers: parse, call, reply ------------------------------------------------

    async def openapi(self, request: Request) -> Response:
        return JSONResponse(self._document)

    async def ticket(self, request: Request, actor: Actor) -> Response:
        query = {**_params(request, TicketQuery), **_ref(request), "actor": actor.record()}
        return await self._answer("ticket", TicketQuery, query)

    async def history(self, request: Request, actor: Actor) -> Response:
        query = {**_params(request, HistoryQuery), **_ref(request), "actor": actor.record()}
        return await self._answer("history", HistoryQuery, query)

    def _query(self, name: str) -> Handler:
        model = QUERIES[name]

        async def answer(request: Request, actor: Actor) -> Response:
            query = {**_params(request, model), "actor": actor.record()}
            return await self._answer(name, model, query)

        return answer

    async def command(self, request: Request, actor: Actor) -> Response:
        name = request.path_params["command"]
        if name == "replan" and self.replanner is not None:
            return await self._replan(request, actor, _ref(request))
        if name not in COMMANDS:
            raise ApiError("not_found", f"no command {name!r}; known: {', '.join(COMMANDS)}")
        command = await _command(request, actor, COMMANDS[name], _ref(request))
        reply = await asyncio.to_thread(self.commands.execute, name, command)
        return Reply(reply, headers={"ETag": f'"{reply.get("version")}"'})

    async def replan_open(self, request: Request, actor: Actor) -> Response:
        """`tickets.cmd.replan` with `"all_open": true`: every open ticket."""
        return await self._replan(request, actor, {})

    async def _replan(self, request: Request, actor: Actor, ref: dict[str, str]) -> Response:
        assert self.replanner is not None
        command = await _command(request, actor, Replan, ref)
        return Reply(await asyncio.to_thread(self.replanner.replan, command))

    async def problem(self, request: Request, actor: Actor) -> Response:
        query = {**_params(request, ProblemQuery), **_problem_ref(request), "actor": actor.record()}
        return await self._answer("problem", ProblemQuery, query)

    async def problem_command(self, request: Request, actor: Actor) -> Response:
        """`POST /problems` opens one; `POST /problems/<ref>/<command>` works on it."""
        name = request.path_params.get("command", "open_problem")
        models: dict[str, type[BaseModel]] = {**PROBLEM_COMMANDS, "evaluate_action": EvaluateAction}
        if name not in models or ("ref" in request.path_params) == (name == "open_problem"):
            known = ", ".join(c for c in models if c != "open_problem")
            raise ApiError("not_found", f"no problem command {name!r}; known: {known}")
        ref = _problem_ref(request) if "ref" in request.path_params else {}
        command = await _command(request, actor, models[name], ref)
        assert self.problems is not None and self.effects is not None
        if name == "evaluate_action":
            reply = await asyncio.to_thread(self.effects.evaluate_action, command)
        else:
            reply = await asyncio.to_thread(self.problems.execute, name, command)
        return Reply(reply, headers={"ETag": f'"{reply.get("version")}"'})

    async def article(self, request: Request, actor: Actor) -> Response:
        ref = {"article_id": request.path_params["ref"]}
        query = {**_params(request, ArticleQuery), **ref, "actor": actor.record()}
        return await self._answer("article", ArticleQuery, query)

    async def article_command(self, request: Request, actor: Actor) -> Response:
        """`POST /articles` publishes a new article; `POST /articles/<ref>/publish` its
        next version, `/retire` retires it, `/self_served` reports a self-service read."""
        name = request.path_params.get("command")
        if "ref" not in request.path_params:
            return await self._kb("publish_article", request, actor, {})
        if name not in ARTICLE_PATHS:
            known = ", ".join(ARTICLE_PATHS)
            raise ApiError("not_found", f"no article command {name!r}; known: {known}")
        ref = {"article_id": request.path_params["ref"]}
        return await self._kb(ARTICLE_PATHS[name], request, actor, ref)

    async def article_draft(self, request: Request, actor: Actor) -> Response:
        """`tickets.cmd.draft_article`: a draft from a closed ticket or a problem."""
        return await self._kb("draft_article", request, actor, {})

    async def _kb(self, name: str, request: Request, actor: Actor, ref: dict) -> Response:
        if self.kb is None:
            raise ApiError("not_found", "this instance does not serve the knowledge base")
        command = await _command(request, actor, ARTICLE_COMMANDS[name], ref)
        return Reply(await asyncio.to_thread(self.kb.execute, name, command))

    async def sla_whatif(self, request: Request, actor: Actor) -> Response:
        """`tickets.admin.sla_whatif`: the whole report at once, every changed outcome in
        `changed` (it reads the whole store: a busy month takes about a minute)."""
        if self.whatif is None:
            raise ApiError("not_found", "this instance does not serve the SLA what-if")
        body = await _json_object(request)
        if "actor" in body:
            raise ApiError("invalid", "actor: the actor is the signed-in user; do not send it")
        asked = _valid(SlaWhatIf, {**body, "actor": actor.record()})
        report = await asyncio.to_thread(self.whatif.answer, asked)
        log.info(
            "HTTP what-if by %s: %d tickets, %d changed outcomes, in %.2fs",
            actor.id,
            report["tickets"],
            len(report["changed"]),
            report["seconds"],
        )
        return Reply(report)

    async def intake(self, request: Request, actor: Actor) -> Response:
        if actor.role not in MAY_SUBMIT:
            raise ApiError("forbidden", f"role {actor.role!r} may not submit requests")
        channel, raw = request.path_params["channel"], await _body(request)
        try:
            valid = parse_intake(f"tickets.intake.{channel}", raw, lambda: datetime.now(UTC))
        except Rejected as rejected:
            raise ApiError("invalid", str(rejected), 422) from None
        key = f"{valid.channel}:{valid.body.external_id}"
        await self.js.publish(f"tickets.intake.{channel}", raw, headers={"Nats-Msg-Id": key})
        ticket_id = str(ticket_id_for(valid.channel, valid.body.external_id))
        return JSONResponse({"ok": True, "ticket_id": ticket_id}, 202)

    async def events(self, request: Request, actor: Actor) -> Response:
        if actor.role not in MAY_FOLLOW:
            raise ApiError("forbidden", f"role {actor.role!r} may not read the event stream")
        after = _resume_after(request)
        start = await first_after(self.js, after)
        sub = await self.js.subscribe(
            "tickets.events.>",
            ordered_consumer=True,
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
            config=ConsumerConfig(opt_start_seq=start),
        )
        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        stream = _server_sent(sub, after, self.closing)
        return StreamingResponse(stream, media_type="text/event-stream", headers=headers)

    # ---- the parts every handler shares ------------------------------------------------

    async def _answer(self, name: str, model: type[BaseModel], query: dict) -> Response:
        reply = await asyncio.to_thread(self.answers[name], _valid(model, query))
        return Reply(reply)

    def _signed_in(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            try:
                return await handler(request, await self._actor(request))
            except ApiError as e:
                return error(e.code, e.message, e.status, e.headers)
            except TicketError as e:
                return error(e.code, e.message)
            except Exception as e:  # the same `internal` reply as on NATS; nothing changed
                log.error("HTTP %s %s failed: %r", request.method, request.url.path, e, exc_info=e)
                return error("internal", f"{type(e).__name__}: {e}")

        return endpoint

    async def _actor(self, request: Request) -> Actor:
        scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic":
            raise ApiError("unauthorized", "sign in with HTTP Basic")
        try:
            name, _, secret = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise ApiError("unauthorized", "malformed Basic credentials") from None
        address = request.client.host if request.client else "?"
        if not self.attempts.may_try(name, address):
            wait = self.attempts.retry_after(name, address)
            message = f"too many failed sign-ins as {name!r} from here; retry in {wait} s"
            raise ApiError("too_many_attempts", message, headers={"Retry-After": str(wait)})
        actor = await asyncio.to_thread(self.users.check, name, secret)
        if actor is None:
            self.attempts.failed(name, address)
            raise ApiError("unauthorized", "unknown user or wrong password")
        return actor


async def _server_sent(sub: Any, after: int, closing: asyncio.Event) -> AsyncIterator[str]:
    """Each event once, in store order, with `id:` its store sequence."""

    async def next_text(timeout: float) -> str | None:
        nonlocal after
        try:
            msg = await sub.next_msg(timeout=timeout)
        except nats.errors.TimeoutError:
            raise TimeoutError from None
        event = json.loads(msg.data)
        sequence = int(event.get("sequence") or 0)
        if sequence <= after:
            return None  # a copy the relay sent again after the stream lost its tail
        after = sequence
        return f"id: {sequence}\nevent: {event['type']}\ndata: {msg.data.decode()}\n\n"

    try:
        async for text in server_sent(": ticketflow events\n\n", next_text, closing):
            yield text
    finally:
        with contextlib.suppress(nats.errors.Error):
            await sub.unsubscribe()


def _resume_after(request: Request) -> int:
    text = request.headers.get("last-event-id") or request.query_params.get("after") or "0"
    if not text.isdigit():
        raise ApiError("invalid", f"Last-Event-ID {text!r}: a store sequence (a number)")
    return int(text)


def _ref(request: Request) -> dict[str, str]:
    ref = request.path_params["ref"]
    return {"ticket_id": ref} if UUID_TEXT.fullmatch(ref) else {"number": ref}


async def _command(
    request: Request, actor: Actor, model: type[BaseModel], ref: dict[str, str]
) -> Any:
    """A command from the body, the path's reference and the signed-in actor; the
    expected version in the body or as `If-Match`."""
    body = await _json_object(request)
    if "actor" in body:
        raise ApiError("invalid", "actor: the actor is the signed-in user; do not send it")
    if match := request.headers.get("if-match"):
        body.setdefault("expected_version", _version(match))
    return _valid(model, {**body, **ref, "actor": actor.record()})


def _problem_ref(request: Request) -> dict[str, str]:
    ref = request.path_params["ref"]
    return {"problem_id": ref} if UUID_TEXT.fullmatch(ref) else {"number": ref}


def _params(request: Request, model: type[BaseModel]) -> dict[str, Any]:
    """Query parameters as the message's fields: a number where the field takes one."""
    numeric = {
        n for n, f in model.model_fields.items() if re.search(r"\b(int|float)\b", str(f.annotation))
    }
    params: dict[str, Any] = {}
    for key, value in request.query_params.items():
        if key in numeric and re.fullmatch(r"-?\d+(\.\d+)?", value):
            params[key] = float(value) if "." in value else int(value)
        else:
            params[key] = value
    return params


def _version(tag: str) -> int | str:
    text = tag.strip().strip('"')
    return int(text) if text.isdigit() else text


def _valid(model: type[BaseModel], data: dict) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise ApiError("invalid", reason_of(e)) from None


async def _body(request: Request) -> bytes:
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise ApiError("invalid", f"the body is {len(raw)} bytes, over {MAX_BODY}", 413)
    return raw


async def _json_object(request: Request) -> dict:
    raw = await _body(request)
    try:
        body = json.loads(raw or b"{}")
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ApiError("invalid", f"bad JSON: {e}") from None
    if not isinstance(body, dict):
        raise ApiError("invalid", "the body must be a JSON object")
    return body
