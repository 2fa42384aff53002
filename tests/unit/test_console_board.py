"""The board's filters live in the URL: parsed into the `board` query, and every link
changes one filter while keeping the others."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest
from pydantic import ValidationError

from services.edge.http.console.board import board_query, filters_of, link
from services.edge.http.console.i18n import WORDS

AGENT = {"id": "A007", "role": "agent"}


def test_the_url_s_filters_become_the_board_query_with_the_signed_in_actor() -> None:
    query = board_query({"mine": "1", "priority": "high", "state": "breached", "page": "3"}, AGENT)
    assert (query.mine, query.priority, query.state, query.page) == (True, "high", "breached", 3)
    assert query.actor is not None and query.actor.id == "A007"


def test_empty_values_are_no_filter_and_a_bad_page_is_the_first() -> None:
    assert filters_of({"priority": "", "type": "", "mine": ""}) == {}
    assert board_query({"page": "-2"}, AGENT).page == 1


def test_a_value_the_board_does_not_offer_is_refused_naming_the_field() -> None:
    with pytest.raises(ValidationError, match="channel"):
        board_query({"channel": "fax"}, AGENT)


def test_a_link_changes_one_filter_keeps_the_rest_and_starts_at_page_one() -> None:
    filters = filters_of({"mine": "1", "priority": "high", "page": "4"})
    url = link(filters, state="at_risk")
    assert parse_qs(urlparse(url).query) == {
        "mine": ["1"],
        "priority": ["high"],
        "state": ["at_risk"],
    }
    assert parse_qs(urlparse(link(filters, priority=None)).query) == {"mine": ["1"]}


def test_no_word_of_the_console_hides_behind_a_dict_method_in_templates() -> None:
    assert [key for key in WORDS if hasattr(dict, key)] == []
