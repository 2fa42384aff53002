"""The statistics view applies a batch in memory and writes it back at its end: however
the stream is cut into batches, the tables come out the same (and as the events say), a
batch takes a few statements however many events it holds, and a batch that fails
leaves nothing behind."""

from __future__ import annotations

from typing import Any

import pytest

from infra.projector import Projector
from infra.readdb import ReadDB
from projections.stats import Statistics
from tests.unit.batches import (
    apply_in_batches,
    dump,
    statements_counted,
    tables_cut_into,
    tables_once_and_emptied,
)

TEAMS = {"A1": "network", "A2": "billing"}


def at(minute: int) -> str:
    """As the stream sends times."""
    return f"2026-11-24T{2 + minute // 60:02d}:{minute % 60:02d}:00.000000Z"


def stored(minute: int) -> str:
    """As the view keeps them (`utc_text`)."""
    return at(minute).replace("Z", "+00:00")


def target(start: int | None, due: int | None, policy: str = "p1") -> dict:
    return {
        "clock": "wall",
        "duration": "1h",
        "started_at": None if start is None else at(start),
        "due": None if due is None else at(due),
        "policy": policy,
    }


def ev(kind: str, ticket: str, minute: int, **data: Any) -> dict:
    return {
        "id": f"{ticket}-{kind}-{minute}",
        "type": f"ticketflow.ticket.{kind}.v1",
        "subject": ticket,
        "time": at(minute),
        "ticketnumber": f"CS-{ticket}",
        "data": data,
    }


def self_served(report: str, minute: int, solved: bool) -> dict:
    data = {"article_id": "KB1", "channel": "web", "category": "billing", "solved": solved}
    return {**ev("article_self_served", "KB1", minute, **data), "id": report}


EVENTS = [
    # b: its events come before its Received (no row to change yet), Received comes twice
    ev("assigned", "b", 0, assignee="A2", sla={"acknowledge": target(0, 60)}),
    ev("escalated", "b", 0),
    ev("received", "b", 1, channel="web"),
    ev("received", "b", 2, channel="email", received_at=at(0)),
    ev("received", "a", 0, channel="email", received_at="2026-11-24T09:59:00+08:00"),
    ev("classified", "a", 1, type="incident", category="billing", priority="P2",
       demand="refund", mood="calm", sla={
           "assignment": target(1, 6), "acknowledge": target(None, None),
           "first_response": target(0, 60), "update_every": target(0, 240),
           "resolution": target(0, 600)}),
    ev("assigned", "a", 3, assignee="A1", sla={"acknowledge": target(3, 18)}),
    ev("escalated", "a", 10),
    ev("acknowledged", "a", 20),  # late: due at minute 18
    ev("progress_updated", "a", 30, visibility="customer", waiting_on_customer=True,
       sla={"update_every": target(30, 270)}),  # the met update_every: on time
    ev("progress_updated", "a", 35, visibility="internal", waiting_on_customer=True, sla={}),
    ev("customer_replied", "a", 40, sla={"update_every": target(30, 280)}),  # resumed
    ev("impact_raised", "a", 45, priority="P1", type="ignored", sla={
        "assignment": target(1, 6, "p2"), "acknowledge": target(3, 18, "p2"),
        "resolution": target(0, 300, "p2"), "update_every": target(30, 280, "p2")}),
    ev("sla_replanned", "a", 50, dropped=["acknowledge", "gone"],
       new={"analysis": target(50, 100)}, to_version="p3"),  # acknowledge: breached
    ev("declined", "a", 55, sla={"assignment": target(55, 60)}),  # assignment: on time
    ev("department_requested", "a", 56, sla={"department:r1": target(56, 80)}),
    ev("department_answered", "a", 85, request_id="r1"),
    ev("suggestion_batched", "a", 60, batch="B7", sla={"batched": target(60, 90)}),
    ev("analysed", "a", 61),
    ev("closed", "a", 70, handling_seconds=4200,
       sla={"follow_up": target(70, 200), "confirmation": target(70, 4000)}),
    ev("rated", "a", 75, score=2, dimensions={"speed": 1, "attitude": 3}),
    ev("reopened", "a", 80, sla={"resolution": target(80, 400),
                                 "update_every": target(80, 320)}),  # both: on time
    ev("assigned", "a", 82, assignee="A9", sla={}),  # no team
    ev("progress_updated", "a", 90, visibility="customer", waiting_on_customer=False, sla={}),
    ev("closed", "a", 100, handling_seconds=9999),
    ev("followed_up", "a", 110),
    ev("tickets_linked", "a", 111, tickets=["b"]),  # not the view's: nothing changes
    ev("rated", "a", 120, score=4),
    self_served("r1", 5, True),
    self_served("r1", 6, False),  # the same report again: kept as it was
    self_served("r2", 7, False),
    # c: never received; its targets are kept all the same
    ev("progress_updated", "c", 5, visibility="customer", waiting_on_customer=True,
       sla={"resolution": target(5, 50)}),
    ev("closed", "c", 6, sla=None),
]  # fmt: skip


