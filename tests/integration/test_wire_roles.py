"""Roles on the wire: with `--auth` the embedded nats-server holds each role to its
subjects (docs/contract.md roles). Real nats-server, real service."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.aio.client import Client
from nats.js.api import DeliverPolicy

from infra.auth_file import load_auth
from services.bootstrap import build_service
from services.runtime.service import Service
from services.runtime.settings import Settings
from tests.integration.helpers import ask, publish_request, read_stream

pytestmark = pytest.mark.nats
TICKETFLOW = [sys.executable, "-m", "services.cli"]
PASSWORDS = {"TF_TEST_WEB": "web-pw-1", "TF_TEST_BI": "bi-pw-2", "TF_TEST_AUDIT": "audit-pw-3"}
# bcrypt of "s3cret-agent" (cost 4: a test needs no slow hash)
ALICE_HASH = "$2b$04$mT9N3qp5PCl0uClkjSXFf.2jSrpYMM1Pv2UyFHdxo2JpYntjezsa."
AUTH_FILE = f"""
[[users]]
name = "web"
role = "channel"
password_env = "TF_TEST_WEB"

[[users]]
name = "bi"
role = "analytics"
password_env = "TF_TEST_BI"

[[users]]
name = "audit"
role = "auditor"
password_env = "TF_TEST_AUDIT"

[[users]]
name = "alice"
role = "agent"
password_bcrypt = "{ALICE_HASH}"
"""
LOGINS = {"web": "web-pw-1", "bi": "bi-pw-2", "audit": "audit-pw-3", "alice": "s3cret-agent"}


@pytest.fixture(scope="module")
def auth_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("auth") / "auth.toml"
    path.write_text(AUTH_FILE)
    return path


@pytest.fixture(scope="module")
async def service(
    auth_path: Path, tmp_path_factory: pytest.TempPathFactory, policy
) -> AsyncIterator[Service]:
    with pytest.MonkeyPatch.context() as env:
        for name, value in PASSWORDS.items():
            env.setenv(name, value)
        settings = Settings(
            data_dir=tmp_path_factory.mktemp("svc"), policy=policy, auth=load_auth(auth_path)
        )
        svc = build_service(settings)
        await svc.start()
    yield svc
    await svc.stop()


class Login:
    """A connection as one user, with the server's complaints to it collected."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    async def __call__(self, url: str, user: str, password: str | None = None) -> Client:
        async def collect(error: Exception) -> None:
            self.errors.append(str(error))

        return await nats.connect(
            url,
            user=user,
            password=password or LOGINS[user],
            inbox_prefix=f"_INBOX.{user}",
            error_cb=collect,
            allow_reconnect=False,
            max_reconnect_attempts=0,
        )

    def refused(self, what: str) -> bool:
        """The server reported a permissions violation about `what` (e.g. `publish to "x"`)."""
        return any(f"permissions violation for {what}".lower() in e.lower() for e in self.errors)

    async def refused_within(self, what: str, seconds: float = 5.0) -> bool:
        """`refused`, waiting for the server's complaint (it comes asynchronously)."""
        async with asyncio.timeout(seconds):
            while not self.refused(what):
                await asyncio.sleep(0.02)
        return True


@pytest.fixture
async def login() -> AsyncIterator[Login]:
    yield Login()


async def denied_request(nc: Client, subject: str, body: dict) -> None:
    with pytest.raises(nats.errors.TimeoutError):
        await nc.request(subject, json.dumps(body).encode(), timeout=1.0)


async def new_ticket(service: Service, login: Login, external_id: str) -> dict[str, Any]:
    """A request through the channel user, read back from the stream by the auditor."""
    web = await login(service.url, "web")
    await publish_request(
        web.jetstream(),
        "web",
        {"external_id": external_id, "content": "收到的商品与描述不符,要求退款!"},
    )
    await web.close()
    audit = await login(service.url, "audit")
    sub = await audit.jetstream().subscribe(
        "tickets.events.*.*", ordered_consumer=True, deliver_policy=DeliverPolicy.ALL
    )
    try:
        while True:
            event = json.loads((await sub.next_msg(timeout=10)).data)
            if event["data"].get("external_id") == external_id:
                return event
    finally:
        await audit.close()


