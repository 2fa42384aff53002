"""The auth file (`--auth`, TOML): who may connect to the embedded nats-server, and as what.

    [[users]]
    name = "web-form"                        # the NATS user name
    role = "channel"                         # one of the contract's roles
    password_env = "WEB_FORM_NATS_PASSWORD"  # the password, read from this variable

    [[users]]
    name = "alice"
    role = "agent"
    password_bcrypt = "$2a$11$..."          # or a bcrypt hash (`nats server passwd`)

Passwords never sit in the file in plain text. A bad file is refused with the key
that is wrong (`users.1.role: ...`), and the service does not start.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

Role = Literal[  # domain.roles.ROLES
    "agent", "supervisor", "manager", "auditor", "analytics", "channel", "system"
]
SERVICE_USER = "ticketflow-service"  # the service's own identity when the file names none
NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")  # it becomes a subject token: `_INBOX.<name>.>`
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
BCRYPT = re.compile(r"\$2[aby]?\$\d\d\$[./A-Za-z0-9]{53}")


class AuthFileError(ValueError):
    pass


class User(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    role: Role
    password_env: str | None = None
    password_bcrypt: str | None = None
    # A channel adapter that rates, reopens or confirms on the customer's behalf;
    # without this it reaches intake only.
    commands: list[Literal["rate", "reopen", "confirm"]] = []

    @field_validator("name")
    @classmethod
    def _a_subject_token(cls, name: str) -> str:
        if not NAME.fullmatch(name):
            raise ValueError(f"{name!r}: 1-64 letters, digits, '-' or '_'")
        if name == SERVICE_USER:
            raise ValueError(f"{name!r} is reserved for the service itself")
        return name

    @field_validator("password_env")
    @classmethod
    def _a_variable_name(cls, name: str | None) -> str | None:
        if name is not None and not ENV_NAME.fullmatch(name):
            raise ValueError(f"{name!r} is not an environment variable name")
        return name

    @field_validator("password_bcrypt")
    @classmethod
    def _a_bcrypt_hash(cls, text: str | None) -> str | None:
        if text is not None and not BCRYPT.fullmatch(text):
            raise ValueError("not a bcrypt hash ($2a$<cost>$ and 53 characters)")
        return text

    @model_validator(mode="after")
    def _one_password(self) -> User:
        if (self.password_env is None) == (self.password_bcrypt is None):
            raise ValueError("give exactly one of password_env and password_bcrypt")
        if self.commands and self.role != "channel":
            raise ValueError(
                "`commands` is for role channel only; other roles get theirs from the role"
            )
        return self


class AuthFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    users: list[User]

    @field_validator("users")
    @classmethod
    def _names_unique(cls, users: list[User]) -> list[User]:
        if not users:
            raise ValueError("list at least one user")
        names = [u.name for u in users]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"user names must be unique: {twice}")
        return users


def load_auth(path: Path | str, environ: Mapping[str, str] = os.environ) -> AuthFile:
    """The validated file; every `password_env` must be set in `environ`."""
    source = str(path)
    try:
        data = tomllib.loads(Path(path).read_text("utf-8"))
    except OSError as error:
        raise AuthFileError(f"{source}: cannot read: {error.strerror}") from None
    except tomllib.TOMLDecodeError as error:
        raise AuthFileError(f"{source}: not valid TOML: {error}") from None
    try:
        auth = AuthFile.model_validate(data)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()
        )
        raise AuthFileError(f"{source}: {problems}") from None
    for i, user in enumerate(auth.users):
        if user.password_env and not environ.get(user.password_env):
            raise AuthFileError(
                f"{source}: users.{i}.password_env: the environment variable "
                f"{user.password_env} is not set (or empty)"
            )
    return auth
