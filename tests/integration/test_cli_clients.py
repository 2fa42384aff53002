"""The client commands `ticketflow simulate` and `ticketflow replay`.

The generator's tests need no server. The others run the CLI as a user does, against
`ticketflow up` with its embedded nats-server, and check what it did through the
public queries.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID

import nats
import pytest

from domain.roles import MAY_SEND
from domain.ticket import ticket_id_for
from services.application.messages import CHANNELS, COMMANDS, IntakeRequest
from services.cli.simulation import (
    CUSTOMER_CHANNELS,
    Report,
    Story,
    english_texts,
    generate,
    summary_lines,
)
from services.runtime.settings import CLOCK_OFFSET_ENV
from tests.integration.helpers import ask, publish_request

TICKETFLOW = [sys.executable, "-m", "services.cli"]
NOW = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)
CJK = re.compile(r"[\u4e00-\u9fff]")
SEED, RUN, COUNT = 7, "itest", 30


def cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess:
    # none of the user's settings, but the clock the suite runs the services on
    environment = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("TICKETFLOW_") or k == CLOCK_OFFSET_ENV
    }
    return subprocess.run(
        [*TICKETFLOW, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**environment, **(env or {})},
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ---- the generator: a seed in, stories out ---------------------------------------------


class TestTheGenerator:
    stories = generate(400, seed=11, now=NOW, run="unit")

    def test_the_same_seed_gives_the_same_stories(self) -> None:
        assert generate(50, 3, NOW, "r") == generate(50, 3, NOW, "r")
        assert generate(50, 3, NOW, "r") != generate(50, 4, NOW, "r")

    def test_it_makes_as_many_requests_as_asked_each_with_its_own_id(self) -> None:
        assert len(generate(1, 1, NOW)) == 1 and len(generate(7, 1, NOW)) == 7
        ids = [s.request["external_id"] for s in self.stories]
        assert len(ids) == len(set(ids)) == 400 and all(i.startswith("unit-") for i in ids)

    def test_every_request_is_valid_intake_with_its_dedupe_id(self) -> None:
        for story in self.stories:
            assert story.channel in CHANNELS
            IntakeRequest.model_validate(story.request)
            assert story.msg_id == f"{story.channel}:{story.request['external_id']}"
            assert story.ticket_id == str(
                ticket_id_for(story.channel, story.request["external_id"])
            )

    def test_arrivals_are_in_order_and_end_before_now(self) -> None:
        times = [datetime.fromisoformat(s.request["received_at"]) for s in self.stories]
        assert times == sorted(times) and times[-1] < NOW and times[0] > NOW - timedelta(days=1)

    def test_the_mix_has_every_channel_both_languages_alerts_and_evidence(self) -> None:
        assert {s.channel for s in self.stories} == set(CHANNELS)
        contents = [s.request["content"] for s in self.stories]
        assert sum(bool(CJK.search(c)) for c in contents) > 100
        assert sum(not CJK.search(c) for c in contents) > 100
        alerts = [s.request["alert"] for s in self.stories if s.channel == "monitoring"]
        assert alerts and all(0 <= a["affected_ratio"] <= 1 and a["kind"] for a in alerts)
        assert any(s.request.get("attachments") for s in self.stories)
        assert any(re.search(r"1[3-9]\d{9}", c) for c in contents)  # masked downstream
        assert any(s.request.get("subject") for s in self.stories if s.channel == "email")

    def test_customers_come_back(self) -> None:
        ids = Counter(
            s.request["customer"].get("customer_id")
            for s in self.stories
            if s.channel in ("phone", "chat", "app")
        )
        assert ids.most_common(1)[0][1] >= 3

    def test_sometimes_three_customers_report_one_problem_within_minutes(self) -> None:
        def burst(run: list[Story]) -> bool:
            names = {s.request["customer"].get("name") for s in run}
            topics = {s.topic for s in run}
            first, last = (datetime.fromisoformat(run[i].request["received_at"]) for i in (0, -1))
            return len(topics) == 1 and len(names) == 3 and last - first <= timedelta(minutes=5)

        assert any(burst(self.stories[i : i + 3]) for i in range(len(self.stories) - 2))

    def test_every_command_is_valid_and_sent_by_a_role_that_may(self) -> None:
        for story in self.stories:
            assignee = None
            for step in story.steps:
                command = COMMANDS[step.command].model_validate(
                    {"ticket_id": story.ticket_id, **step.body}
                )
                assert command.actor.role in MAY_SEND[step.command]
                if step.command == "assign":
                    assignee = step.body["assignee"]
                    if command.actor.role == "agent":
                        assert command.actor.id == assignee
                if step.command == "acknowledge":
                    assert command.actor.id == assignee
                if command.actor.role == "channel":
                    assert story.channel in CUSTOMER_CHANNELS
                    assert command.actor.id == story.channel

    def test_tickets_end_in_every_status_and_most_ratings_are_good(self) -> None:
        outcomes = Counter(s.outcome for s in self.stories)
        assert set(outcomes) == {"open", "assigned", "in_progress", "waiting_on_customer", "closed"}
        assert outcomes["closed"] > len(self.stories) / 3
        tags = Counter(t for s in self.stories for t in s.tags)
        assert {"escalated", "reopened", "reclassified", "rated"} <= set(tags)
        scores = [
            step.body["score"] for s in self.stories for step in s.steps if step.command == "rate"
        ]
        assert sum(score >= 4 for score in scores) / len(scores) > 0.6
        assert any(score <= 2 for score in scores)
        waits = [
            step.body
            for s in self.stories
            for step in s.steps
            if step.body.get("waiting_on_customer")
        ]
        assert waits

    def test_the_texts_ship_with_the_package(self) -> None:
        assert len(english_texts()) > 500
        import services.cli

        simdata = Path(services.cli.__file__).parent / "simdata"
        for name in (
            "bitext.csv",
            "banking77.csv",
            "bitext.LICENSE.txt",
            "banking77.LICENSE",
            "phrases.toml",
            "README.md",
        ):
            assert (simdata / name).is_file(), name


class TestTheSummary:
    def test_it_counts_what_was_sent_and_what_failed(self) -> None:
        report = Report(
            requests=Counter(chat=2, email=1),
            stored=3,
            commands=Counter(assign=2, close=1),
            command_errors=Counter(illegal_state=1),
            examples={"closed · rated": "CS202611240002", "open": "CS202611240001"},
        )
        lines = summary_lines(report, generate(3, 1, NOW), "seed 1, run r", 1.25)
        assert lines[0] == "simulated 3 tickets in 1.2s (seed 1, run r)"
        assert "requests sent: 3 (chat 2, email 1)" in lines
        assert "commands sent: 3 (assign 2, close 1)" in lines
        assert "command errors: illegal_state 1" in lines
        assert lines[-2:] == [
            "  ticketflow replay CS202611240002   # closed · rated",
            "  ticketflow replay CS202611240001   # open",
        ]
        assert not report.clean and Report(stored=1).clean


# ---- against a running service ---------------------------------------------------------


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, str]]:
    """`ticketflow up` with its embedded nats-server, fed once by `simulate`."""
    data_dir = tmp_path_factory.mktemp("clients")
    process = subprocess.Popen(
        [*TICKETFLOW, "up", "--data-dir", str(data_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    assert line.startswith("nats: nats://127.0.0.1:"), line
    url = line.removeprefix("nats: ")
    try:
        result = cli(
            "simulate",
            "--tickets",
            str(COUNT),
            "--seed",
            str(SEED),
            "--run-id",
            RUN,
            "--nats-url",
            url,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        yield url, data_dir, result.stdout
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(30)


STORIES = generate(COUNT, SEED, NOW, RUN)  # what `simulate --seed 7 --run-id itest` sent


async def tickets(url: str) -> dict[str, dict]:
    nc = await nats.connect(url)
    try:
        replies = {
            s.ticket_id: await ask(nc, "tickets.query.ticket", {"ticket_id": s.ticket_id})
            for s in STORIES
        }
    finally:
        await nc.close()
    return {k: r["ticket"] for k, r in replies.items() if r.get("ok")}


async def stored(nc: nats.aio.client.Client, ticket_id: str, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not (await ask(nc, "tickets.query.ticket", {"ticket_id": ticket_id}))["ok"]:
        assert time.monotonic() < deadline, f"ticket {ticket_id} was not stored"
        await asyncio.sleep(0.1)


async def history_of(url: str, ticket_id: str) -> dict:
    nc = await nats.connect(url)
    try:
        return await ask(nc, "tickets.query.history", {"ticket_id": ticket_id})
    finally:
        await nc.close()


def story_where(check) -> Story:
    return next(s for s in STORIES if check(s))


@pytest.mark.nats
class TestSimulate:
    async def test_every_request_became_a_ticket_in_the_status_its_commands_led_to(
        self, service: tuple[str, Path]
    ) -> None:
        found = await tickets(service[0])
        assert len(found) == COUNT
        statuses = {s.ticket_id: found[s.ticket_id]["status"] for s in STORIES}
        assert statuses == {s.ticket_id: s.outcome for s in STORIES}
        assert len(set(statuses.values())) >= 3

    async def test_the_tickets_keep_what_the_channels_sent(self, service) -> None:
        found = await tickets(service[0])
        for story in STORIES:
            ticket = found[story.ticket_id]
            assert ticket["channel"] == story.channel
            assert ticket["external_id"] == story.request["external_id"]
            assert ticket["type"] and ticket["category"] and ticket["priority"]

    def test_the_summary_counts_requests_commands_and_errors(self, service) -> None:
        out = service[2]
        assert f"simulated {COUNT} tickets" in out and f"seed {SEED}, run {RUN}" in out
        channels = Counter(s.channel for s in STORIES)
        sent = ", ".join(f"{k} {v}" for k, v in channels.most_common())
        assert f"requests sent: {COUNT} ({sent})" in out
        assert f"tickets stored: {COUNT} of {COUNT}" in out
        commands = sum(len(s.steps) for s in STORIES)
        assert f"commands sent: {commands} (" in out and "command errors: none" in out
        assert re.search(r"ticketflow replay CS\d{12}", out)

    def test_it_keeps_to_the_rate_asked_for(self, service) -> None:
        started = time.monotonic()
        result = cli(
            "simulate",
            "--tickets",
            "6",
            "--rate",
            "4",
            "--seed",
            "2",
            "--run-id",
            "rated",
            "--nats-url",
            service[0],
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert "requests sent: 6 (" in result.stdout
        assert time.monotonic() - started >= 5 / 4

    async def test_without_a_service_it_says_so(self, fresh_streams: str) -> None:
        result = cli("simulate", "--tickets", "3", "--nats-url", fresh_streams)
        assert result.returncode == 1
        assert "no stream takes tickets.intake" in result.stderr
        assert "Traceback" not in result.stderr

    def test_help_explains_the_options(self) -> None:
        result = cli("simulate", "--help")
        assert result.returncode == 0
        for words in (
            "--tickets",
            "--rate",
            "--seed",
            "--nats-url",
            "TICKETFLOW_NATS_URL",
            "tickets.intake",
        ):
            assert words in result.stdout


@pytest.mark.nats
class TestReplay:
    async def number_of(self, url: str, story: Story) -> str:
        return (await tickets(url))[story.ticket_id]["number"]

    async def test_it_prints_one_line_per_event_then_the_state(self, service) -> None:
        url = service[0]
        story = story_where(
            lambda s: s.outcome == "closed" and "rated" in s.tags and "reopened" not in s.tags
        )
        number = await self.number_of(url, story)
        result = cli("replay", number, "--nats-url", url)
        assert result.returncode == 0, result.stderr
        lines = result.stdout.splitlines()
        events = [x for x in lines if re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d  v\d+ ", x)]
        assert lines[0].startswith(f"Ticket {number} ({story.ticket_id})")
        assert f"Received via {story.channel}" in events[0]
        assert "classifier (system)" in events[1] and "Classified " in events[1]
        body = dict((s.command, s.body) for s in story.steps)
        # other events (ImpactRaised, the SLA watcher's Escalated) may come in between
        assert any(f"Assigned to {body['assign']['assignee']}" in x for x in events)
        assert any("Acknowledged" in x for x in events)
        assert any(f"Closed: {body['close']['resolution']} (handled in" in x for x in events)
        assert any(f"Rated {body['rate']['score']}/5" in x for x in events)
        assert "  status      closed" in lines
        assert f"  assignee    {body['assign']['assignee']}" in lines
        assert any(x.split()[:2] == ["resolution", "met"] for x in lines)
        assert lines[-1] == "history verified: yes"
        assert "\x1b[" not in result.stdout  # no colour when piped

    async def test_as_of_a_version_shows_the_ticket_as_it_was(self, service) -> None:
        url = service[0]
        story = story_where(lambda s: s.outcome == "closed")
        history = await history_of(url, story.ticket_id)
        assigned = next(e["version"] for e in history["events"] if e["type"] == "Assigned")
        result = cli("replay", story.ticket_id, "--as-of", str(assigned), "--nats-url", url)
        assert result.returncode == 0, result.stderr
        versions = re.findall(r"  v(\d+) ", result.stdout)
        assert versions == [str(v) for v in range(1, assigned + 1)]
        assert f"as of version {assigned}" in result.stdout
        assert "later event(s) not shown" in result.stdout
        assert "  status      assigned" in result.stdout.splitlines()

    async def test_as_of_a_moment_shows_the_events_until_then(self, service) -> None:
        url = service[0]
        story = story_where(lambda s: s.outcome == "closed")
        history = await history_of(url, story.ticket_id)
        second = history["events"][1]  # the automatic classification
        result = cli("replay", story.ticket_id, "--as-of", second["time"], "--nats-url", url)
        assert result.returncode == 0, result.stderr
        shown = [int(v) for v in re.findall(r"  v(\d+) ", result.stdout)]
        assert shown[:2] == [1, 2] and len(shown) < len(history["events"])
        assert "  status      open" in result.stdout.splitlines()

    async def test_without_nats_url_it_finds_the_service_of_the_data_dir(self, service) -> None:
        data_dir = service[1]
        story = STORIES[0]
        result = cli("replay", story.ticket_id, "--data-dir", str(data_dir))
        assert result.returncode == 0, result.stderr
        assert f"({story.ticket_id})" in result.stdout.splitlines()[0]

    async def test_a_tampered_history_is_shown_and_said_to_be_tampered(self, service) -> None:
        url, data_dir, _ = service
        nc = await nats.connect(url)
        try:
            await publish_request(
                nc.jetstream(), "web", {"external_id": "tamper-1", "content": "页面白屏"}
            )
            ticket_id = str(ticket_id_for("web", "tamper-1"))
            await stored(nc, ticket_id)
            reply = await ask(
                nc,
                "tickets.cmd.assign",
                {
                    "ticket_id": ticket_id,
                    "actor": {"id": "S001", "role": "supervisor"},
                    "assignee": "A001",
                },
            )
            assert reply["ok"], reply
        finally:
            await nc.close()
        with sqlite3.connect(data_dir / "tickets.db") as db:
            (state,) = db.execute(
                "SELECT state FROM stored_events WHERE originator_id = ? "
                "AND originator_version = 2",
                (UUID(ticket_id).hex,),
            ).fetchone()
            altered = bytes([state[0], state[1] ^ 1, *state[2:]])
            db.execute(
                "UPDATE stored_events SET state = ? WHERE originator_id = ? AND "
                "originator_version = 2",
                (altered, UUID(ticket_id).hex),
            )
        result = cli("replay", ticket_id, "--nats-url", url)
        assert result.returncode == 1
        lines = result.stdout.splitlines()
        assert any("v2" in x and "unreadable stored event" in x for x in lines)
        assert any("Assigned to A001" in x for x in lines)
        assert lines[-1] == "history verified: NO (tampered)"

    async def test_a_deleted_last_event_is_caught_by_the_stream_s_witness(self, service) -> None:
        """The chain cannot vouch for the newest event (nothing follows it); the stream
        that published it can."""
        url, data_dir, _ = service
        nc = await nats.connect(url)
        try:
            await publish_request(
                nc.jetstream(), "web", {"external_id": "tamper-2", "content": "发票开错了"}
            )
            ticket_id = str(ticket_id_for("web", "tamper-2"))
            await stored(nc, ticket_id)
            assign = {"ticket_id": ticket_id, "actor": {"id": "S001", "role": "supervisor"}}
            reply = await ask(nc, "tickets.cmd.assign", assign | {"assignee": "A001"})
            assert reply["ok"], reply
            last = reply["version"]
            deadline = time.monotonic() + 10
            while (await history_of(url, ticket_id))["tail"].get("stream_version") != last:
                assert time.monotonic() < deadline, "the relay never published the assignment"
                await asyncio.sleep(0.1)
            assert (await history_of(url, ticket_id))["verified"] is True
        finally:
            await nc.close()
        with sqlite3.connect(data_dir / "tickets.db") as db:
            db.execute(
                "DELETE FROM stored_events WHERE originator_id = ? AND originator_version = ?",
                (UUID(ticket_id).hex, last),
            )
        history = await history_of(url, ticket_id)
        assert history["verified"] is False
        assert history["tail"]["reason"] == (
            f"the stream holds version {last}; the store ends at {last - 1}"
        )
        result = cli("replay", ticket_id, "--nats-url", url)
        assert result.returncode == 1
        assert result.stdout.splitlines()[-2:] == [
            f"  the last event: the stream holds version {last}; the store ends at {last - 1}",
            "history verified: NO (tampered)",
        ]

    def test_an_unknown_number_is_a_clear_error(self, service) -> None:
        result = cli("replay", "CS209901010001", "--nats-url", service[0])
        assert result.returncode == 1
        assert "not_found" in result.stderr and "CS209901010001" in result.stderr
        assert "Traceback" not in result.stderr and result.stdout == ""

    @pytest.mark.parametrize(
        "args, says",
        [
            (["hello"], "neither a ticket id"),
            (["CS202611240001", "--as-of", "yesterday"], "RFC 3339"),
        ],
    )
    def test_bad_input_is_refused_with_status_2(self, args: list[str], says: str) -> None:
        result = cli("replay", *args, "--nats-url", "nats://127.0.0.1:1")
        assert result.returncode == 2 and says in result.stderr
        assert "Traceback" not in result.stderr

    def test_no_server_is_a_clear_error(self) -> None:
        url = f"nats://127.0.0.1:{free_port()}"
        result = cli("replay", "CS202611240001", env={"TICKETFLOW_NATS_URL": url}, timeout=60)
        assert result.returncode == 1
        assert f"cannot connect to NATS at {url}" in result.stderr
        assert "Traceback" not in result.stderr

    def test_help_explains_the_argument_and_options(self) -> None:
        result = cli("replay", "--help")
        assert result.returncode == 0
        assert re.search(r"ticketflow replay \[OPTIONS\] \{?TICKET\b", result.stdout)
        for words in ("--as-of", "--nats-url", "TICKETFLOW_NATS_URL", "--tz", "verified"):
            assert words in result.stdout