class TestAChannelAdapter:
    async def test_submits_intake_that_becomes_a_ticket(self, service, login) -> None:
        received = await new_ticket(service, login, "web-1")
        assert received["type"].startswith("ticketflow.ticket.received.")
        assert received["data"]["channel"] == "web"

    async def test_cannot_send_a_command_or_a_query(self, service, login) -> None:
        received = await new_ticket(service, login, "web-2")
        web = await login(service.url, "web")
        await denied_request(
            web,
            "tickets.cmd.close",
            {
                "ticket_id": received["subject"],
                "actor": {"id": "S001", "role": "supervisor"},
                "resolution": "closed by an adapter",
            },
        )
        await denied_request(web, "tickets.query.ticket", {"ticket_id": received["subject"]})
        await web.close()
        assert login.refused('publish to "tickets.cmd.close"')
        assert login.refused('publish to "tickets.query.ticket"')
        alice = await login(service.url, "alice")
        ticket = await ask(alice, "tickets.query.ticket", {"ticket_id": received["subject"]})
        await alice.close()
        assert ticket["ticket"]["status"] != "closed"

    async def test_cannot_read_the_event_stream(self, service, login) -> None:
        web = await login(service.url, "web")
        js = web.jetstream(timeout=1.0)
        with pytest.raises(nats.errors.TimeoutError):
            await js.pull_subscribe("tickets.events.>", durable="peek", stream="TICKETS_EVENTS")
        assert login.refused('publish to "$JS.API.CONSUMER.INFO.TICKETS_EVENTS.peek"')
        sub = await web.subscribe("tickets.events.>")
        await web.flush()
        await new_ticket(service, login, "web-3")
        with pytest.raises(nats.errors.TimeoutError):
            await sub.next_msg(timeout=1.0)
        await web.close()
        assert login.refused('subscription to "tickets.events.>"')

    async def test_cannot_listen_to_other_users_replies(self, service, login) -> None:
        web = await login(service.url, "web")
        await web.subscribe("_INBOX.>")
        await web.flush()
        assert await login.refused_within('subscription to "_INBOX.>"')
        await web.close()


class TestAnalytics:
    async def test_reads_the_stream_and_asks_for_statistics(self, service, login) -> None:
        await new_ticket(service, login, "web-4")
        bi = await login(service.url, "bi")
        events = await read_stream(bi.jetstream(), "tickets.events.>", 2)
        stats = await ask(bi, "tickets.query.stats", {})
        assert len(events) == 2
        assert stats["ok"] and stats["stats"]["tickets"] >= 1
        await denied_request(bi, "tickets.query.ticket", {"number": "CS202611240001"})
        await bi.close()
        assert login.refused('publish to "tickets.query.ticket"')

    async def test_cannot_send_a_command(self, service, login) -> None:
        bi = await login(service.url, "bi")
        await denied_request(
            bi,
            "tickets.cmd.escalate",
            {
                "number": "CS202611240001",
                "actor": {"id": "X", "role": "supervisor"},
                "level": "manager",
                "reason": "x",
            },
        )
        await bi.close()
        assert login.refused('publish to "tickets.cmd.escalate"')

    async def test_cannot_take_the_read_sides_messages(self, service, login) -> None:
        bi = await login(service.url, "bi")
        with pytest.raises(nats.errors.TimeoutError):
            await bi.jetstream(timeout=1.0).pull_subscribe(
                "tickets.events.>", durable="ticketflow-read-side", stream="TICKETS_EVENTS"
            )
        await bi.close()
        assert login.refused(
            'publish to "$JS.API.CONSUMER.INFO.TICKETS_EVENTS.ticketflow-read-side"'
        )


class TestAnAuditor:
    async def test_queries_any_ticket_but_cannot_command(self, service, login) -> None:
        received = await new_ticket(service, login, "web-5")
        audit = await login(service.url, "audit")
        history = await ask(audit, "tickets.query.history", {"ticket_id": received["subject"]})
        assert history["ok"] and history["verified"], history.get("tail")
        await denied_request(
            audit,
            "tickets.cmd.reopen",
            {
                "ticket_id": received["subject"],
                "actor": {"id": "Q1", "role": "manager"},
                "reason": "x",
            },
        )
        await audit.close()
        assert login.refused('publish to "tickets.cmd.reopen"')


async def test_an_agent_with_a_bcrypt_password_works_a_ticket(service, login) -> None:
    received = await new_ticket(service, login, "web-6")
    alice = await login(service.url, "alice")
    reply = await ask(
        alice,
        "tickets.cmd.assign",
        {
            "ticket_id": received["subject"],
            "actor": {"id": "alice", "role": "agent"},
            "assignee": "alice",
        },
    )
    await alice.close()
    assert reply["ok"], reply


