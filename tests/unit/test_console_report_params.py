"""The report pages' URL parameters and links: days in the policy's time zone with both
ends included, the default period, refusals that name the parameter, links that say
exactly which tickets they mean, and audit entries told as plain text."""

from __future__ import annotations

import re
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from services.edge.http.console import i18n
from services.edge.http.console.reports import (
    GROUPS,
    AuditParams,
    ListParams,
    StatsParams,
    audit_query,
    describe,
    group_filters,
    link,
    list_query,
    parse,
    stats_queries,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
PAGES = ("stats", "tickets", "audit")
TODAY = date(2026, 11, 24)
ACTOR = {"id": "M001", "role": "manager"}


class TestThePeriod:
    def test_without_one_it_is_the_last_30_days_today_included(self) -> None:
        p = parse(StatsParams, {}, today=TODAY)
        assert (p.from_, p.to, p.group_by) == (date(2026, 10, 26), TODAY, "type")

    def test_a_start_alone_runs_to_today(self) -> None:
        p = parse(StatsParams, {"from": "2026-11-01", "to": ""}, today=TODAY)
        assert (p.from_, p.to) == (date(2026, 11, 1), TODAY)

    def test_days_are_asked_as_the_policy_s_midnights_the_last_day_included(self) -> None:
        p = parse(StatsParams, {"from": "2026-11-01", "to": "2026-11-30"}, today=TODAY)
        queries = stats_queries(p, SHANGHAI, ACTOR)
        assert set(queries) == {"day", "priority", "team", "type"}
        assert queries["day"].from_ == datetime(2026, 11, 1, tzinfo=SHANGHAI)
        assert queries["day"].to == datetime(2026, 12, 1, tzinfo=SHANGHAI)

    @pytest.mark.parametrize(
        ("params", "named"),
        [
            ({"from": "2026-11-31"}, "from"),
            ({"from": "24.11.2026"}, "from"),
            ({"to": "1700000000"}, "to"),
            ({"from": "1999-12-31"}, "from"),
            ({"from": "2026-11-25", "to": "2026-11-24"}, "`from` must not be after `to`"),
            ({"from": "2025-01-01", "to": "2026-11-24"}, "366 days"),
            ({"group_by": "moon"}, "group_by"),
            ({"lang": "en"}, "lang"),
        ],
    )
    def test_a_bad_value_is_refused_by_name(self, params, named) -> None:
        with pytest.raises(ValidationError, match=named):
            parse(StatsParams, params, today=TODAY)


class TestLinks:
    def test_a_link_names_its_filters_and_encodes_their_values(self) -> None:
        url = link(**{"from": date(2026, 11, 1)}, category="a&b/c", breached=True, team=None)
        assert url == "/tickets?from=2026-11-01&category=a%26b%2Fc&breached=true"

    def test_a_week_or_a_month_is_its_days_within_the_period(self) -> None:
        p = StatsParams.model_validate(
            {"from": "2026-11-25", "to": "2026-12-10"}, context={"today": TODAY}
        )
        assert group_filters("week", "2026-W48", p) == {
            "from": date(2026, 11, 25),
            "to": date(2026, 11, 29),
        }
        assert group_filters("month", "2026-12", p) == {
            "from": date(2026, 12, 1),
            "to": date(2026, 12, 10),
        }
        assert group_filters("day", "2026-11-30", p) == {
            "from": date(2026, 11, 30),
            "to": date(2026, 11, 30),
        }
        assert group_filters("agent", "none", p) == {"agent": "none"}


class TestTheTicketList:
    def test_days_and_flags_become_the_query(self) -> None:
        p = parse(
            ListParams,
            {
                "from": "2026-11-24",
                "to": "2026-11-24",
                "closed_from": "2026-11-25",
                "breached": "true",
                "priority": "high",
                "page": "2",
            },
        )
        q = list_query(p, SHANGHAI, ACTOR)
        assert (q.from_, q.to) == (
            datetime(2026, 11, 24, tzinfo=SHANGHAI),
            datetime(2026, 11, 25, tzinfo=SHANGHAI),
        )
        assert q.closed_from == datetime(2026, 11, 25, tzinfo=SHANGHAI) and q.closed_to is None
        assert (q.breached, q.priority, q.page, q.limit) == (True, "high", 2, 100)

    @pytest.mark.parametrize(
        ("params", "named"),
        [
            ({"breached": "perhaps"}, "breached"),
            ({"status": "lost"}, "status"),
            ({"page": "0"}, "page"),
            ({"limit": "501"}, "limit"),
            ({"agent": "A\x00"}, "agent"),
            ({"colour": "red"}, "colour"),
        ],
    )
    def test_a_bad_value_is_refused_by_name(self, params, named) -> None:
        with pytest.raises(ValidationError, match=named):
            parse(ListParams, params)


class TestTheAuditTrail:
    def test_a_ticket_is_a_number_or_an_id(self) -> None:
        by_number = audit_query(parse(AuditParams, {"ticket": "CS202611240001"}), SHANGHAI, ACTOR)
        uuid = "1b7d357a-0000-4000-8000-000000000001"
        by_id = audit_query(parse(AuditParams, {"ticket": uuid, "after": "7"}), SHANGHAI, ACTOR)
        assert (by_number.number, by_number.ticket_id) == ("CS202611240001", None)
        assert (by_id.ticket_id, by_id.number, by_id.after) == (uuid, None, 7)

    def test_an_event_is_told_in_one_line_of_plain_text(self) -> None:
        said = describe(
            "ProgressUpdated", {"note": "<b>checked</b>\nsecond line", "visibility": "customer"}
        )
        assert said == "visibility: customer · note: <b>checked</b>"  # escaped by the page
        received = describe("Received", {"channel": "web", "content": "\n 页面白屏\n报错"})
        assert received == "web: 页面白屏"
        long = describe("Closed", {"resolution": "x" * 500})
        assert len(long) == 160 and long.endswith("…")


def test_every_word_the_report_pages_use_is_in_both_languages() -> None:
    console = Path(i18n.__file__).parent
    texts = [(console / "templates" / f"{name}.html").read_text() for name in PAGES]
    texts += [(console / f"{name}.py").read_text() for name in ("reports", "report_pages")]
    used = {m for text in texts for m in re.findall(r"\bw(?:\.(\w+)|\[\"(\w+)\"\])", text)}
    keys = {a or b for a, b in used} | {f"g_{g}" for g in GROUPS}
    keys |= {"tickets_total", "open", "closed_now", "nav_board", "nav_stats", "nav_audit"}
    assert keys - set(i18n.WORDS) == set()
    assert all(zh and en for zh, en in i18n.WORDS.values())
