"""Who a client is on NATS: `TICKETFLOW_NATS_USER` and `TICKETFLOW_NATS_PASSWORD` from the
environment, or the user and password of a `nats://user:password@host` URL.

Never from code, and never shown: URLs are printed without credentials
(`infra.urls.without_credentials`). A user receives its replies on `_INBOX.<user>.>`,
the one inbox its permissions allow (`infra.nats_auth`).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from infra.auth_file import SERVICE_USER, AuthFile
from infra.nats_auth import inbox_prefix

USER_ENV, PASSWORD_ENV = "TICKETFLOW_NATS_USER", "TICKETFLOW_NATS_PASSWORD"


@dataclass(frozen=True)
class NatsCredentials:
    user: str
    password: str

    def connect_options(self) -> dict[str, Any]:
        """Keyword arguments for `nats.connect`."""
        return {
            "user": self.user,
            "password": self.password,
            "inbox_prefix": inbox_prefix(self.user),
        }

    def env(self) -> dict[str, str]:
        """The variables that hand these credentials to a child process."""
        return {USER_ENV: self.user, PASSWORD_ENV: self.password}


def from_env(environ: Mapping[str, str] = os.environ) -> NatsCredentials | None:
    user, password = environ.get(USER_ENV), environ.get(PASSWORD_ENV)
    return NatsCredentials(user, password or "") if user else None


def connect_options(url: str, environ: Mapping[str, str] = os.environ) -> dict[str, Any]:
    """The environment's credentials; else, for credentials in `url`, the user's inbox."""
    credentials = from_env(environ)
    if credentials:
        return credentials.connect_options()
    user = urlsplit(url.split(",")[0].strip()).username
    return {"inbox_prefix": inbox_prefix(unquote(user))} if user else {}


def service_credentials(
    auth: AuthFile, environ: Mapping[str, str] = os.environ
) -> tuple[NatsCredentials, bool]:
    """The service's identity on its embedded server: the file's first `system` user with
    a `password_env`, else one made up now (True: add it to the server's users)."""
    for user in auth.users:
        if user.role == "system" and user.password_env:
            return NatsCredentials(user.name, environ[user.password_env]), False
    return NatsCredentials(SERVICE_USER, secrets.token_urlsafe(32)), True


RESPONDER_USER = "ticketflow-responders"


def responder_credentials() -> NatsCredentials:
    """The service's responders on its embedded server with `--auth`: a user of their
    own account (`infra.nats_auth.embedded_accounts`), made up at each start."""
    return NatsCredentials(RESPONDER_USER, secrets.token_urlsafe(32))
