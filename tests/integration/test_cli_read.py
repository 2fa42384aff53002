"""`ticketflow sla`, `stats` and `rebuild` against a running service."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
from pathlib import Path

import nats
import pytest

from domain.ticket import ticket_id_for
from tests.integration.helpers import ask, publish_request
from tests.integration.test_cli import TICKETFLOW, up

pytestmark = pytest.mark.nats
TABLES = ("sla_tickets", "sla_targets", "sla_pauses")


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*TICKETFLOW, *args], capture_output=True, text=True, timeout=120)


def sla_rows(data_dir: Path) -> dict[str, list]:
    with sqlite3.connect(data_dir / "tickets-read.db") as db:
        return {t: sorted(db.execute(f"SELECT * FROM {t}").fetchall()) for t in TABLES}


@pytest.fixture
def running(tmp_path):
    process, url = up(tmp_path)
    yield url, tmp_path
    process.send_signal(signal.SIGINT)
    assert process.wait(30) == 0


async def seed(url: str) -> None:
    nc = await nats.connect(url)
    js = nc.jetstream()
    texts = ["我要投诉,客服态度很差", "页面白屏,报错500", "如何修改密码?", "建议增加夜间模式"]
    for i, text in enumerate(texts):
        await publish_request(js, "web", {"external_id": f"s-{i}", "content": text})
    for _ in range(100):  # until the read side has all four
        reply = await ask(nc, "tickets.query.stats", {})
        if reply.get("ok") and reply["stats"]["tickets"] == len(texts):
            break
        await asyncio.sleep(0.1)
    ticket_id = str(ticket_id_for("web", "s-0"))  # the complaint, as intake names it
    agent = {"id": "A007", "role": "agent"}
    for name, body in (
        ("assign", {"assignee": "A007"}),
        ("close", {"resolution": "done"}),
        ("rate", {"score": 5}),
    ):
        actor = {"id": "web", "role": "channel"} if name == "rate" else agent
        assert (
            await ask(nc, f"tickets.cmd.{name}", {"ticket_id": ticket_id, "actor": actor, **body})
        )["ok"]
    await asyncio.sleep(1.0)
    await nc.close()


def test_stats_prints_the_overview_and_a_grouping(running) -> None:
    url, _ = running
    asyncio.run(seed(url))
    result = run("stats", "--nats-url", url, "--group-by", "type")
    assert result.returncode == 0, result.stderr
    assert "tickets / open / closed" in result.stdout and "4 / 3 / 1" in result.stdout
    assert "By type" in result.stdout and "complaint" in result.stdout
    raw = json.loads(run("stats", "--nats-url", url, "--json").stdout)
    assert raw["stats"]["csat"] == 1.0


def test_sla_lists_what_needs_attention(running) -> None:
    url, _ = running
    asyncio.run(seed(url))
    result = run("sla", "--nats-url", url, "--json")
    assert result.returncode == 0, result.stderr
    reply = json.loads(result.stdout)
    assert all(t["state"] in ("at_risk", "breached") for t in reply["targets"])
    table = run("sla", "--nats-url", url)
    assert table.returncode == 0 and "SLA targets" in table.stdout


def test_a_rebuilt_sla_view_equals_the_live_one(running) -> None:
    url, data_dir = running
    asyncio.run(seed(url))
    before = sla_rows(data_dir)
    assert before["sla_targets"]
    result = run("rebuild", "sla", "--nats-url", url)
    assert result.returncode == 0, result.stderr
    assert "rebuilt sla" in result.stdout
    assert sla_rows(data_dir) == before


def test_client_commands_say_when_no_service_answers(tmp_path) -> None:
    result = run("stats", "--nats-url", "nats://127.0.0.1:1")
    assert result.returncode == 1
    assert "cannot connect to NATS at nats://127.0.0.1:1" in result.stderr


def test_client_commands_find_a_local_service_through_its_data_dir(running) -> None:
    url, data_dir = running
    assert (data_dir / "nats.url").read_text().strip() == url
    result = subprocess.run(
        [*TICKETFLOW, "stats", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "TICKETFLOW_DATA_DIR": str(data_dir)},
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["ok"] is True


def test_problems_lists_them_and_the_month_s_improvement_report_is_markdown(running) -> None:
    url, _ = running

    async def open_one() -> str:
        nc = await nats.connect(url)
        actor = {"id": "S001", "role": "supervisor"}
        opened = await ask(
            nc, "tickets.cmd.open_problem", {"actor": actor, "title": "发票 | 抬头错"}
        )
        for _ in range(100):  # until the read side lists it
            if (await ask(nc, "tickets.query.problems", {}))["count"]:
                break
            await asyncio.sleep(0.05)
        await nc.close()
        return opened["number"]

    number = asyncio.run(open_one())
    listed = run("problems", "--nats-url", url)
    assert listed.returncode == 0 and number in listed.stdout, listed.stderr
    month = f"{number[2:6]}-{number[6:8]}"
    report = run("report", "improvement", "--month", month, "--nats-url", url)
    assert report.returncode == 0, report.stderr
    assert report.stdout.startswith(f"# Improvement report, {month}")
    assert "Problems opened: **1**" in report.stdout
    bad = run("report", "improvement", "--month", "2026-13", "--nats-url", url)
    assert bad.returncode == 2 and "--month" in bad.stderr


def test_sla_whatif_compares_a_candidate_with_the_record_and_changes_nothing(
    running, tmp_path
) -> None:
    url, data_dir = running
    asyncio.run(seed(url))
    strict = tmp_path / "strict.toml"
    strict.write_text('[[sla]]\nclock = "wall"\nresolution = "1s"\nfirst_response = "1s"\n')
    period = ("--from", "2000-01-01T00:00:00+00:00", "--to", "2100-01-01T00:00:00+00:00")
    with sqlite3.connect(data_dir / "tickets.db") as db:
        stored = db.execute("SELECT COUNT(*) FROM stored_events").fetchone()
    result = run("sla-whatif", "--policy", str(strict), *period, "--nats-url", url, "--json")
    assert result.returncode == 0, result.stderr
    reply = json.loads(result.stdout)
    assert reply["tickets"] == 4
    assert set(reply["recorded"]) >= {"sla_compliance", "targets"}
    # The closed complaint took longer than a second: its resolution is breached now.
    assert any(c["target"] == "resolution" and c["whatif"] == "breached" for c in reply["changed"])
    table = run("sla-whatif", "--policy", str(strict), *period, "--nats-url", url)
    assert table.returncode == 0 and "SLA compliance" in table.stdout, table.stderr
    with sqlite3.connect(data_dir / "tickets.db") as db:
        assert db.execute("SELECT COUNT(*) FROM stored_events").fetchone() == stored


def test_sla_whatif_refuses_a_bad_policy_naming_its_key(running, tmp_path) -> None:
    url, _ = running
    bad = tmp_path / "bad.toml"
    bad.write_text('[[sla]]\nresolution = "soon"\n')
    result = run("sla-whatif", "--policy", str(bad), "--nats-url", url)
    assert result.returncode == 1
    assert "sla.0.resolution" in result.stderr