def projector(store_url: str) -> Projector:
    return Projector(Statistics(TEAMS), ReadDB(store_url), js=None)  # type: ignore[arg-type]


@pytest.fixture
def in_one_batch(store_url: str) -> dict[str, list[tuple]]:
    return tables_once_and_emptied(projector(store_url), EVENTS)


@pytest.mark.parametrize("size", [1, 2, 5])
def test_the_tables_do_not_depend_on_how_the_stream_is_cut(
    store_url: str, in_one_batch: dict, size: int
) -> None:
    assert tables_cut_into(projector(store_url), EVENTS, size) == in_one_batch


def test_what_the_events_leave(in_one_batch: dict) -> None:
    tickets = {row[0]: row for row in in_one_batch["stats_tickets"]}
    assert set(tickets) == {"a", "b"}  # c was never received
    a, b = tickets["a"], tickets["b"]
    # ticket_id, channel, type, category, priority, assignee, team, status, paused_at,
    # received_at, first_response_at, first_closed_at, last_closed_at, resolution_seconds,
    # reopens, escalations, score, sla_on_time, sla_breached, number, demand, mood,
    # contacts, declines, dimensions, rated_at, batch, policy_version
    assert a[1:9] == ("email", "incident", "billing", "P1", "A9", None, "closed", None)
    assert a[9:13] == ("2026-11-24T01:59:00.000000+00:00", stored(30), stored(70), stored(100))
    assert a[13] == 4200.0 and isinstance(a[13], float)
    assert a[14:19] == (1, 1, 4, 4, 1)
    assert a[19:] == ("CS-a", "refund", "calm", 1, 1, "{}", stored(120), "B7", "p3")
    # b was assigned and escalated before it arrived: its row is as Received made it
    assert b[1:10] == ("web", None, None, None, None, None, "open", None, stored(1))
    assert b[14:20] == (0, 0, None, 0, 0, "CS-b")
    targets = {(row[0], row[1]): row[2:] for row in in_one_batch["stats_sla_targets"]}
    assert targets[("b", "acknowledge")] == (stored(0), stored(60), None)
    assert targets[("c", "resolution")] == (stored(5), stored(50), stored(6))
    assert targets[("a", "assignment")] == (stored(55), stored(60), stored(70))
    assert targets[("a", "department:r1")] == (stored(56), stored(80), stored(85))
    assert targets[("a", "follow_up")] == (stored(70), stored(200), stored(100))
    assert {name for ticket, name in targets if ticket == "a"} == {
        "assignment", "resolution", "update_every", "analysis", "department:r1",
        "batched", "follow_up",
    }  # fmt: skip
    assert in_one_batch["stats_self_service"] == [
        ("r1", "KB1", stored(5), "web", "billing", 1),
        ("r2", "KB1", stored(7), "web", "billing", 0),
    ]


def test_a_batch_takes_a_few_statements(store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    p = projector(store_url)
    statements = statements_counted(monkeypatch)
    apply_in_batches(p, EVENTS, len(EVENTS))
    # the position read and written, two reads, and a few writes of many rows each
    assert statements() <= 12


def test_a_failed_batch_leaves_nothing_behind(store_url: str, in_one_batch: dict) -> None:
    p = projector(store_url)
    half = len(EVENTS) // 2
    apply_in_batches(p, EVENTS[:half], 4)
    broken = ev("assigned", "a", 99)  # no assignee, no sla: the batch fails
    with pytest.raises(KeyError):
        apply_in_batches(p, [*EVENTS[half : half + 3], broken], 10, start=half)
    apply_in_batches(p, EVENTS[half:], 3, start=half)
    assert dump(p) == in_one_batch
