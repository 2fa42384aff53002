"""Command requests for the fuzz suite, and what the contract says each one must get.

`expected_codes` is the contract's table of who may do what, and of which status allows
which command, written out again here (not imported from the code under test): the
error codes a request must be refused with, or none when it must be accepted.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import strategies as st
from pydantic import ValidationError

from domain.errors import TicketError
from domain.ticket import Ticket
from services.application.commands import CommandService
from services.application.messages import COMMANDS, reason_of
from tests.fuzz.strategies import clean_text, mutated, odd_text, rfc3339

ROLES = ("agent", "supervisor", "manager", "auditor", "analytics", "channel", "system")
CODES = {"invalid", "not_found", "illegal_state", "conflict", "forbidden"}
MAY_SEND = {  # docs/contract.md "Commands" (follow_up: docs/contract.md "Extensions")
    "classify": {"agent", "supervisor", "manager"},
    "update": {"agent", "supervisor", "manager"},
    "close": {"agent", "supervisor", "manager"},
    "assign": {"supervisor", "manager", "system", "agent"},  # an agent: only to themself
    "acknowledge": {"agent"},  # the assignee
    "escalate": {"agent", "supervisor", "manager", "system"},
    "rate": {"channel", "agent", "supervisor"},
    "reopen": {"agent", "supervisor", "manager", "channel"},
    "follow_up": {"agent", "supervisor", "manager"},
    "reveal_contact": {"agent", "supervisor", "manager"},  # an agent: only the assignee
    "confirm": {"channel", "agent", "supervisor"},
    "decline": {"agent"},  # the assignee
    "request_department": {"agent", "supervisor", "manager"},
    "answer_department": {"agent", "supervisor", "manager"},
    "analyse": {"agent", "supervisor", "manager"},
    "review": {"supervisor", "manager"},
    "answer_with_article": {"agent", "supervisor", "manager"},  # the knowledge base
}
EVENTS = {
    "classify": ["Classified"],
    "assign": ["Assigned"],
    "acknowledge": ["Acknowledged"],
    "update": ["ProgressUpdated"],
    "escalate": ["Escalated"],
    "close": ["Closed"],
    "rate": ["Rated"],
    "reopen": ["Reopened"],
    "follow_up": ["FollowedUp"],
    "reveal_contact": ["ContactRevealed"],
    "confirm": ["Confirmed"],
    "decline": ["Declined"],
    "request_department": ["DepartmentRequested"],
    "answer_department": ["DepartmentAnswered"],
    "analyse": ["Analysed"],
    "review": ["ResolutionReviewed"],  # never accepted here: the fuzzed policy asks for no review
    "answer_with_article": ["ProgressUpdated"],
}
OPEN_ONLY = (
    "classify",
    "assign",
    "acknowledge",
    "update",
    "escalate",
    "close",
    "analyse",
    "answer_with_article",
)
SEEDED_ARTICLE = "KB0001"  # published, with one standard reply (tests/fuzz/test_commands.py)
NOW = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)  # the fuzzed service's clock
LONGEST_WAIT = timedelta(days=366)  # a department's due or a promise, at the latest
DEPARTMENTS = ("tech", "财务部", "nope")
AUTHORITY = {
    "agent": 200,
    "supervisor": 2000,
    "manager": 20000,
}  # the default policy's  # the default policy lists tech (技术部) and 财务部
PEOPLE = ("A007", "A008", "S001", "M001")
CATEGORIES = (
    "billing/refund",
    "technical",
    "account/login",
    "general",
    "billing/nope",
    "nope",
    "technical/",
)


@st.composite
def soon(draw: st.DrawFn) -> str:
    """A due time: mostly within the next weeks of the fuzzed clock, else anywhere."""
    if draw(st.integers(0, 3)):
        return (NOW + timedelta(minutes=draw(st.integers(-60, 60 * 24 * 400)))).isoformat()
    return draw(rfc3339())


@dataclass(frozen=True)
class Seeded:
    ticket_id: str
    number: str


def _fields(name: str, actor_id: str) -> st.SearchStrategy[dict]:
    text = clean_text
    fields: dict[str, Any] = {
        "classify": {
            "type": st.sampled_from(
                ["consultation", "complaint", "suggestion", "technical", "other"]
            ),
            "category": st.sampled_from(CATEGORIES),
            "reason": text,
        },
        "assign": {"assignee": st.sampled_from([*PEOPLE, actor_id])},
        "acknowledge": {},
        "update": {"note": text},
        "escalate": {"level": st.sampled_from(["supervisor", "manager"]), "reason": text},
        "close": {"resolution": text},
        "rate": {"score": st.integers(1, 5)},
        "reopen": {"reason": text},
        "follow_up": {"note": text},
        "reveal_contact": {"reason": text},
        "confirm": {},
        "decline": {"reason": text},
        "request_department": {
            "department": st.sampled_from(DEPARTMENTS),
            "ask": text,
            "due": soon(),
        },
        "answer_department": {"request_id": st.sampled_from(["D1", "D2", "X"]), "answer": text},
        "analyse": {"analysis": text},
        "review": {"approved": st.booleans()},
        "answer_with_article": {"article_id": st.sampled_from(["KB0001", "KB0002", "KB9999"])},
    }[name]
    optional: dict[str, Any] = {
        "classify": {"priority": st.sampled_from(["urgent", "high", "normal", "low"])},
        "assign": {"collaborators": st.lists(st.sampled_from(PEOPLE), max_size=2)},
        "update": {
            "visibility": st.sampled_from(["internal", "customer"]),
            "next_step": text,
            "expected_done_at": rfc3339(),
            "waiting_on_customer": st.booleans(),
            "attachments": st.lists(
                st.fixed_dictionaries({"name": text, "url": st.just("https://files.example/1")}),
                max_size=2,
            ),
            "promised_by": soon(),
            "compensation": st.sampled_from([0, 150, 200, 1999.5, 5000, 30000]),
        },
        "rate": {
            "comment": text,
            "dimensions": st.dictionaries(
                st.sampled_from(["attitude", "efficiency", "speed"]), st.integers(1, 5), max_size=2
            ),
        },
        "confirm": {"comment": text},
        "review": {"comment": text},
        "answer_with_article": {"reply": st.integers(0, 3), "note": text},
        "close": {
            "solution": st.sampled_from(["fix", "external", "product_improvement"]),
            "scheduled_for": soon(),
        },
    }.get(name, {})
    return st.fixed_dictionaries(fields, optional=optional)


@st.composite
def command_requests(draw: st.DrawFn, tickets: list[Seeded]) -> dict:
    """A well-formed request (it may still be refused: role, state, version, ticket)."""
    name = draw(st.sampled_from(sorted(COMMANDS)))
    # Mostly a role that may send it, so that most requests reach the ticket's rules.
    roles = sorted(MAY_SEND[name]) if draw(st.integers(0, 3)) else ROLES
    actor = {"id": draw(st.sampled_from(PEOPLE)), "role": draw(st.sampled_from(roles))}
    ticket = draw(st.sampled_from(tickets))
    target = draw(st.sampled_from(["number", "ticket_id"] * 4 + ["unknown_number", "unknown_id"]))
    body: dict[str, Any] = {
        "number": {"number": ticket.number},
        "ticket_id": {"ticket_id": ticket.ticket_id},
        "unknown_number": {"number": "CS209901010001"},
        "unknown_id": {"ticket_id": str(uuid.UUID(int=draw(st.integers(1, 2**64))))},
    }[target]
    body |= {"actor": actor, **draw(_fields(name, actor["id"]))}
    if draw(st.integers(0, 7)) == 0:
        body["expected_version"] = draw(st.integers(1, 12))
    return {"name": name, "body": body}


@st.composite
def hostile_commands(draw: st.DrawFn, tickets: list[Seeded]) -> tuple[str, bytes]:
    """A command name and the bytes sent: well-formed, mutated, or not even JSON."""
    request = draw(command_requests(tickets))
    data = draw(
        st.one_of(
            mutated(st.just(request["body"])),
            mutated(st.just(request["body"])),
            st.binary(max_size=80),
            odd_text.map(lambda t: json.dumps(t).encode()),
        )
    )
    return request["name"], data


def reply_to(service: CommandService, name: str, data: bytes) -> dict:
    """What the handlers answer (services/edge/nats/handlers.py), in-process: parse, validate,
    execute, or the error reply. Any other exception escapes: a crash."""
    try:
        document = json.loads(data)
    except (ValueError, RecursionError) as error:
        return _error("invalid", f"bad JSON: {type(error).__name__}")
    try:
        command = COMMANDS[name].model_validate(document)
    except ValidationError as error:
        return _error("invalid", reason_of(error))
    try:
        return service.execute(name, command)
    except TicketError as error:
        return _error(error.code, error.message)


def _error(code: str, message: str) -> dict:
    return {"ok": False, "error": {"code": code, "message": message}}


def expected_codes(name: str, command: Any, ticket: Ticket | None, taxonomy: dict) -> set[str]:
    """The codes the contract allows for this validated command; empty: it must succeed.
    `ticket` is the one it names (None: the id or number names no ticket)."""
    role, actor_id = command.actor.role, command.actor.id
    codes = set() if role in MAY_SEND[name] else {"forbidden"}
    if command.ticket_id and not _is_uuid(command.ticket_id):
        return codes | {"invalid"}
    if ticket is None:
        return codes | {"not_found"}
    if command.expected_version is not None and command.expected_version != ticket.version:
        codes.add("conflict")
    closed = ticket.status == "closed"
    if name in OPEN_ONLY and closed:
        codes.add("illegal_state")
    if name in ("reopen", "follow_up", "rate") and not closed:
        codes.add("illegal_state")
    if name == "rate" and ticket.rated:
        codes.add("illegal_state")
    if name == "rate" and "speed" in command.dimensions:  # not a dimension the policy rates
        codes.add("invalid")
    if name == "classify":
        top, _, sub = command.category.partition("/")
        if top not in taxonomy or (sub and sub not in taxonomy[top]):
            codes.add("invalid")
    if name == "assign" and role == "agent" and command.assignee != actor_id:
        codes.add("forbidden")
    if name == "acknowledge":
        if ticket.assignee is None or ticket.acknowledged:
            codes.add("illegal_state")
        if ticket.assignee is not None and ticket.assignee != actor_id:
            codes.add("forbidden")
    if name == "reveal_contact" and role == "agent" and ticket.assignee != actor_id:
        codes.add("forbidden")
    if name == "confirm" and (not closed or ticket.confirmed):
        codes.add("illegal_state")
    if name == "decline":
        if closed or ticket.assignee is None:
            codes.add("illegal_state")
        elif ticket.assignee != actor_id:
            codes.add("forbidden")
    if name == "request_department":
        if closed:
            codes.add("illegal_state")
        if command.department not in ("tech", "技术部", "finance", "财务部"):
            codes.add("invalid")
    due = {"request_department": "due", "update": "promised_by"}.get(name)
    moment = getattr(command, due, None) if due else None
    if moment is not None and not NOW < moment <= NOW + LONGEST_WAIT:
        codes.add("invalid")
    amount = getattr(command, "compensation", None) if name == "update" else None
    if amount is not None:
        covered = max(AUTHORITY.get(role, 0), AUTHORITY.get(ticket.escalation_level or "", 0))
        if amount > covered:
            codes.add("forbidden")
    if name == "review" and (closed or ticket.submitted is None):
        codes.add("illegal_state")  # the fuzzed policy asks for no review: nothing waits
    if name == "answer_with_article":
        if command.article_id != SEEDED_ARTICLE:
            codes.add("not_found")
        elif command.reply is not None and command.reply > 0:
            codes.add("invalid")
    if name == "answer_department":
        asked = ticket.departments.get(command.request_id)
        if asked is None:
            codes.add("invalid")
        elif asked["answered"]:
            codes.add("illegal_state")
    return codes


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def expected_status(name: str, command: Any, before: Ticket, reopens: bool) -> str:
    """The status after an accepted command (docs/contract.md "Vocabulary")."""
    unassigned_or = "assigned" if before.assignee else "open"
    if name == "close":
        return "closed"
    if name == "reopen" or (name == "rate" and reopens):
        return unassigned_or
    if name == "assign":
        return "waiting_on_customer" if before.status == "waiting_on_customer" else "assigned"
    if name == "acknowledge" and before.status == "assigned":
        return "in_progress"
    if name == "answer_with_article":
        return "in_progress" if before.assignee else "open"
    if name == "update":
        if command.waiting_on_customer:
            return "waiting_on_customer"
        return "in_progress" if before.assignee else "open"
    if name == "decline" and before.status != "waiting_on_customer":
        return "open"
    return before.status
