"""The reports view (who reported what, in which cluster) writes a batch at its end:
however the stream is cut into batches, the tables and the clusters come out the same,
a batch takes a few statements however many events it holds, and a batch that fails
leaves nothing behind."""

from __future__ import annotations

from typing import Any

import pytest

from infra.projector import Projector
from infra.readdb import ReadDB
from projections.reports import ReportsByProblem
from tests.unit.batches import (
    apply_in_batches,
    dump,
    statements_counted,
    tables_cut_into,
    tables_once_and_emptied,
)


def at(minute: int) -> str:
    return f"2026-11-24T{2 + minute // 60:02d}:{minute % 60:02d}:00.000000Z"


def ev(kind: str, ticket: str, minute: int, **data: Any) -> dict:
    return {
        "id": f"{ticket}-{kind}-{minute}",
        "type": f"ticketflow.ticket.{kind}.v1",
        "subject": ticket,
        "time": at(minute),
        "data": data,
    }


def received(ticket: str, minute: int, content: str, customer: str | None = None) -> dict:
    who = {"customer_id": customer} if customer else {"phone": "138****5678"}
    return ev("received", ticket, minute, received_at=at(minute), content=content, customer=who)


EVENTS = [
    received("a", 0, "APP登录后马上闪退,什么都点不了", "C1"),
    ev("classified", "a", 0, category="technical/app", impact="individual"),
    received("b", 1, "收不到短信验证码", "C2"),
    received("a", 2, "a repeat of a: its cluster stays", "C9"),
    ev("classified", "b", 1, category="account", impact="individual"),
    received("c", 3, "一登录app就直接退出了", "C3"),
    ev("classified", "c", 3, category=None, impact="individual"),  # keeps no category
    received("d", 4, "app登录闪退!!!已经试了三次了"),
    ev("impact_raised", "a", 5, impact="group"),
    ev("closed", "b", 6),
    ev("reopened", "b", 7),
    ev("closed", "c", 8),
    ev("personal_data_erased", "d", 9),  # a masked contact goes
    ev("personal_data_erased", "a", 9),  # a customer id stays
    ev("classified", "e", 10, category="billing", impact="individual"),  # never received
]


def projector(store_url: str) -> Projector:
    return Projector(ReportsByProblem(), ReadDB(store_url), js=None)  # type: ignore[arg-type]


@pytest.fixture
def in_one_batch(store_url: str) -> dict[str, list[tuple]]:
    return tables_once_and_emptied(projector(store_url), EVENTS)


@pytest.mark.parametrize("size", [1, 2, 5])
def test_the_tables_do_not_depend_on_how_the_stream_is_cut(
    store_url: str, in_one_batch: dict, size: int
) -> None:
    assert tables_cut_into(projector(store_url), EVENTS, size) == in_one_batch


def test_what_the_events_leave(in_one_batch: dict) -> None:
    # ticket_id, customer, received_at, category, impact, closed, cluster, similarity
    reports = {row[0]: row[1:7] for row in in_one_batch["reports"]}
    assert reports == {
        "a": ("customer_id:C1", at(0), "technical/app", "group", 0, "a"),
        "b": ("customer_id:C2", at(1), "account", "individual", 0, "b"),  # reopened
        "c": ("customer_id:C3", at(3), None, "individual", 1, "a"),
        "d": ("erased:d", at(4), None, None, 0, "a"),
    }
    assert [row[3] for row in sorted(in_one_batch["report_terms"], key=lambda r: r[3])] == [
        1,
        2,
        3,
        4,
    ]  # the order they were clustered in, each request once


def test_a_batch_takes_a_few_statements(store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    p = projector(store_url)
    apply_in_batches(p, EVENTS[:2], 2)  # the window is loaded once, before counting
    statements = statements_counted(monkeypatch)
    apply_in_batches(p, EVENTS[2:], len(EVENTS), start=2)
    # the position read and written, two reads, and a few writes of many rows each
    assert statements() <= 10


def test_a_failed_batch_leaves_nothing_behind(store_url: str, in_one_batch: dict) -> None:
    p = projector(store_url)
    half = len(EVENTS) // 2
    apply_in_batches(p, EVENTS[:half], 3)
    broken = ev("classified", "a", 99)  # no impact: the batch fails
    with pytest.raises(KeyError):
        apply_in_batches(p, [*EVENTS[half : half + 3], broken], 10, start=half)
    apply_in_batches(p, EVENTS[half:], 2, start=half)
    assert dump(p) == in_one_batch
