"""compose.yaml and deploy/: NATS requires a login, one user per role, and the pieces fit
(no Docker here: the files are read, and the NATS configs checked by `nats-server -t`)."""

from __future__ import annotations

import re
import subprocess

import pytest

from infra.nats_auth import COMPOSE_USERS, compose_authorization, password_variable
from infra.nats_server import NatsServerError, find_binary
from tests.contract.test_compose import COMPOSE, ROOT, SERVICES, mounts

AUTH_CONF = ROOT / "deploy" / "nats-auth.conf"
NATS_NODES = {
    "nats": "nats.conf",
    "nats1": "nats-cluster-1.conf",
    "nats2": "nats-cluster-2.conf",
    "nats3": "nats-cluster-3.conf",
}
INSTANCES = ("ticketflow", "ticketflow-a", "ticketflow-b")
VARIABLES = [password_variable(role) for role in COMPOSE_USERS]


def test_the_users_file_is_the_one_the_code_renders() -> None:
    assert AUTH_CONF.read_text() == compose_authorization(), (
        "deploy/nats-auth.conf is stale: .venv/bin/python -m infra.nats_auth > "
        "deploy/nats-auth.conf"
    )


@pytest.mark.parametrize("node", NATS_NODES)
def test_every_nats_node_includes_the_users_and_gets_their_passwords(node) -> None:
    config = (ROOT / "deploy" / NATS_NODES[node]).read_text()
    assert re.search(r"^include \./nats-auth\.conf$", config, re.MULTILINE)
    assert mounts(node)["/etc/nats/nats-auth.conf"] == "./deploy/nats-auth.conf"
    environment = SERVICES[node]["environment"]
    for name in VARIABLES:
        assert environment[name].startswith(f"${{{name}:?"), "required, from .env"


@pytest.mark.parametrize("instance", INSTANCES)
def test_the_service_logs_in_as_its_own_user_with_the_password_from_env(instance) -> None:
    environment = SERVICES[instance]["environment"]
    assert environment["TICKETFLOW_NATS_USER"] == COMPOSE_USERS["system"]
    assert environment["TICKETFLOW_NATS_PASSWORD"].startswith(f"${{{password_variable('system')}:?")


def test_no_password_is_written_into_compose_or_deploy() -> None:
    texts = [(ROOT / "compose.yaml").read_text(), AUTH_CONF.read_text()]
    assert not any(re.search(r"password:\s*\"", text) for text in texts)
    assert "x-nats-passwords" in COMPOSE


@pytest.mark.parametrize("node", NATS_NODES)
def test_nats_server_accepts_each_config_with_the_passwords_set(node) -> None:
    try:
        binary = find_binary()
    except NatsServerError as missing:
        pytest.skip(str(missing))
    env = {name: f"p{i}x{i}" for i, name in enumerate(VARIABLES)}
    checked = subprocess.run(
        [binary, "-t", "-c", str(ROOT / "deploy" / NATS_NODES[node])],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
    )
    assert checked.returncode == 0, checked.stderr
    missing = subprocess.run(
        [binary, "-t", "-c", str(ROOT / "deploy" / NATS_NODES[node])],
        capture_output=True,
        text=True,
        env={},
        timeout=30,
    )
    assert missing.returncode != 0, "a node must not start without the passwords"
    assert "TICKETFLOW_NATS_SYSTEM_PASSWORD" in missing.stderr
