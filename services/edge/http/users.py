"""Who is asking over HTTP: the users of the `--auth` file, checked against their
password (bcrypt hash, or the password in their `password_env` variable), compared in
constant time. Without `--auth` the service is loopback only and trusts the name and
role it is given (the local mode).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import Mapping
from typing import get_args

import bcrypt

from domain.actor import Actor
from infra.auth_file import AuthFile, Role, User

ROLES = frozenset(get_args(Role)) - {"system"}  # people and programs; never the service
_NOBODY = bcrypt.hashpw(b"nobody", bcrypt.gensalt(rounds=4))  # same work for unknown names


class Users:
    def __init__(self, auth: AuthFile | None, environ: Mapping[str, str] = os.environ) -> None:
        self.local = auth is None
        self._users = {u.name: u for u in auth.users} if auth else {}
        self._environ = environ
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
            bcrypt.checkpw(secret.encode(), _NOBODY)
            return None
        return self._check(user, secret)

    def _check(self, user: User, secret: str) -> Actor | None:
        if user.password_bcrypt:
            ok = bcrypt.checkpw(secret.encode(), user.password_bcrypt.encode())
        else:
            expected = self._environ.get(user.password_env or "", "")
            ok = bool(expected) and hmac.compare_digest(secret.encode(), expected.encode())
        if not ok:
            return None
        self._proven[user.name] = self._digest(secret)
        return Actor(user.name, user.role)

    def _digest(self, secret: str) -> bytes:
        return hmac.new(self._key, secret.encode(), hashlib.sha256).digest()
