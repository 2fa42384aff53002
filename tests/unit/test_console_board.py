"""The board from the `sla` query's reply: one row per open ticket at its next target,
soonest first; counts over all of them; a page of rows at a time."""

from __future__ import annotations

from services.edge.http.console.board import PAGE, board_of
from services.edge.http.console.i18n import WORDS


def target(ticket: str, due: str, state: str = "on_track", assignee: str | None = None) -> dict:
    return {
        "ticket_id": ticket,
        "number": f"CS-{ticket}",
        "target": "resolution",
        "due": due,
        "state": state,
        "assignee": assignee,
        "priority": "normal",
        "status": "open",
    }


def test_each_ticket_shows_once_at_its_soonest_target_and_the_counts_cover_all() -> None:
    reply = {
        "now": "t",
        "targets": [
            target("a", "2026-01-01T01:00:00Z", "breached"),
            target("b", "2026-01-01T02:00:00Z", "at_risk", assignee="A1"),
            target("a", "2026-01-01T03:00:00Z"),
            target("c", "2026-01-01T04:00:00Z"),
        ],
    }
    board = board_of(reply)
    assert [r["ticket_id"] for r in board["rows"]] == ["a", "b", "c"]
    assert board["counts"] == {"open": 3, "unassigned": 2, "at_risk": 1, "breached": 1}


def test_a_long_queue_is_shown_a_page_at_a_time() -> None:
    many = [target(f"t{i:05d}", f"2026-01-01T00:00:{i % 60:02d}Z") for i in range(PAGE * 2 + 5)]
    reply = {"now": "t", "targets": sorted(many, key=lambda t: t["due"])}
    first, last = board_of(reply, 1), board_of(reply, 99)
    assert len(first["rows"]) == PAGE and first["pages"] == 3
    assert last["page"] == 3 and len(last["rows"]) == 5
    assert first["counts"]["open"] == PAGE * 2 + 5


def test_no_word_of_the_console_hides_behind_a_dict_method_in_templates() -> None:
    assert [key for key in WORDS if hasattr(dict, key)] == []
