"""The OpenAPI 3.1 document of the HTTP API, made from the same message models the API
validates with (`/api/v1/openapi.json`; a snapshot test notices any change)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from services.application.article_messages import (
    ARTICLE_COMMANDS,
    ArticleQuery,
    DraftArticle,
    PublishArticle,
    SuggestArticles,
)
from services.application.messages import (
    CHANNELS,
    COMMANDS,
    HistoryQuery,
    IntakeRequest,
    Replan,
    TicketQuery,
)
from services.application.problem_messages import (
    PROBLEM_COMMANDS,
    EvaluateAction,
    OpenProblem,
    ProblemQuery,
)
from services.application.whatif import SlaWhatIf
from services.edge.nats.handlers import LISTS, QUERIES

VERSION = "1.0.0"
FROM_PATH_OR_SIGN_IN = ("actor", "ticket_id", "problem_id", "number")
ERRORS = {
    "400": "invalid: the reason names the field",
    "401": "unauthorized: sign in with HTTP Basic",
    "403": "forbidden: the signed-in role may not",
    "404": "not_found",
    "409": "conflict or illegal_state",
}
TOO_LARGE = "the body is over 256 KiB"
REF = {
    "name": "ref",
    "in": "path",
    "required": True,
    "description": "a ticket id or number",
    "schema": {"type": "string"},
}
PROBLEM_REF = {**REF, "description": "a problem id or number (PB...)"}
ARTICLE_REF = {**REF, "description": "an article id or number (KB...)"}
ARTICLE_PATHS = {  # POST /api/v1/articles/{ref}/<path> -> the command
    "publish": "publish_article",
    "retire": "retire_article",
    "self_served": "self_served",
}


def openapi_document() -> dict[str, Any]:
    schemas: dict[str, Any] = {"Error": _error_schema()}
    paths: dict[str, Any] = {
        "/api/v1/intake/{channel}": {"post": _intake(schemas)},
        "/api/v1/events": {"get": _events()},
        "/api/v1/tickets/{ref}": {"get": _query("ticket", TicketQuery, [REF])},
        "/api/v1/tickets/{ref}/history": {"get": _query("history", HistoryQuery, [REF])},
    }
    for name, model in COMMANDS.items():
        paths[f"/api/v1/tickets/{{ref}}/{name}"] = {"post": _command(name, model, schemas)}
    for name in LISTS:
        paths[f"/api/v1/{name}"] = {"get": _query(name, QUERIES[name], [])}
    paths["/api/v1/problems"]["post"] = _command("open_problem", OpenProblem, schemas, [])
    paths["/api/v1/problems/{ref}"] = {"get": _query("problem", ProblemQuery, [PROBLEM_REF])}
    problem_commands: dict[str, type[BaseModel]] = {
        **PROBLEM_COMMANDS,
        "evaluate_action": EvaluateAction,
    }
    for problem_command, problem_model in problem_commands.items():
        if problem_command != "open_problem":
            route = f"/api/v1/problems/{{ref}}/{problem_command}"
            operation = _command(problem_command, problem_model, schemas, [PROBLEM_REF])
            paths[route] = {"post": operation}
    for path, operations in _articles(schemas).items():
        paths.setdefault(path, {}).update(operations)
    paths["/api/v1/admin/sla-whatif"] = {"post": _sla_whatif(schemas)}
    paths["/api/v1/tickets/{ref}/replan"] = {"post": _command("replan", Replan, schemas)}
    paths["/api/v1/admin/replan"] = {"post": _command("replan", Replan, schemas, [])}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "ticketflow HTTP API",
            "version": VERSION,
            "description": "The commands and queries of ticketflow over HTTP; the "
            "actor is the signed-in user (HTTP Basic).",
        },
        "components": {
            "schemas": schemas,
            "securitySchemes": {"basic": {"type": "http", "scheme": "basic"}},
        },
        "security": [{"basic": []}],
        "paths": paths,
    }


def _intake(schemas: dict[str, Any]) -> dict[str, Any]:
    schemas["IntakeRequest"] = _schema(IntakeRequest, schemas)
    channel = {
        "name": "channel",
        "in": "path",
        "required": True,
        "schema": {"enum": list(CHANNELS)},
    }
    accepted = {
        "type": "object",
        "properties": {"ok": {"const": True}, "ticket_id": {"type": "string", "format": "uuid"}},
    }
    return {
        "summary": "Submit a request; 202 once JetStream holds it",
        "parameters": [channel],
        "requestBody": _body("IntakeRequest"),
        "responses": {
            "202": {"description": "accepted", "content": _json(accepted)},
            "422": _error("the request is refused, with the reason; nothing is published"),
            "413": _error(TOO_LARGE),
            **{code: _error(text) for code, text in ERRORS.items() if code in ("401", "403")},
            "429": _limited(),
        },
    }


def _events() -> dict[str, Any]:
    resume = {
        "name": "Last-Event-ID",
        "in": "header",
        "required": False,
        "description": "resume right after this store sequence (also `?after=`)",
        "schema": {"type": "string", "pattern": "^[0-9]+$"},
    }
    stream = {"text/event-stream": {"schema": {"type": "string"}}}
    return {
        "summary": "The CloudEvents of TICKETS_EVENTS as server-sent events",
        "description": "Each event once, in store order: `id:` its store sequence, "
        "`event:` its CloudEvents type, `data:` the CloudEvent (JSON). Roles analytics "
        "and auditor.",
        "parameters": [resume],
        "responses": {
            "200": {"description": "the stream", "content": stream},
            **{code: _error(ERRORS[code]) for code in ("400", "401", "403")},
            "429": _limited(),
        },
    }


def _articles(schemas: dict[str, Any]) -> dict[str, Any]:
    """The knowledge base: its list (a `LISTS` query), publishing, one article and its
    versions, suggestions, drafts from cases, and the commands on one article."""
    drop = (*FROM_PATH_OR_SIGN_IN, "article_id")
    paths: dict[str, Any] = {
        "/api/v1/articles/suggestions": {"get": _query("suggest_articles", SuggestArticles, [])},
        "/api/v1/articles/drafts": {"post": _command("draft_article", DraftArticle, schemas, [])},
        "/api/v1/articles/{ref}": {"get": _query("article", ArticleQuery, [ARTICLE_REF])},
    }
    for path, name in ARTICLE_PATHS.items():
        model = ARTICLE_COMMANDS[name]
        operation = _command(name, model, schemas, [ARTICLE_REF], drop)
        paths[f"/api/v1/articles/{{ref}}/{path}"] = {"post": operation}
    new = _command("publish_article", PublishArticle, schemas, [], drop)
    return {"/api/v1/articles": {"post": new}, **paths}  # its `get` is one of the LISTS


def _command(
    name: str,
    model: type[BaseModel],
    schemas: dict[str, Any],
    path: list[dict] | None = None,
    drop: tuple[str, ...] = FROM_PATH_OR_SIGN_IN,
) -> dict[str, Any]:
    title = f"{model.__name__}Body"
    schemas[title] = _schema(model, schemas, drop=drop)
    if_match = {
        "name": "If-Match",
        "in": "header",
        "required": False,
        "description": "the expected version, as expected_version",
        "schema": {"type": "string"},
    }
    return {
        "summary": f"tickets.cmd.{name}",
        "description": (model.__doc__ or "").strip(),
        "parameters": [*(path if path is not None else [REF]), if_match],
        "requestBody": _body(title),
        "responses": {
            "200": {"description": "done", "content": _json({"type": "object"})},
            **{code: _error(text) for code, text in ERRORS.items()},
            "413": _error(TOO_LARGE),
            "429": _limited(),
        },
    }


def _sla_whatif(schemas: dict[str, Any]) -> dict[str, Any]:
    schemas["SlaWhatIfBody"] = _schema(SlaWhatIf, schemas, drop=FROM_PATH_OR_SIGN_IN)
    schemas["SlaWhatIfSide"] = _whatif_side()
    outcome = {"enum": ["met", "breached", "open", "none"]}
    change = {
        "type": "object",
        "required": ["number", "target", "recorded", "whatif"],
        "properties": {
            "number": {"type": "string"},
            "target": {"type": "string"},
            "recorded": outcome,
            "whatif": outcome,
        },
    }
    side = {"$ref": "#/components/schemas/SlaWhatIfSide"}
    report = {
        "type": "object",
        "required": [
            "from",
            "to",
            "policy_version",
            "tickets",
            "recorded",
            "whatif",
            "changed",
            "seconds",
        ],
        "properties": {
            "from": {"type": "string", "format": "date-time"},
            "to": {"type": "string", "format": "date-time"},
            "policy_version": {
                "type": "object",
                "properties": {"running": {"type": "string"}, "whatif": {"type": "string"}},
            },
            "tickets": {"type": "integer"},
            "recorded": side,
            "whatif": side,
            "changed": {"type": "array", "items": change},
            "seconds": {"type": "number"},
        },
    }
    return {
        "summary": "tickets.admin.sla_whatif: a candidate SLA policy replayed over a period",
        "description": "Every ticket received in [from, to) replayed from its recorded "
        "events under the candidate policy (TOML text, as a policy file: it overrides the "
        "shipped defaults) and judged at `to`, beside what was recorded. Without `from` "
        "and `to`: last calendar month. Reads only. Roles manager and auditor.",
        "requestBody": _body("SlaWhatIfBody"),
        "responses": {
            "200": {"description": "the report", "content": _json(report)},
            **{code: _error(ERRORS[code]) for code in ("400", "401", "403")},
            "413": _error(TOO_LARGE),
            "429": _limited(),
        },
    }


def _whatif_side() -> dict[str, Any]:
    """The outcomes of one side of a what-if (as recorded, or under the candidate)."""
    integer = {"type": "integer"}
    counts = {
        "type": "object",
        "required": ["met", "breached"],
        "properties": {"met": integer, "breached": integer},
    }
    ratio = {"type": ["number", "null"], "minimum": 0, "maximum": 1}
    group = {
        "type": "object",
        "additionalProperties": {
            "type": "object",
            "properties": {"sla_compliance": ratio, "met": integer, "breached": integer},
        },
    }
    return {
        "type": "object",
        "properties": {
            "sla_compliance": ratio,
            "sla_targets": counts,
            "targets": {"type": "object", "additionalProperties": counts},
            "by_type": group,
            "by_priority": group,
            "by_team": group,
        },
    }


def _query(name: str, model: type[BaseModel], path: list[dict]) -> dict[str, Any]:
    properties = model.model_json_schema()["properties"]
    params = []
    in_path = {"ref": "article_id"}.get(path[0]["name"]) if path and name == "article" else None
    for field, info in model.model_fields.items():
        wire = info.alias or field  # `from` is `from_` in Python
        if field not in FROM_PATH_OR_SIGN_IN and field != in_path:
            schema = _plain(properties[wire])
            params.append(
                {"name": wire, "in": "query", "required": info.is_required(), "schema": schema}
            )
    return {
        "summary": f"tickets.query.{name}",
        "parameters": [*path, *params],
        "responses": {
            "200": {"description": "the reply", "content": _json({"type": "object"})},
            **{code: _error(text) for code, text in ERRORS.items()},
            "429": _limited(),
        },
    }


def _schema(model: type[BaseModel], schemas: dict[str, Any], drop: tuple = ()) -> dict:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(schema.pop("$defs", {}))
    for field in drop:
        schema.get("properties", {}).pop(field, None)
    if "required" in schema:
        schema["required"] = [f for f in schema["required"] if f not in drop]
    return schema


def _plain(schema: dict) -> dict:
    """A parameter's schema without pydantic's title."""
    return {k: v for k, v in schema.items() if k != "title"}


def _body(name: str) -> dict:
    return {"required": True, "content": _json({"$ref": f"#/components/schemas/{name}"})}


def _json(schema: dict) -> dict:
    return {"application/json": {"schema": schema}}


def _error(description: str) -> dict:
    return {"description": description, "content": _json({"$ref": "#/components/schemas/Error"})}


def _limited() -> dict:
    retry_after = {
        "description": "seconds until this name may try again from this address",
        "required": True,
        "schema": {"type": "integer", "minimum": 1},
    }
    text = "too_many_attempts: five failed sign-ins as this name from this address in a minute"
    return {**_error(text), "headers": {"Retry-After": retry_after}}


def _error_schema() -> dict:
    inner = {
        "type": "object",
        "required": ["code", "message"],
        "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
    }
    return {"type": "object", "required": ["error"], "properties": {"error": inner}}
