"""The SLA view applies a batch in memory and writes it back at its end: however the
stream is cut into batches, the tables come out the same, and a batch that fails leaves
nothing behind."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from infra.projector import Projector
from infra.readdb import ReadDB
from projections.sla import SlaView
from tests.unit.batches import (
    apply_in_batches,
    dump,
    tables_cut_into,
    tables_once_and_emptied,
)


@dataclass
class Agent:
    id: str
    team: str
    skills: list[str] = field(default_factory=list)


AGENTS = [Agent("A1", "network", ["incident"]), Agent("A2", "billing", ["billing"])]


def target(started: str | None, due: str | None, clock: str = "wall") -> dict:
    return {"clock": clock, "duration": "1h", "started_at": started, "due": due}


def at(minute: int) -> str:
    return f"2026-11-24T{2 + minute // 60:02d}:{minute % 60:02d}:00.000000Z"


def ev(kind: str, ticket: str, minute: int, **data: Any) -> dict:
    return {
        "type": f"ticketflow.ticket.{kind}.v1",
        "subject": ticket,
        "time": at(minute),
        "ticketnumber": f"CS-{ticket}",
        "data": data,
    }


def running(*names: str, start: int = 0, due: int = 60) -> dict:
    return {name: target(at(start), at(due)) for name in names}


EVENTS = [
    # b: its events come before its Received, and its Received comes twice
    ev("assigned", "b", 0, assignee="A2", sla=running("acknowledge")),
    ev("received", "b", 1, channel="web", subject="Refund\nplease", content=None),
    ev("received", "b", 2, channel="email", subject="other", content=None),
    ev("received", "a", 0, channel="email", subject=None, content="\n  my invoice \x00 is wrong"),
    ev("classified", "a", 1, type="incident", category="billing", priority="P2", impact=None,
       sla=running("assignment", "resolution", due=120) | {"analysis": target(None, None)}),
    ev("assigned", "a", 2, assignee="A1", sla=running("acknowledge", start=2, due=17)),
    ev("escalated", "a", 30, target="acknowledge", level=1),
    ev("escalated", "a", 31, target="nothing", level=2),
    ev("escalated", "a", 32, level=3),
    ev("acknowledged", "a", 40),  # late: due at minute 17
    ev("progress_updated", "a", 41, visibility="customer", waiting_on_customer=True,
       sla=running("first_response", start=41, due=50) | {"promised_feedback": target(None, None)}),
    ev("progress_updated", "a", 45, visibility="internal", waiting_on_customer=True, sla={}),
    ev("customer_replied", "a", 50, sla=running("resolution", start=50, due=180)),
    ev("impact_raised", "a", 55, priority="P1", impact="high", category=None,
       sla=running("resolution", "assignment", start=55, due=90)),
    ev("sla_replanned", "a", 56, dropped=["analysis", "gone"], new=running("update", due=65)),
    ev("declined", "a", 57, sla={}),
    ev("department_requested", "a", 58, sla=running("department:r1", start=58, due=80)),
    ev("escalated", "a", 58, target="department:r1", level=1),
    ev("department_answered", "a", 59, request_id="r1"),
    ev("suggestion_batched", "a", 60, sla=running("batched", start=60, due=90)),
    ev("analysed", "a", 61),
    ev("rated", "a", 62, stars=5),  # not the view's: nothing changes
    ev("progress_updated", "a", 63, visibility="internal", waiting_on_customer=True, sla={}),
    ev("closed", "a", 70, sla=running("follow_up", "confirmation", start=70, due=200)),
    ev("confirmed", "a", 71),
    ev("reopened", "a", 80, sla=running("resolution", start=80, due=300)),
    ev("progress_updated", "a", 81, visibility="customer", waiting_on_customer=False, sla={}),
    ev("closed", "a", 90),
    ev("followed_up", "a", 95),
    # c: never received; its targets and pauses are kept all the same
    ev("progress_updated", "c", 5, visibility="customer", waiting_on_customer=True,
       sla=running("resolution")),
    ev("closed", "c", 6, sla=None),
]  # fmt: skip


def projector(store_url: str) -> Projector:
    return Projector(SlaView(agents=AGENTS), ReadDB(store_url), js=None)  # type: ignore[arg-type]


@pytest.fixture
def in_one_batch(store_url: str) -> dict[str, list[tuple]]:
    return tables_once_and_emptied(projector(store_url), EVENTS)


@pytest.mark.parametrize("size", [1, 2, 5])
def test_the_tables_do_not_depend_on_how_the_stream_is_cut(
    store_url: str, in_one_batch: dict, size: int
) -> None:
    assert tables_cut_into(projector(store_url), EVENTS, size) == in_one_batch


def test_what_the_events_leave(store_url: str, in_one_batch: dict) -> None:
    tickets = {row[0]: row for row in in_one_batch["sla_tickets"]}
    assert set(tickets) == {"a", "b"}  # c was never received
    a, b = tickets["a"], tickets["b"]
    # ticket_id, number, status, type, priority, assignee, paused_at, closed_at, channel,
    # summary, category, impact, teams, received_at, next_target, next_due, next_at_risk,
    # paused_utc, late
    assert a[1:6] == ("CS-a", "closed", "incident", "P1", None)
    assert a[6:9] == (None, at(90), "email")
    assert a[9:13] == ("my invoice   is wrong", "billing", "high", ",billing,network,")
    assert a[14:] == (None, None, None, None, 1)
    # b was assigned before it arrived: the row was made after, by the first Received
    assert b[1:6] == ("CS-b", "open", None, None, None)
    assert (b[8], b[9], b[12], b[14], b[18]) == ("web", "Refund", "", None, 0)
    targets = {(row[0], row[1]): row for row in in_one_batch["sla_targets"]}
    assert targets[("b", "acknowledge")][6] is None
    # raised impact: the targets start again (their escalations gone), met ones stay met
    assert ("a", "acknowledge") not in targets and targets[("a", "assignment")][6] == at(2)
    escalated = '[{"level": 1, "at": "2026-11-24T02:58:00.000000Z"}]'
    assert targets[("a", "department:r1")][7] == escalated
    assert ("a", "analysis") not in targets  # replanned away
    assert ("a", "follow_up") not in targets  # reopening dropped what followed the closing
    assert targets[("a", "update")][6] == at(70)  # met late, by the closing
    assert targets[("c", "resolution")][6] == at(6)
    assert in_one_batch["sla_pauses"] == sorted(
        [("a", at(41), at(50)), ("a", at(63), at(70)), ("c", at(5), at(6))], key=repr
    )  # one pause for two waiting updates; closing ends it


def test_a_failed_batch_leaves_nothing_behind(store_url: str, in_one_batch: dict) -> None:
    p = projector(store_url)
    half = len(EVENTS) // 2
    apply_in_batches(p, EVENTS[:half], 4)
    broken = ev("assigned", "a", 99)  # no assignee, no sla: the batch fails
    with pytest.raises(KeyError):
        apply_in_batches(p, [*EVENTS[half : half + 3], broken], 10, start=half)
    apply_in_batches(p, EVENTS[half:], 3, start=half)
    assert dump(p) == in_one_batch
