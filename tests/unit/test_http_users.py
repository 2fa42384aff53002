"""Who may sign in over HTTP: the `--auth` file's users with their password, or, in the
local mode, a name and a role taken at their word."""

from __future__ import annotations

import bcrypt

from domain.actor import Actor
from infra.auth_file import AuthFile
from services.edge.http.users import ATTEMPTS, DEFAULT_COST, WINDOW, Attempts, Users, cost_of

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

    def test_a_password_longer_than_bcrypt_takes_is_refused_not_an_error(self) -> None:
        assert self.users.check("alice", "correct horse" + "x" * 100) is None
        assert self.users.check("mallory", "x" * 100) is None
        long = Users(AUTH, {"FORM_PASSWORD": "p" * 100})  # a variable's may be longer
        assert long.check("form", "p" * 100) == Actor("form", "channel")


def hashed(password: bytes, cost: int) -> str:
    return bcrypt.hashpw(password, bcrypt.gensalt(rounds=cost)).decode()


class TestAnUnknownNameCostsWhatAKnownOneDoes:
    """Not timed: the dummy an unknown name is checked against has the users' cost."""

    def test_the_dummy_has_the_cost_of_the_file_s_hashes(self) -> None:
        auth = AuthFile.model_validate(
            {
                "users": [
                    {"name": "alice", "role": "agent", "password_bcrypt": hashed(b"a", 4)},
                    {"name": "bob", "role": "agent", "password_bcrypt": hashed(b"b", 5)},
                ]
            }
        )
        assert cost_of(Users(auth).nobody) == 5  # the highest: no name checks faster

    def test_without_a_hash_in_the_file_the_dummy_has_the_usual_cost(self) -> None:
        auth = AuthFile.model_validate(
            {"users": [{"name": "form", "role": "channel", "password_env": "FORM_PASSWORD"}]}
        )
        assert cost_of(Users(auth, {}).nobody) == DEFAULT_COST == 12

    def test_unknown_names_users_with_a_variable_and_hashed_users_cost_one_check_each(
        self, monkeypatch
    ) -> None:
        users = Users(AUTH, {"FORM_PASSWORD": "s3cret"})
        costs: list[int] = []
        checkpw = bcrypt.checkpw

        def counted(password: bytes, hashed_password: bytes) -> bool:
            costs.append(cost_of(hashed_password))
            return checkpw(password, hashed_password)

        monkeypatch.setattr(bcrypt, "checkpw", counted)
        for name, password in [("mallory", "x"), ("form", "wrong"), ("alice", "wrong")]:
            costs.clear()
            assert users.check(name, password) is None
            assert costs == [4], name  # AUTH's hash is of cost 4


class TestTheLocalMode:
    users = Users(None)

    def test_the_password_field_names_the_role(self) -> None:
        assert self.users.check("S001", "supervisor") == Actor("S001", "supervisor")

    def test_only_the_contract_s_roles_and_never_the_service_itself(self) -> None:
        assert self.users.check("S001", "boss") is None
        assert self.users.check("S001", "system") is None
        assert self.users.check("", "agent") is None


class TestFailedSignInsAreLimited:
    """Per user name and address: `ATTEMPTS` failures within `WINDOW` seconds."""

    def attempts(self) -> tuple[Attempts, list[float]]:
        now = [1000.0]
        return Attempts(clock=lambda: now[0]), now

    def test_after_five_failures_that_name_from_that_address_waits(self) -> None:
        attempts, _ = self.attempts()
        for _ in range(ATTEMPTS):
            assert attempts.may_try("alice", "10.0.0.1")
            attempts.failed("alice", "10.0.0.1")
        assert not attempts.may_try("alice", "10.0.0.1")
        assert attempts.may_try("alice", "10.0.0.2") and attempts.may_try("bob", "10.0.0.1")

    def test_it_may_retry_once_the_oldest_failure_is_a_window_old(self) -> None:
        attempts, now = self.attempts()
        for _ in range(ATTEMPTS):
            attempts.failed("alice", "10.0.0.1")
            now[0] += 10
        assert attempts.retry_after("alice", "10.0.0.1") == WINDOW - 10 * ATTEMPTS
        now[0] += WINDOW - 10 * ATTEMPTS - 0.5
        assert attempts.retry_after("alice", "10.0.0.1") == 1  # whole seconds, rounded up
        now[0] += 1
        assert attempts.may_try("alice", "10.0.0.1")
        assert attempts.retry_after("alice", "10.0.0.1") == 0
