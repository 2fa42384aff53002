"""Who may ask which query is one rule, seen alike by the application (a query that
names its actor) and by the wire (the subjects `--auth` grants each role)."""

from __future__ import annotations

import pytest

from domain.roles import MAY_ASK, ROLES
from infra.nats_auth import permissions


def granted_on_the_wire(role: str, query: str) -> bool:
    subject = f"tickets.query.{query}"
    allowed = permissions(role, "someone")
    return allowed is None or any(
        pattern == subject or (pattern.endswith(">") and subject.startswith(pattern[:-1]))
        for pattern in allowed.publish
    )


@pytest.mark.parametrize("role", sorted(set(ROLES) - {"system"}))
@pytest.mark.parametrize("query", sorted(MAY_ASK))
def test_the_application_and_the_wire_agree_on_who_may_ask(role: str, query: str) -> None:
    assert (role in MAY_ASK[query]) == granted_on_the_wire(role, query)
