"""Revealing a customer's contact (`reveal_contact`): the assigned agent, a supervisor
or a manager sees it unmasked, and the look is recorded in the ticket's history with
who, when and why. Everyone else, and everyone after an erasure, is refused and nothing
is recorded."""

from __future__ import annotations

import pytest

from domain.errors import Forbidden, IllegalState
from services.application import messages as m
from services.application.commands import CommandService
from tests.integration.test_personal_data import (
    EMAIL,
    MANAGER,
    PHONE,
    command,
    forget,
    history,
    register,
    request,
    ticket,
)

SUPERVISOR = {"id": "S001", "role": "supervisor"}


def reveal(desk, ticket_id: str, actor: dict, reason: str = "calling the customer back") -> dict:
    body = {"ticket_id": ticket_id, "actor": actor, "reason": reason}
    return CommandService(desk).execute("reveal_contact", m.RevealContact.model_validate(body))


def kinds(desk, ticket_id: str) -> list[str]:
    return [e["type"] for e in history(desk, ticket_id)["events"]]


def test_the_assigned_agent_sees_the_contact_and_the_history_says_who_and_why(desk) -> None:
    (tid,) = register(desk, request("r-1"))
    command(desk, "assign", tid, SUPERVISOR, assignee="A007")
    reply = reveal(desk, tid, {"id": "A007", "role": "agent"})
    assert reply["contact"] == {
        "name": "张女士",
        "company": "某公司",
        "phone": PHONE,
        "email": EMAIL,
    }
    last = history(desk, tid)["events"][-1]
    assert last["type"] == "ContactRevealed"
    assert last["actor"] == {"id": "A007", "role": "agent"}
    assert last["data"]["reason"] == "calling the customer back"
    assert PHONE not in str(last)  # the record says a look happened, not what was seen
    assert ticket(desk, tid)["customer"]["phone"] != PHONE  # everyone else still sees it masked


@pytest.mark.parametrize("actor", [SUPERVISOR, MANAGER])
def test_supervisors_and_managers_may_reveal_any_ticket_s_contact(desk, actor) -> None:
    (tid,) = register(desk, request("r-1"))
    assert reveal(desk, tid, actor)["contact"]["phone"] == PHONE


@pytest.mark.parametrize(
    "actor",
    [
        {"id": "A008", "role": "agent"},  # not the assignee
        {"id": "U001", "role": "auditor"},
        {"id": "X001", "role": "analytics"},
    ],
)
def test_anyone_else_is_refused_and_nothing_is_recorded(desk, actor) -> None:
    (tid,) = register(desk, request("r-1"))
    command(desk, "assign", tid, SUPERVISOR, assignee="A007")
    before = kinds(desk, tid)
    with pytest.raises(Forbidden):
        reveal(desk, tid, actor)
    assert kinds(desk, tid) == before


def test_after_an_erasure_there_is_nothing_to_reveal(desk) -> None:
    (tid,) = register(desk, request("r-1"))
    forget(desk, ticket_id=tid, reason="customer asked")
    before = kinds(desk, tid)
    with pytest.raises(IllegalState, match="erased"):
        reveal(desk, tid, SUPERVISOR)
    assert kinds(desk, tid) == before


def test_a_reason_is_required() -> None:
    with pytest.raises(ValueError, match="reason"):
        m.RevealContact.model_validate({"number": "CS1", "actor": SUPERVISOR, "reason": ""})
