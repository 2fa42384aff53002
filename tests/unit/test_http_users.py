"""Who may sign in over HTTP: the `--auth` file's users with their password, or, in the
local mode, a name and a role taken at their word."""

from __future__ import annotations

import bcrypt

from domain.actor import Actor
from infra.auth_file import AuthFile
from services.edge.http.users import Users

HASH = bcrypt.hashpw(b"correct horse", bcrypt.gensalt(rounds=4)).decode()
AUTH = AuthFile.model_validate(
    {
        "users": [
            {"name": "alice", "role": "supervisor", "password_bcrypt": HASH},
            {"name": "form", "role": "channel", "password_env": "FORM_PASSWORD"},
        ]
    }
)


class TestWithAnAuthFile:
    users = Users(AUTH, {"FORM_PASSWORD": "s3cret"})

    def test_a_user_signs_in_with_the_password_of_their_hash(self) -> None:
        assert self.users.check("alice", "correct horse") == Actor("alice", "supervisor")

    def test_a_user_signs_in_with_the_password_in_their_variable(self) -> None:
        assert self.users.check("form", "s3cret") == Actor("form", "channel")

    def test_a_wrong_password_or_an_unknown_name_is_refused(self) -> None:
        assert self.users.check("alice", "Correct horse") is None
        assert self.users.check("form", "") is None
        assert self.users.check("mallory", "correct horse") is None

    def test_a_proven_password_is_still_checked_on_every_request(self) -> None:
        users = Users(AUTH, {"FORM_PASSWORD": "s3cret"})
        assert users.check("alice", "correct horse") == Actor("alice", "supervisor")
        assert users.check("alice", "correct horse") == Actor("alice", "supervisor")
        assert users.check("alice", "wrong") is None
        assert users.check("form", "s3cret") == Actor("form", "channel")
        assert users.check("form", "S3CRET") is None

    def test_a_role_is_not_something_one_can_claim(self) -> None:
        assert self.users.check("alice", "manager") is None


class TestTheLocalMode:
    users = Users(None)

    def test_the_password_field_names_the_role(self) -> None:
        assert self.users.check("S001", "supervisor") == Actor("S001", "supervisor")

    def test_only_the_contract_s_roles_and_never_the_service_itself(self) -> None:
        assert self.users.check("S001", "boss") is None
        assert self.users.check("S001", "system") is None
        assert self.users.check("", "agent") is None
