"""With `--auth`, the actor of a NATS command or query is the login that sent it.

The embedded server answers commands and queries from an account of the service's own
(`infra.nats_auth.embedded_accounts`); each request crosses into it with the header
`Nats-Request-Info`, which the server writes (a client's own header of that name is
replaced): `{"acc": "TICKETS", "user": "alice", ...}`. The request's `actor` becomes that
user with the role the auth file gives it, whatever the body said, so a command is
recorded as the person who sent it and a query is checked as theirs. A request with no
login the file knows is `forbidden`. Without `--auth` (the local mode) the body's
`actor` is taken as given.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from domain.errors import Forbidden

REQUEST_INFO = "Nats-Request-Info"
Decoder = Callable[[Any, Callable[[Any], Awaitable[Any]]], Awaitable[Any]]


def login_of(headers: Mapping[str, str] | None) -> str | None:
    """The user the server says sent the request (None: no such header)."""
    text = (headers or {}).get(REQUEST_INFO)
    if not text:
        return None
    try:
        user = json.loads(text).get("user")
    except (ValueError, AttributeError):
        return None
    return user if isinstance(user, str) and user else None


def as_login(logins: Mapping[str, str]) -> Decoder:
    """A faststream decoder putting the login (and its role) in the body's `actor`."""

    async def decode(msg: Any, original: Callable[[Any], Awaitable[Any]]) -> Any:
        body = await original(msg)
        if not isinstance(body, dict):
            return body  # not a JSON object: the request's model refuses it
        user = login_of(msg.headers)
        role = logins.get(user) if user else None
        if role is None:
            raise Forbidden(f"no known login sent this request ({user or 'none'})")
        body["actor"] = {"id": user, "role": role}
        return body

    return decode
