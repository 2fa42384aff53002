"""The auth file, the subjects of each role, and how a client logs in (no server here:
tests/integration/test_wire_roles.py runs them against a real one)."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from domain.roles import ROLES
from infra.auth_file import SERVICE_USER, AuthFile, AuthFileError, Role, load_auth
from infra.nats_auth import (
    SERVICE_CONSUMERS,
    embedded_accounts,
    embedded_authorization,
    permissions,
    render_user,
)
from infra.nats_credentials import connect_options, from_env, service_credentials
from infra.projector import Feed
from infra.streams import EVENTS
from services.edge.nats.logins import login_of

HASH = "$2a$11$" + "a" * 53
ENV = {"WEB_PW": 'web secret "quoted"', "SVC_PW": "svc-pw"}


def auth_file(tmp_path: Path, text: str, environ: dict[str, str] = ENV) -> AuthFile:
    path = tmp_path / "auth.toml"
    path.write_text(text)
    return load_auth(path, environ)


def user(name: str, role: str, password: str = 'password_env = "WEB_PW"', **more: str) -> str:
    extra = "".join(f"{k} = {v}\n" for k, v in more.items())
    return f'[[users]]\nname = "{name}"\nrole = "{role}"\n{password}\n{extra}'


class TestTheAuthFile:
    def test_users_have_a_role_and_a_password_from_the_environment_or_bcrypt(self, tmp_path):
        auth = auth_file(
            tmp_path, user("web", "channel") + user("alice", "agent", f'password_bcrypt = "{HASH}"')
        )
        assert [(u.name, u.role) for u in auth.users] == [("web", "channel"), ("alice", "agent")]

    @pytest.mark.parametrize(
        ("text", "named"),
        [
            (user("web", "adapter"), "users.0.role"),
            (user("web", "channel", 'password = "plain"'), "users.0.password"),
            (user("web", "channel", ""), "users.0: Value error, give exactly one of"),
            (user("web", "channel", 'password_bcrypt = "md5:x"'), "users.0.password_bcrypt"),
            (user("we.b", "channel"), "users.0.name"),
            (user(SERVICE_USER, "system"), "users.0.name"),
            (user("web", "agent", commands='["rate"]'), "for role channel only"),
            (user("web", "channel", commands='["close"]'), "users.0.commands.0"),
            (user("web", "channel") + user("web", "agent"), "users: Value error, user names"),
            ("[[user]]\nname = 'x'\n", "user: Extra inputs"),
        ],
    )
    def test_a_bad_file_is_refused_naming_the_key(self, tmp_path, text, named):
        with pytest.raises(AuthFileError, match=r"auth\.toml: ") as refused:
            auth_file(tmp_path, text)
        assert named in str(refused.value)

    def test_a_password_variable_that_is_not_set_is_named(self, tmp_path):
        with pytest.raises(AuthFileError, match=r"users.0.password_env: .*WEB_PW is not set"):
            auth_file(tmp_path, user("web", "channel"), environ={})

    def test_a_file_that_is_not_toml_is_refused(self, tmp_path):
        with pytest.raises(AuthFileError, match="not valid TOML"):
            auth_file(tmp_path, "users = [")

    def test_the_roles_are_the_contracts(self):
        assert set(Role.__args__) == set(ROLES)  # type: ignore[attr-defined]


class TestTheSubjectsOfEachRole:
    def test_a_channel_adapter_publishes_intake_and_self_service_and_hears_its_own_inbox(self):
        perms = permissions("channel", "web")
        assert perms and perms.publish == (
            "tickets.intake.>",
            "tickets.query.suggest_articles",
            "tickets.cmd.self_served",
        )
        assert perms.subscribe == ("_INBOX.web.>",)

    def test_a_channel_adapter_may_be_granted_rating_and_reopening(self):
        perms = permissions("channel", "web", ["rate", "reopen"])
        assert perms and perms.publish == (
            "tickets.intake.>",
            "tickets.query.suggest_articles",
            "tickets.cmd.self_served",
            "tickets.cmd.rate",
            "tickets.cmd.reopen",
        )

    @pytest.mark.parametrize("role", ["agent", "supervisor", "manager"])
    def test_people_who_work_tickets_send_commands_and_queries(self, role):
        perms = permissions(role, "p")
        assert perms and {"tickets.cmd.>", "tickets.query.>"} <= set(perms.publish)

    @pytest.mark.parametrize(
        ("role", "may"),
        [
            ("manager", True),
            ("auditor", True),
            ("supervisor", False),
            ("agent", False),
            ("analytics", False),
            ("channel", False),
        ],
    )
    def test_managers_and_auditors_may_rebuild_a_projection(self, role, may):
        perms = permissions(role, "p")
        assert perms and ("tickets.admin.rebuild" in perms.publish) is may

    def test_analytics_reads_the_event_stream_and_asks_statistics_only(self):
        perms = permissions("analytics", "bi")
        assert perms and "tickets.query.stats" in perms.publish
        assert "$JS.API.CONSUMER.MSG.NEXT.TICKETS_EVENTS.*" in perms.publish
        assert not [s for s in perms.publish if s.startswith(("tickets.cmd", "tickets.intake"))]
        assert not [s for s in perms.publish if "TICKETS_INTAKE" in s]

    def test_an_auditor_reads_everything_and_changes_nothing(self):
        perms = permissions("auditor", "audit")
        assert perms and "tickets.query.>" in perms.publish
        assert "$JS.API.CONSUMER.MSG.NEXT.TICKETS_DLQ.*" in perms.publish
        assert not [s for s in perms.publish if s.startswith(("tickets.cmd", "tickets.intake"))]

    @pytest.mark.parametrize("role", ["analytics", "auditor"])
    def test_readers_keep_off_the_read_sides_own_consumer(self, role):
        perms = permissions(role, "r")
        assert perms and "$JS.API.CONSUMER.*.*.TICKETS_EVENTS.ticketflow-read-side" in (
            perms.deny_publish
        )
        assert SERVICE_CONSUMERS[EVENTS] == (inspect.signature(Feed).parameters["durable"].default,)

    def test_the_service_itself_has_no_limits(self):
        assert permissions("system", "svc") is None


class TestTheServerConfig:
    def test_a_password_is_a_quoted_string_and_the_permissions_follow(self):
        entry = render_user("web", '"p\\"w"', permissions("channel", "web"))
        assert entry.startswith('{user: "web", password: "p\\"w", permissions: {')
        assert 'publish: {allow: ["tickets.intake.>", "tickets.query.suggest_articles", ' in entry
        assert 'subscribe: {allow: ["_INBOX.web.>"]}' in entry

    def test_the_embedded_server_gets_the_files_users_and_the_services_own(self, tmp_path):
        auth = auth_file(tmp_path, user("web", "channel"))
        config = embedded_authorization(auth, ENV, ("ticketflow-service", "generated"))
        assert '{user: "web", password: "web secret \\"quoted\\"", permissions' in config
        assert '{user: "ticketflow-service", password: "generated"}' in config


class TestHowTheServiceLogsIn:
    def test_as_the_files_system_user_when_it_names_one(self, tmp_path):
        auth = auth_file(tmp_path, user("svc", "system", 'password_env = "SVC_PW"'))
        assert service_credentials(auth, ENV)[0].user == "svc"
        assert service_credentials(auth, ENV)[1] is False

    def test_else_as_a_user_made_up_at_each_start(self, tmp_path):
        auth = auth_file(tmp_path, user("web", "channel"))
        first, second = service_credentials(auth, ENV), service_credentials(auth, ENV)
        assert first[0].user == SERVICE_USER and first[1] is True
        assert first[0].password != second[0].password and len(first[0].password) >= 32


class TestHowAClientLogsIn:
    def test_from_the_environment_with_its_own_inbox(self):
        env = {"TICKETFLOW_NATS_USER": "bi", "TICKETFLOW_NATS_PASSWORD": "pw"}
        assert connect_options("nats://127.0.0.1:4222", env) == {
            "user": "bi",
            "password": "pw",
            "inbox_prefix": "_INBOX.bi",
        }

    def test_from_the_url_with_its_own_inbox(self):
        assert connect_options("nats://bi:pw@127.0.0.1:4222", {}) == {"inbox_prefix": "_INBOX.bi"}

    def test_anonymously_when_nothing_is_given(self):
        assert connect_options("nats://127.0.0.1:4222", {}) == {}
        assert from_env({}) is None

    def test_credentials_reach_a_child_process_by_environment(self, tmp_path):
        auth = auth_file(tmp_path, user("svc", "system", 'password_env = "SVC_PW"'))
        assert service_credentials(auth, ENV)[0].env() == {
            "TICKETFLOW_NATS_USER": "svc",
            "TICKETFLOW_NATS_PASSWORD": "svc-pw",
        }


class TestTheLoginIsTheActor:
    """With --auth the responders live in an account of their own, and the requests they
    answer carry the sender's login in a header the server writes."""

    def test_the_people_s_account_imports_the_commands_and_queries_sharing_who_asks(self):
        auth = AuthFile.model_validate({"users": [{"name": "alice", "role": "agent",
                                                   "password_env": "A"}]})  # fmt: skip
        config = embedded_accounts(auth, {"A": "pw"}, ("svc", "s"), ("resp", "r"))
        assert "TICKETS: {\n    jetstream: enabled" in config
        for subject in ("tickets.cmd.>", "tickets.query.>"):
            shared = f'{{service: {{account: RESPONDERS, subject: "{subject}"}}, share: true}}'
            assert shared in config
            assert f'{{service: "{subject}"}}' in config
        assert config.index('"alice"') < config.index("RESPONDERS: {")  # alice is a person
        assert config.index('"resp"') > config.index("RESPONDERS: {")

    def test_the_login_is_read_from_the_server_s_header_only(self):
        info = '{"acc": "TICKETS", "user": "alice", "kind": "Client"}'
        assert login_of({"Nats-Request-Info": info}) == "alice"
        assert login_of({}) is None and login_of(None) is None
        assert login_of({"Nats-Request-Info": "not json"}) is None
