"""The application against real stores: every test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from eventsourcing.application import project_aggregate

from domain.errors import Conflict, Forbidden, IllegalState, Invalid, NotFound
from domain.ticket import event_digest
from infra.chain_witness import Head
from services.application import messages as m
from services.application.commands import CommandService
from services.application.desk import TicketDesk
from services.application.queries import QueryService
from services.application.registration import Registrar, Request

ARRIVED = datetime(2026, 11, 24, 1, 59, tzinfo=UTC)
SUPERVISOR = {"id": "S001", "role": "supervisor"}
AGENT = {"id": "A007", "role": "agent"}


def request(
    external_id: str,
    content: str = "收到的商品与描述不符,要求退款!",
    channel: str = "email",
    **extra: object,
) -> Request:
    body = m.IntakeRequest.model_validate(
        {
            "external_id": external_id,
            "content": content,
            "customer": {
                "name": "张女士",
                "phone": "13812345678",
                "email": "zhang@example.com",
                "customer_id": "C1001",
            },
            **extra,
        }
    )
    return Request(channel, body, ARRIVED)


def command(service: CommandService, name: str, ticket_id: str, actor: dict, **fields: object):
    model = m.COMMANDS[name]
    return service.execute(
        name, model.model_validate({"ticket_id": ticket_id, "actor": actor, **fields})
    )


def events_of(desk: TicketDesk, ticket_id) -> list[str]:
    return [type(e).__name__ for e in desk.events.get(ticket_id)]


class TestIntake:
    def test_a_request_becomes_a_received_and_classified_ticket(self, desk: TicketDesk) -> None:
        [result] = Registrar(desk).register([request("mail-1")])
        assert result.new
        assert events_of(desk, result.ticket_id) == ["Received", "Classified"]
        ticket = desk.load(result.ticket_id)
        assert (ticket.type, ticket.category) == ("complaint", "billing/refund")
        assert ticket.number == "CS202611240001"
        assert ticket.content == "收到的商品与描述不符,要求退款!"

    def test_the_same_request_however_late_is_one_ticket(self, desk: TicketDesk, clock) -> None:
        registrar = Registrar(desk)
        [first] = registrar.register([request("mail-1")])
        clock.advance(days=30)
        [again, other] = Registrar(desk).register([request("mail-1"), request("mail-2")])
        assert again.ticket_id == first.ticket_id and not again.new
        assert other.new
        assert events_of(desk, first.ticket_id) == ["Received", "Classified"]
        assert desk.load(other.ticket_id).number == "CS202612240001"

    def test_a_repeat_inside_one_batch_is_stored_once(self, desk: TicketDesk) -> None:
        results = Registrar(desk).register([request("mail-1"), request("mail-1")])
        assert results[0].ticket_id == results[1].ticket_id
        assert events_of(desk, results[0].ticket_id) == ["Received", "Classified"]

    def test_daily_numbers_count_up_and_restart_the_next_day(self, desk: TicketDesk, clock) -> None:
        results = Registrar(desk).register([request(f"m{i}") for i in range(3)])
        numbers = [desk.load(r.ticket_id).number for r in results]
        assert numbers == ["CS202611240001", "CS202611240002", "CS202611240003"]
        clock.advance(days=1)
        [next_day] = Registrar(desk).register([request("m9")])
        assert desk.load(next_day.ticket_id).number == "CS202611250001"

    def test_numbers_stay_unique_when_two_writers_race(
        self, desk: TicketDesk, policy, store_url, tmp_path, clock
    ) -> None:
        from infra.store import store_env

        other = TicketDesk(policy, store_env(store_url, tmp_path), clock=clock)
        writers = [Registrar(desk), Registrar(other)]
        results: list = []

        def write(registrar: Registrar, prefix: str) -> None:
            for i in range(10):
                results.extend(registrar.register([request(f"{prefix}-{i}-{j}") for j in range(5)]))

        threads = [
            threading.Thread(target=write, args=(w, p)) for w, p in zip(writers, "ab", strict=True)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        numbers = sorted(desk.load(r.ticket_id).number for r in results)
        assert len(numbers) == 100 == len(set(numbers))
        assert numbers[-1] == "CS202611240100"
        other.close()

    def test_an_urgent_request_gets_wall_clock_targets(self, desk: TicketDesk, clock) -> None:
        [r] = Registrar(desk).register([request("x", content="账号被盗,请立即冻结!")])
        ticket = desk.load(r.ticket_id)
        assert ticket.priority == "urgent"
        assert ticket.sla["first_response"]["due"] == ARRIVED + timedelta(minutes=30)


@pytest.fixture
def ticket_id(desk: TicketDesk) -> str:
    [r] = Registrar(desk).register([request("mail-1")])
    return str(r.ticket_id)


class TestCommands:
    def test_a_supervisor_assigns_and_the_assignee_acknowledges(self, desk, ticket_id) -> None:
        service = CommandService(desk)
        reply = command(service, "assign", ticket_id, SUPERVISOR, assignee="A007")
        assert reply == {
            "ok": True,
            "ticket_id": ticket_id,
            "number": "CS202611240001",
            "version": 3,
        }
        command(service, "acknowledge", ticket_id, AGENT)
        assert desk.load(desk.resolve(ticket_id)).status == "in_progress"

    def test_a_role_not_listed_for_the_command_is_forbidden(self, desk, ticket_id) -> None:
        service = CommandService(desk)
        with pytest.raises(Forbidden):
            command(service, "close", ticket_id, {"id": "web", "role": "channel"}, resolution="x")
        with pytest.raises(Forbidden):
            command(service, "update", ticket_id, {"id": "Q1", "role": "auditor"}, note="x")
        assert events_of(desk, desk.resolve(ticket_id)) == ["Received", "Classified"]

    def test_a_stale_expected_version_is_a_conflict(self, desk, ticket_id) -> None:
        service = CommandService(desk)
        with pytest.raises(Conflict):
            command(service, "close", ticket_id, AGENT, resolution="x", expected_version=1)
        reply = command(service, "close", ticket_id, AGENT, resolution="x", expected_version=2)
        assert reply["version"] == 3

    def test_an_unknown_ticket_is_not_found(self, desk) -> None:
        with pytest.raises(NotFound):
            command(
                CommandService(desk),
                "close",
                "6f1f6f0e-7a53-4d7c-9a0e-2d8c1f8e6b11",
                AGENT,
                resolution="x",
            )
        with pytest.raises(NotFound):
            CommandService(desk).execute(
                "close",
                m.Close.model_validate(
                    {"number": "CS209901010001", "actor": AGENT, "resolution": "x"}
                ),
            )

    def test_commands_find_a_ticket_by_its_number(self, desk, ticket_id) -> None:
        reply = CommandService(desk).execute(
            "close",
            m.Close.model_validate(
                {"number": "CS202611240001", "actor": AGENT, "resolution": "done"}
            ),
        )
        assert reply["ticket_id"] == ticket_id

    def test_a_category_outside_the_taxonomy_is_invalid(self, desk, ticket_id) -> None:
        with pytest.raises(Invalid):
            command(
                CommandService(desk),
                "classify",
                ticket_id,
                AGENT,
                type="technical",
                category="spaceships/warp",
                reason="?",
            )

    def test_reclassification_keeps_the_reason(self, desk, ticket_id) -> None:
        command(
            CommandService(desk),
            "classify",
            ticket_id,
            AGENT,
            type="technical",
            category="technical/front-end",
            reason="the refund page shows a blank screen",
        )
        ticket = desk.load(desk.resolve(ticket_id))
        assert (ticket.type, ticket.category) == ("technical", "technical/front-end")
        last = list(desk.events.get(ticket.id))[-1]
        assert last.reason == "the refund page shows a blank screen"

    def test_a_rating_of_two_or_less_reopens(self, desk, ticket_id) -> None:
        service = CommandService(desk)
        command(service, "assign", ticket_id, SUPERVISOR, assignee="A007")
        command(service, "close", ticket_id, AGENT, resolution="refunded")
        command(service, "rate", ticket_id, {"id": "web", "role": "channel"}, score=2)
        ticket = desk.load(desk.resolve(ticket_id))
        assert (ticket.status, ticket.assignee) == ("assigned", "A007")
        assert events_of(desk, ticket.id)[-2:] == ["Rated", "Reopened"]

    def test_a_good_rating_leaves_the_ticket_closed(self, desk, ticket_id) -> None:
        service = CommandService(desk)
        command(service, "close", ticket_id, AGENT, resolution="refunded")
        command(service, "rate", ticket_id, {"id": "web", "role": "channel"}, score=5)
        assert desk.load(desk.resolve(ticket_id)).status == "closed"

    def test_rating_an_open_ticket_is_illegal(self, desk, ticket_id) -> None:
        with pytest.raises(IllegalState):
            command(
                CommandService(desk), "rate", ticket_id, {"id": "w", "role": "channel"}, score=5
            )


class TestQueries:
    def test_the_ticket_query_masks_contact_data(self, desk, ticket_id) -> None:
        view = QueryService(desk).ticket(m.TicketQuery(ticket_id=ticket_id))["ticket"]
        assert view["customer"]["phone"] == "138****5678"
        assert view["customer"]["email"] == "z***@example.com"
        assert view["status"] == "open" and view["impact"] == "individual"
        assert view["sla"]["first_response"]["state"] in {"on_track", "at_risk"}

    def test_as_of_a_version_or_a_time_replays_the_past(self, desk, ticket_id, clock) -> None:
        clock.advance(minutes=10)
        command(CommandService(desk), "assign", ticket_id, SUPERVISOR, assignee="A007")
        queries = QueryService(desk)
        then = queries.ticket(m.TicketQuery(ticket_id=ticket_id, as_of=2))["ticket"]
        assert (then["version"], then["assignee"]) == (2, None)
        moment = clock.now - timedelta(minutes=5)
        at_time = queries.ticket(m.TicketQuery(ticket_id=ticket_id, as_of=moment))["ticket"]
        assert at_time["version"] == 2
        now = queries.ticket(m.TicketQuery(ticket_id=ticket_id))["ticket"]
        assert (now["version"], now["assignee"]) == (3, "A007")

    def test_as_of_before_the_ticket_existed_is_not_found(self, desk, ticket_id) -> None:
        with pytest.raises(NotFound):
            QueryService(desk).ticket(
                m.TicketQuery(ticket_id=ticket_id, as_of=datetime(2020, 1, 1, tzinfo=UTC))
            )

    def test_history_lists_every_event_and_verifies(self, desk, ticket_id) -> None:
        command(CommandService(desk), "close", ticket_id, AGENT, resolution="done")
        reply = QueryService(desk).history(m.HistoryQuery(ticket_id=ticket_id))
        assert reply["verified"] is True
        assert [e["type"] for e in reply["events"]] == ["Received", "Classified", "Closed"]
        assert reply["events"][0]["data"]["customer"]["phone"] == "138****5678"
        assert reply["events"][2]["actor"] == AGENT

    def test_a_changed_stored_byte_makes_history_unverified(
        self, desk, ticket_id, store_url
    ) -> None:
        command(CommandService(desk), "close", ticket_id, AGENT, resolution="done")
        flip_a_byte_of_version(desk, store_url, ticket_id, version=2)
        reply = QueryService(desk).history(m.HistoryQuery(ticket_id=ticket_id))
        assert reply["verified"] is False
        assert len(reply["events"]) == 3


def flip_a_byte_of_version(desk: TicketDesk, store_url: str, ticket_id: str, version: int) -> None:
    """What an attacker with database access would do: change one stored byte."""
    record = desk.recorder.select_events(desk.resolve(ticket_id), gt=version - 1, lte=version)[0]
    state = bytearray(record.state)
    state[len(state) // 2] ^= 0x01
    if store_url.startswith("sqlite"):
        import sqlite3

        with sqlite3.connect(store_url.removeprefix("sqlite:///")) as db:
            db.execute(
                "UPDATE stored_events SET state=? WHERE originator_id=? AND originator_version=?",
                (bytes(state), record.originator_id.hex, version),
            )
    else:
        import psycopg

        base, _, schema = store_url.partition("?schema=")
        with psycopg.connect(base, autocommit=True) as db:
            db.execute(
                f"UPDATE {schema}.ticketflow_events SET state=%s WHERE "
                "originator_id=%s AND originator_version=%s",
                (bytes(state), record.originator_id, version),
            )
    desk.repository.cache = None


class TestAutoAssignment:
    def with_agents(self, desk: TicketDesk, mode: str) -> None:
        from domain.policy import AgentConfig, TeamConfig

        desk.policy = desk.policy.model_copy(
            update={
                "agents": [
                    AgentConfig(id="A1", team="care", skills=["complaint", "zh"]),
                    AgentConfig(id="A2", team="care", skills=["technical"]),
                ],
                "teams": [TeamConfig(id="care", mode=mode)],
            }
        )

    def test_the_best_agent_is_assigned_in_the_same_transaction(self, desk) -> None:
        self.with_agents(desk, "auto")
        [r] = Registrar(desk).register([request("mail-1")])
        assert events_of(desk, r.ticket_id) == ["Received", "Classified", "Assigned"]
        ticket = desk.load(r.ticket_id)
        assert (ticket.assignee, ticket.candidates) == ("A1", ["A1"])  # A2: no skill matches
        assert ticket.sla["acknowledge"]["due"] is not None

    def test_when_the_lead_chooses_the_candidates_are_only_proposed(self, desk) -> None:
        self.with_agents(desk, "lead_chooses")
        [r] = Registrar(desk).register([request("mail-1")])
        assert events_of(desk, r.ticket_id) == ["Received", "Classified"]
        assert desk.load(r.ticket_id).candidates == ["A1"]


def test_contact_data_is_encrypted_at_rest(desk: TicketDesk, store_url: str) -> None:
    [r] = Registrar(desk).register([request("mail-1", content="call me: 13812345678")])
    stored = desk.recorder.select_events(r.ticket_id)
    assert stored
    for record in stored:
        assert b"13812345678" not in record.state
        assert "张女士".encode() not in record.state
        assert b"zhang@example.com" not in record.state
    if store_url.startswith("sqlite"):
        path = Path(store_url.removeprefix("sqlite:///"))
        for file in (path, path.with_name(path.name + "-wal")):
            raw = file.read_bytes() if file.exists() else b""
            assert b"13812345678" not in raw and b"zhang@example.com" not in raw


def test_a_long_ticket_replays_the_same_with_and_without_snapshots(desk, ticket_id, clock) -> None:
    service = CommandService(desk)
    for i in range(60):  # past the snapshot at version 50
        clock.advance(minutes=1)
        command(service, "update", ticket_id, AGENT, note=f"step {i}", visibility="customer")
    queries = QueryService(desk)
    from_snapshot = queries.ticket(m.TicketQuery(ticket_id=ticket_id, as_of=55))["ticket"]
    moment = desk.load(desk.resolve(ticket_id), version=55).modified_on
    from_events = queries.ticket(m.TicketQuery(ticket_id=ticket_id, as_of=moment))["ticket"]
    assert from_snapshot == from_events
    assert from_snapshot["version"] == 55
    assert desk.snapshots is not None and list(desk.snapshots.get(desk.resolve(ticket_id)))


def test_a_snapshot_holds_what_the_events_before_it_make(desk, ticket_id, clock) -> None:
    service = CommandService(desk)
    for i in range(55):  # past the snapshot at version 50
        clock.advance(minutes=1)
        command(service, "update", ticket_id, AGENT, note=f"step {i}", visibility="customer")
    key = desk.resolve(ticket_id)
    assert desk.snapshots is not None
    [snapshot] = desk.snapshots.get(key)
    replayed = project_aggregate(None, desk.events.get(key, lte=snapshot.originator_version))
    assert vars(snapshot.mutate(None)) == vars(replayed)  # the library's own replay


class TestTheStreamVouchesForTheTail:
    """`history` compares the store's newest events with what the stream published."""

    def history(self, desk, ticket_id, head) -> dict:
        witness = (lambda _: Head(*head)) if head else (lambda _: None)
        return QueryService(desk, witness).history(m.HistoryQuery(ticket_id=str(ticket_id)))

    def test_a_store_that_matches_the_stream_verifies(self, desk) -> None:
        [r] = Registrar(desk).register([request("mail-1")])
        events = list(desk.events.get(r.ticket_id))
        reply = self.history(desk, r.ticket_id, (2, event_digest(events[1])))
        assert reply["verified"] is True and reply["tail"]["stream_version"] == 2

    def test_a_rewritten_last_event_does_not(self, desk) -> None:
        [r] = Registrar(desk).register([request("mail-1")])
        reply = self.history(desk, r.ticket_id, (2, "0" * 64))
        assert reply["verified"] is False
        assert reply["tail"]["reason"] == "version 2 differs from the event the stream holds"

    def test_nothing_published_yet_leaves_the_chain_to_speak(self, desk) -> None:
        [r] = Registrar(desk).register([request("mail-1")])
        reply = self.history(desk, r.ticket_id, None)
        assert reply["verified"] is True and reply["tail"]["verified"] is None
