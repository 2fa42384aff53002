"""Console sessions: a signed cookie (HttpOnly, SameSite=Lax) holding who signed in and
the session's CSRF token, and the limit on sign-in attempts (shared with the API).

The signing secret is derived from the store key, which every instance on one store
shares, so a session works on whichever instance a browser reaches.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeTimedSerializer

from domain.actor import Actor
from services.edge.http.users import Attempts

COOKIE = "ticketflow_session"
MAX_AGE = 12 * 3600  # a working day and then some


@dataclass(frozen=True)
class Session:
    actor: Actor
    csrf: str

    def checks(self, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(self.csrf, token or "")


class Sessions:
    """Signed session cookies (marked `Secure` by the server when the request came over
    https) and the sign-in attempts they share with the API."""

    def __init__(self, store_key: str, attempts: Attempts | None = None) -> None:
        secret = hashlib.sha256(b"ticketflow-console:" + store_key.encode()).hexdigest()
        self._signer = URLSafeTimedSerializer(secret, salt="session")
        self.attempts = attempts or Attempts()

    def open(self, actor: Actor) -> tuple[Session, str]:
        """A new session and its cookie value."""
        session = Session(actor, secrets.token_urlsafe(24))
        value = self._signer.dumps([actor.id, actor.role, session.csrf])
        return session, value

    def read(self, value: str | None) -> Session | None:
        if not value:
            return None
        try:
            name, role, csrf = self._signer.loads(value, max_age=MAX_AGE)
        except (BadSignature, ValueError, TypeError):
            return None
        return Session(Actor(name, role), csrf)

    def may_try(self, name: str, address: str) -> bool:
        return self.attempts.may_try(name, address)

    def failed(self, name: str, address: str) -> None:
        self.attempts.failed(name, address)
