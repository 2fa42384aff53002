"""Console sessions: a signed cookie (HttpOnly, SameSite=Lax) holding who signed in and
the session's CSRF token, and a limit on sign-in attempts.

The signing secret is derived from the store key, which every instance on one store
shares, so a session works on whichever instance a browser reaches.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections import deque
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeTimedSerializer

from domain.actor import Actor

COOKIE = "ticketflow_session"
MAX_AGE = 12 * 3600  # a working day and then some
ATTEMPTS, WINDOW = 5, 60.0  # failed sign-ins per user name and address per minute


@dataclass(frozen=True)
class Session:
    actor: Actor
    csrf: str

    def checks(self, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(self.csrf, token or "")


class Sessions:
    def __init__(self, store_key: str, secure: bool = False) -> None:
        secret = hashlib.sha256(b"ticketflow-console:" + store_key.encode()).hexdigest()
        self._signer = URLSafeTimedSerializer(secret, salt="session")
        self.secure = secure
        self._failures: dict[tuple[str, str], deque[float]] = {}

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
        recent = self._recent((name, address))
        return len(recent) < ATTEMPTS

    def failed(self, name: str, address: str) -> None:
        self._recent((name, address)).append(time.monotonic())

    def _recent(self, key: tuple[str, str]) -> deque[float]:
        if len(self._failures) > 10_000:  # a flood of names: forget the quiet ones
            since = time.monotonic() - WINDOW
            self._failures = {k: v for k, v in self._failures.items() if v and v[-1] >= since}
        recent = self._failures.setdefault(key, deque())
        while recent and recent[0] < time.monotonic() - WINDOW:
            recent.popleft()
        return recent
