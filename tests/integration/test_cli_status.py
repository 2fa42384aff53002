"""`ticketflow status` and `up --metrics-port` as an operator uses them, against a real
`ticketflow up` with its embedded nats-server."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from tests.integration.test_cli import TICKETFLOW, up
from tests.prometheus_text import parse

pytestmark = pytest.mark.nats
CHECKS = ("store", "streams", "intake", "relay", "projections", "leader", "sla_watcher", "dlq")


def status(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TICKETFLOW_")}
    return subprocess.run(
        [*TICKETFLOW, "status", *args], capture_output=True, text=True, timeout=60, env=env
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory):
    data_dir: Path = tmp_path_factory.mktemp("status")
    port = free_port()
    process, _ = up(data_dir, "--metrics-port", str(port))
    yield data_dir, port
    process.send_signal(signal.SIGINT)
    assert process.wait(30) == 0


def until_ready(*args: str) -> subprocess.CompletedProcess:
    for _ in range(50):
        result = status(*args)
        if result.returncode != 1:  # 1: starting (the leader may still be taking over)
            return result
        time.sleep(0.2)
    return result


def test_status_exits_0_and_shows_every_check_of_a_ready_service(running) -> None:
    data_dir, _ = running
    result = until_ready("--data-dir", str(data_dir))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ticketflow ready" in result.stdout
    for check in CHECKS:
        assert check in result.stdout
    assert "NO" not in result.stdout


def test_status_json_prints_the_health_reply(running) -> None:
    data_dir, _ = running
    result = until_ready("--data-dir", str(data_dir), "--json")
    reply = json.loads(result.stdout)
    assert result.returncode == 0 and reply["status"] == "ready"
    assert set(reply["checks"]) == set(CHECKS)


def test_up_with_a_metrics_port_serves_prometheus_text(running) -> None:
    _, port = running
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        families = parse(response.read().decode())
    assert "ticketflow_relay_lag_events" in families
    # on two cores `up` keeps intake, commands and queries (and /metrics) in a front
    # process and runs the relay and the read side in a second one
    two_cores = len(os.sched_getaffinity(0)) >= 2
    assert families["ticketflow_build_info"].samples[0][1]["role"] == (
        "front" if two_cores else "all"
    )


def test_status_exits_2_when_nothing_listens() -> None:
    result = status("--nats-url", f"nats://127.0.0.1:{free_port()}", "--timeout", "2")
    assert result.returncode == 2
    assert "cannot connect to NATS" in result.stderr


def test_status_exits_2_when_no_service_runs_on_the_nats_server(nats_server) -> None:
    result = status("--nats-url", nats_server, "--timeout", "2")
    assert result.returncode == 2
    assert "no ticketflow service answers" in result.stderr


def test_status_help_explains_the_exit_codes() -> None:
    result = subprocess.run(
        [*TICKETFLOW, "status", "--help"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    assert "tickets.query.health" in text and "0 ready" in text and "2 no service" in text
