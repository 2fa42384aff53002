"""`ticketflow up` as a user runs it: embedded nats-server, the `nats:` line, clean stops."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

import nats
import pytest

from tests.integration.helpers import publish_request, read_stream

pytestmark = pytest.mark.nats
TICKETFLOW = [sys.executable, "-m", "services.cli"]


def up(data_dir: Path, *extra: str) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen(
        [*TICKETFLOW, "up", "--data-dir", str(data_dir), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    assert line.startswith("nats: nats://127.0.0.1:"), (line, process.stderr.read())
    return process, line.removeprefix("nats: ")


def port_open(url: str) -> bool:
    parsed = urlparse(url)
    with socket.socket() as s:
        return s.connect_ex((parsed.hostname, parsed.port)) == 0


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
async def test_up_serves_intake_on_the_printed_url_and_stops_cleanly(tmp_path, stop_signal):
    process, url = up(tmp_path)
    try:
        nc = await nats.connect(url)
        js = nc.jetstream()
        await publish_request(js, "chat", {"external_id": "c-1", "content": "页面白屏,报错500"})
        events = [json.loads(m.data) for m in await read_stream(js, "tickets.events.>", 2)]
        await nc.close()
        assert [e["type"] for e in events] == [
            "ticketflow.ticket.received.v2",
            "ticketflow.ticket.classified.v2",
        ]
        assert events[1]["data"]["type"] == "technical"
    finally:
        process.send_signal(stop_signal)
        code = process.wait(30)
    assert code == 0, process.stderr.read() if process.stderr else ""
    assert not port_open(url), "the embedded nats-server outlived the service"


async def test_a_restarted_service_keeps_its_tickets_and_numbers(tmp_path) -> None:
    process, url = up(tmp_path)
    nc = await nats.connect(url)
    await publish_request(nc.jetstream(), "web", {"external_id": "w-1", "content": "hello"})
    await read_stream(nc.jetstream(), "tickets.events.>", 2)
    await nc.close()
    process.send_signal(signal.SIGTERM)
    assert process.wait(30) == 0
    process, url = up(tmp_path)
    try:
        nc = await nats.connect(url)
        js = nc.jetstream()
        await publish_request(js, "web", {"external_id": "w-2", "content": "hello again"})
        events = [json.loads(m.data) for m in await read_stream(js, "tickets.events.>", 4)]
        await nc.close()
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(30) == 0
    numbers = [
        e["ticketnumber"] for e in events if e["type"].startswith("ticketflow.ticket.received.")
    ]
    assert len(events) == 4 and numbers[0][-4:] == "0001" and numbers[1][-4:] == "0002"


def test_a_bad_policy_file_is_refused_naming_the_key(tmp_path: Path) -> None:
    bad = tmp_path / "policy.toml"
    bad.write_text('[calendar]\ntimezone = "Mars/Olympus"\n')
    result = subprocess.run(
        [*TICKETFLOW, "up", "--data-dir", str(tmp_path), "--policy", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "calendar.timezone" in result.stderr and "Mars/Olympus" in result.stderr


def test_help_explains_the_settings() -> None:
    result = subprocess.run(
        [*TICKETFLOW, "up", "--help"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0
    for option in ("--nats-url", "--store", "--data-dir", "--policy", "TICKETFLOW_STORE"):
        assert option in result.stdout


async def test_two_processes_serve_intake_and_publish_events(tmp_path) -> None:
    process, url = up(tmp_path, "--processes", "2")
    try:
        nc = await nats.connect(url)
        js = nc.jetstream()
        for i in range(20):
            await publish_request(js, "web", {"external_id": f"p-{i}", "content": "hello"})
        events = [json.loads(m.data) for m in await read_stream(js, "tickets.events.>", 40)]
        await nc.close()
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(60)
    assert code == 0
    assert len(events) == 40 and len({e["id"] for e in events}) == 40
    assert not port_open(url)


def back_processes(pid: int) -> list[int]:
    """The children of `pid` that run the back role (`up --role back`)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [
        int(c) for c in children if b"back" in Path(f"/proc/{c}/cmdline").read_bytes().split(b"\0")
    ]


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux's /proc")
@pytest.mark.parametrize(("cores", "backs"), [({0}, 0), ({0, 1}, 1)])
def test_up_uses_a_second_process_by_default_only_where_there_is_a_second_core(
    tmp_path, cores: set[int], backs: int
) -> None:
    import os

    if len(os.sched_getaffinity(0)) < len(cores):
        pytest.skip(f"this machine lets the tests use fewer than {len(cores)} cores")
    process = subprocess.Popen(
        [*TICKETFLOW, "up", "--data-dir", str(tmp_path), "--http-port", "off"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: os.sched_setaffinity(0, cores),
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().startswith("nats: "), process.stderr
        assert len(back_processes(process.pid)) == backs
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(60) == 0


def test_up_refuses_a_number_of_processes_it_cannot_run(tmp_path) -> None:
    result = subprocess.run(
        [*TICKETFLOW, "up", "--data-dir", str(tmp_path), "--processes", "3"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "--processes '3': 1, 2 or auto" in result.stderr
    assert not (tmp_path / "tickets.db").exists()


def test_up_prints_the_console_after_the_nats_url_and_it_answers(tmp_path) -> None:
    import httpx

    process, _ = up(tmp_path)
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        assert line.startswith("console: http://127.0.0.1:"), line
        login = httpx.get(line.removeprefix("console: ") + "login", timeout=10)
        assert login.status_code == 200 and 'name="username"' in login.text
        assert "script-src 'self'" in login.headers["content-security-policy"]
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(30) == 0


def test_without_the_http_port_there_is_no_console_line(tmp_path) -> None:
    process, _ = up(tmp_path, "--http-port", "off")
    try:
        process.send_signal(signal.SIGINT)
        assert process.wait(30) == 0
        assert process.stdout is not None and "console:" not in process.stdout.read()
    finally:
        if process.poll() is None:
            process.kill()


@pytest.mark.parametrize(
    "flags, says",
    [
        (["--http-port", "eighty"], "--http-port 'eighty'"),
        (["--http-host", "0.0.0.0"], "loopback only"),
    ],
)
def test_a_console_that_cannot_be_safe_is_refused_before_anything_starts(
    tmp_path, flags: list[str], says: str
) -> None:
    result = subprocess.run(
        [*TICKETFLOW, "up", "--data-dir", str(tmp_path), *flags],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and says in result.stderr
    assert result.stdout == ""