async def test_the_actor_recorded_is_the_login_whatever_the_body_says(service, login) -> None:
    """alice (an agent) claims to be a manager called boss: the ticket records alice, and
    the command is judged as an agent's."""
    received = await new_ticket(service, login, "web-7")
    alice = await login(service.url, "alice")
    claim = {"ticket_id": received["subject"], "actor": {"id": "boss", "role": "manager"}}
    escalated = await ask(
        alice, "tickets.cmd.escalate", claim | {"level": "manager", "reason": "客户要求"}
    )
    assigned = await ask(alice, "tickets.cmd.assign", claim | {"assignee": "boss"})
    history = await ask(alice, "tickets.query.history", {"ticket_id": received["subject"]})
    await alice.close()
    assert escalated["ok"], escalated
    [escalation] = [e for e in history["events"] if e["data"].get("reason") == "客户要求"]
    assert escalation["actor"] == {"id": "alice", "role": "agent"}
    # an agent assigns only to themself: "boss" is refused as alice's, not a manager's
    assert assigned["error"]["code"] == "forbidden", assigned


async def test_a_wrong_password_or_none_is_refused(service, login) -> None:
    with pytest.raises(nats.errors.Error, match=r"(?i)authorization"):
        await login(service.url, "alice", "not-her-password")
    with pytest.raises(nats.errors.Error, match=r"(?i)authorization"):
        await nats.connect(service.url, allow_reconnect=False, max_reconnect_attempts=0)


def test_the_servers_config_with_passwords_is_not_left_on_disk(service) -> None:
    assert service.link.embedded and not (service.link.embedded.store_dir / "nats.conf").exists()


# ---- `ticketflow up --auth` as a user runs it ------------------------------------------


def cli_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TICKETFLOW_")}
    return {**env, **PASSWORDS, **extra}


@pytest.mark.slow
@pytest.mark.parametrize("processes", ["1", "2"])
async def test_up_with_auth_serves_every_role_end_to_end(tmp_path, auth_path, processes) -> None:
    up = subprocess.Popen(
        [
            *TICKETFLOW,
            "up",
            "--data-dir",
            str(tmp_path / "data"),
            "--auth",
            str(auth_path),
            "--processes",
            processes,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(),
    )
    try:
        assert up.stdout is not None
        line = up.stdout.readline().strip()
        assert line.startswith("nats: nats://127.0.0.1:"), (line, up.stderr)
        url = line.removeprefix("nats: ")
        login = Login()
        web = await login(url, "web")
        await publish_request(web.jetstream(), "app", {"external_id": "a-1", "content": "闪退"})
        bi = await login(url, "bi")
        assert len(await read_stream(bi.jetstream(), "tickets.events.>", 2)) == 2
        await web.close()
        await bi.close()
        stats = subprocess.run(
            [*TICKETFLOW, "stats", "--json", "--nats-url", url],
            capture_output=True,
            text=True,
            timeout=30,
            env=cli_env(TICKETFLOW_NATS_USER="bi", TICKETFLOW_NATS_PASSWORD=LOGINS["bi"]),
        )
        assert stats.returncode == 0, stats.stderr
        assert json.loads(stats.stdout)["stats"]["tickets"] == 1
    finally:
        up.terminate()
        code = up.wait(60)
    assert code == 0


def test_up_refuses_a_bad_auth_file_naming_the_key(tmp_path) -> None:
    bad = tmp_path / "auth.toml"
    bad.write_text('[[users]]\nname = "web"\nrole = "adapter"\npassword_env = "TF_TEST_WEB"\n')
    result = subprocess.run(
        [*TICKETFLOW, "up", "--data-dir", str(tmp_path / "data"), "--auth", str(bad)],
        capture_output=True,
        text=True,
        timeout=30,
        env=cli_env(),
    )
    assert result.returncode == 2
    assert "users.0.role" in result.stderr and "auth.toml" in result.stderr


def test_up_refuses_auth_for_a_server_it_does_not_run(tmp_path, auth_path) -> None:
    result = subprocess.run(
        [
            *TICKETFLOW,
            "up",
            "--data-dir",
            str(tmp_path / "data"),
            "--auth",
            str(auth_path),
            "--nats-url",
            "nats://127.0.0.1:1",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        env=cli_env(),
    )
    assert result.returncode == 2
    assert "--auth sets the users of the embedded nats-server" in result.stderr
