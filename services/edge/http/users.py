"""Who is asking over HTTP: the users of the `--auth` file, checked against their
password (bcrypt hash, or the password in their `password_env` variable), compared in
constant time. Without `--auth` the service is loopback only and trusts the name and
role it is given (the local mode).

A name that is no user's costs the same bcrypt work as a user's: a dummy hash of the
file's own cost (the highest among its hashes), so the time a refusal takes does not
tell which names exist. A `password_env` user pays that work too.

Failed sign-ins are limited per user name and address (`Attempts`), on the console's
form and the API's HTTP Basic alike: one budget for both.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import os
import re
import secrets
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import get_args

import bcrypt

from domain.actor import Actor
from infra.auth_file import AuthFile, Role, User

ROLES = frozenset(get_args(Role)) - {"system"}  # people and programs; never the service
COST = re.compile(rb"\$2[aby]?\$(\d\d)\$")
DEFAULT_COST = 12  # a file without bcrypt hashes: the usual cost
BCRYPT_BYTES = 72  # bcrypt hashes no more of a password (and refuses a longer one)
ATTEMPTS, WINDOW = 5, 60.0  # failed sign-ins per user name and address per minute


def cost_of(hashed: bytes) -> int:
    """The cost (log2 of the rounds) a bcrypt hash was made with."""
    found = COST.match(hashed)
    if found is None:
        raise ValueError("not a bcrypt hash")
    return int(found[1])


def nobody_for(auth: AuthFile) -> bytes:
    """A hash of the same cost as the file's users' (bcrypt takes costs 4-31)."""
    costs = [cost_of(u.password_bcrypt.encode()) for u in auth.users if u.password_bcrypt]
    cost = min(max(max(costs, default=DEFAULT_COST), 4), 31)
    return bcrypt.hashpw(secrets.token_bytes(16).hex().encode(), bcrypt.gensalt(rounds=cost))


class Users:
    def __init__(self, auth: AuthFile | None, environ: Mapping[str, str] = os.environ) -> None:
        self.local = auth is None
        self._users = {u.name: u for u in auth.users} if auth else {}
        self._environ = environ
        self.nobody = nobody_for(auth) if auth else b""  # made once: the work is the cost
        # Passwords proven once, as keyed digests: HTTP Basic sends them with every API
        # request, and a bcrypt check per request would cost ~0.1 s of CPU each time.
        self._key = secrets.token_bytes(32)
        self._proven: dict[str, bytes] = {}

    def check(self, name: str, secret: str) -> Actor | None:
        """The actor these credentials prove, or None. In the local mode the secret is
        the role the person works as."""
        if self.local:
            return Actor(name, secret) if name and secret in ROLES else None
        user = self._users.get(name)
        if user is not None and name in self._proven:
            ok = hmac.compare_digest(self._proven[name], self._digest(secret))
            return Actor(user.name, user.role) if ok else self._check(user, secret)
        if user is None:
            _matches(secret, self.nobody)
            return None
        return self._check(user, secret)

    def _check(self, user: User, secret: str) -> Actor | None:
        if user.password_bcrypt:
            ok = _matches(secret, user.password_bcrypt.encode())
        else:
            _matches(secret, self.nobody)  # as long as a hashed user takes
            expected = self._environ.get(user.password_env or "", "")
            ok = bool(expected) and hmac.compare_digest(secret.encode(), expected.encode())
        if not ok:
            return None
        self._proven[user.name] = self._digest(secret)
        return Actor(user.name, user.role)

    def _digest(self, secret: str) -> bytes:
        return hmac.new(self._key, secret.encode(), hashlib.sha256).digest()


class Attempts:
    """Failed sign-ins per (user name, address) within the last `WINDOW` seconds: after
    `ATTEMPTS` of them, that name from that address may not try again until the oldest
    is a window old. A sign-in that succeeds costs nothing here."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._failures: dict[tuple[str, str], deque[float]] = {}

    def may_try(self, name: str, address: str) -> bool:
        return len(self._recent((name, address))) < ATTEMPTS

    def failed(self, name: str, address: str) -> None:
        self._recent((name, address)).append(self._clock())

    def retry_after(self, name: str, address: str) -> int:
        """Whole seconds until `may_try` holds again (0: it does now)."""
        recent = self._recent((name, address))
        if len(recent) < ATTEMPTS:
            return 0
        return max(1, math.ceil(recent[-ATTEMPTS] + WINDOW - self._clock()))

    def _recent(self, key: tuple[str, str]) -> deque[float]:
        since = self._clock() - WINDOW
        if len(self._failures) > 10_000:  # a flood of names: forget the quiet ones
            self._failures = {k: v for k, v in self._failures.items() if v and v[-1] >= since}
        recent = self._failures.setdefault(key, deque())
        while recent and recent[0] < since:
            recent.popleft()
        return recent


def _matches(secret: str, hashed: bytes) -> bool:
    """bcrypt's verdict; a password longer than bcrypt takes is no hashed user's (after
    the same work)."""
    raw = secret.encode()
    ok = bcrypt.checkpw(raw[:BCRYPT_BYTES], hashed)
    return ok and len(raw) <= BCRYPT_BYTES
