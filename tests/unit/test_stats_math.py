"""The statistics' math, without IO: percentiles, ratios, slices, SLA judging."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from projections.base import utc_text
from projections.stats import judge
from services.readside.stats import (
    Facts,
    StatsQuery,
    group_key,
    groups,
    high_frequency,
    metrics,
    percentile,
    ratio,
    summary,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)  # Tuesday 10:00 in Shanghai


def facts(**overrides: object) -> Facts:
    base: dict = dict(
        channel="email",
        type="complaint",
        category="billing/refund",
        priority="normal",
        assignee=None,
        team=None,
        status="open",
        received_at=T0,
        first_response_seconds=None,
        resolution_seconds=None,
        closed_once=False,
        reopens=0,
        escalations=0,
        score=None,
    )
    return Facts(**{**base, **overrides})


class TestPercentileByNearestRank:
    def test_the_median_of_three_is_the_middle_value(self) -> None:
        assert percentile([40, 10, 20], 50) == 20

    def test_p90_of_three_is_the_largest(self) -> None:
        # ceil(0.9 * 3) = 3rd smallest
        assert percentile([10, 20, 40], 90) == 40

    def test_an_even_count_takes_the_lower_middle_not_an_average(self) -> None:
        # ceil(0.5 * 4) = 2nd smallest; linear interpolation would give 30
        assert percentile([10, 20, 40, 60], 50) == 20

    def test_exact_ranks_do_not_round_up(self) -> None:
        values = list(range(1, 11))  # ceil(0.9 * 10) = 9 exactly, not 10
        assert percentile(values, 90) == 9
        assert percentile(values, 50) == 5
        assert percentile(values, 100) == 10

    def test_one_value_is_every_percentile(self) -> None:
        assert percentile([7.5], 50) == percentile([7.5], 90) == 7.5

    def test_no_values_give_none(self) -> None:
        assert percentile([], 50) is None

    def test_a_percentile_outside_0_to_100_is_refused(self) -> None:
        with pytest.raises(ValueError):
            percentile([1], 0)


class TestSummaryAndRatio:
    def test_summary_of_first_responses_in_minutes(self) -> None:
        s = summary([600, 1200, 2400])  # 10, 20, 40 minutes
        assert s["avg"] == pytest.approx(1400)  # 23.33 minutes
        assert (s["p50"], s["p90"], s["count"]) == (1200, 2400, 3)

    def test_an_empty_summary_is_all_null(self) -> None:
        assert summary([]) == {"avg": None, "p50": None, "p90": None, "count": 0}

    def test_a_ratio_without_a_denominator_is_undefined(self) -> None:
        assert ratio(0, 0) is None
        assert ratio(1, 4) == 0.25


class TestHighFrequency:
    def test_categories_at_or_above_the_share_most_frequent_first(self) -> None:
        cats = ["b", "a", "a", "c", "b", "a", "d", "e", "f", "g"]
        # a 3/10, b 2/10, the rest 1/10 each
        assert high_frequency(cats, 0.2) == [
            {"category": "a", "count": 3, "share": 0.3},
            {"category": "b", "count": 2, "share": 0.2},
        ]

    def test_ties_are_ordered_by_name_and_missing_is_none(self) -> None:
        assert [e["category"] for e in high_frequency(["z", None, "z", None], 0.5)] == ["none", "z"]

    def test_no_tickets_no_high_frequency(self) -> None:
        assert high_frequency([], 0.2) == []


class TestSlaJudging:
    due = utc_text("2026-11-24T10:15:00+08:00")

    def test_met_on_or_before_due_is_on_time(self) -> None:
        assert judge(self.due, utc_text("2026-11-24T02:15:00Z"), utc_text(T0)) is True

    def test_met_after_due_is_breached(self) -> None:
        assert judge(self.due, utc_text("2026-11-24T02:15:01Z"), utc_text(T0)) is False

    def test_unmet_is_breached_only_once_past_due(self) -> None:
        assert judge(self.due, None, utc_text(T0 + timedelta(minutes=15))) is None
        assert judge(self.due, None, utc_text(T0 + timedelta(minutes=16))) is False

    def test_a_target_not_started_is_never_judged(self) -> None:
        assert judge(None, utc_text(T0), utc_text(T0)) is None

    def test_times_compare_in_utc_whatever_offset_they_came_in(self) -> None:
        assert utc_text("2026-11-24T10:00:00+08:00") == utc_text("2026-11-24T02:00:00Z")
        assert utc_text("2026-11-24T02:00:00Z") == "2026-11-24T02:00:00.000000+00:00"


class TestMetrics:
    def test_rates_count_tickets_closed_at_least_once(self) -> None:
        rows = [
            facts(status="closed", closed_once=True, score=5),  # first contact
            facts(status="closed", closed_once=True, escalations=2, score=4),
            facts(status="assigned", closed_once=True, reopens=1, score=2),  # reopened
            facts(status="closed", closed_once=True),
            facts(),  # never closed: in no rate's denominator
        ]
        m = metrics(rows, 0.2)
        assert (m["tickets"], m["open"], m["closed"]) == (5, 2, 3)
        assert m["fcr_rate"] == 2 / 4
        assert m["reopen_rate"] == 1 / 4
        assert m["csat"] == 2 / 3 and m["ratings"] == 3
        assert m["escalations"] == 2
        assert m["by_status"] == {"assigned": 1, "closed": 3, "open": 1}

    def test_sla_compliance_is_on_time_over_judged(self) -> None:
        m = metrics([facts(sla_on_time=3, sla_judged=4), facts(sla_on_time=0, sla_judged=0)], 0.2)
        assert m["sla_compliance"] == 0.75
        assert m["sla_targets"] == {"on_time": 3, "breached": 1}

    def test_no_tickets_give_zero_counts_and_null_ratios(self) -> None:
        m = metrics([], 0.2)
        assert m["tickets"] == 0 and m["by_type"] == {}
        assert m["sla_compliance"] is m["fcr_rate"] is m["csat"] is m["reopen_rate"] is None
        assert m["first_response_seconds"]["avg"] is None


class TestGroupKeys:
    def test_days_weeks_and_months_are_local_to_the_calendar(self) -> None:
        # 16:30 UTC on Sunday 29 November is 00:30 on Monday 30 November in Shanghai.
        late = facts(received_at=datetime(2026, 11, 29, 16, 30, tzinfo=UTC))
        assert group_key(late, "day", SHANGHAI) == "2026-11-30"
        assert group_key(late, "week", SHANGHAI) == "2026-W49"
        assert group_key(late, "week", UTC) == "2026-W48"
        assert group_key(late, "month", SHANGHAI) == "2026-11"

    def test_the_iso_week_of_new_year_belongs_to_its_iso_year(self) -> None:
        new_year = facts(received_at=datetime(2027, 1, 1, 4, tzinfo=UTC))
        assert group_key(new_year, "week", SHANGHAI) == "2026-W53"
        assert group_key(new_year, "month", SHANGHAI) == "2027-01"

    def test_agent_and_team_are_the_last_assignees_or_none(self) -> None:
        assert group_key(facts(assignee="A007", team="support"), "team", UTC) == "support"
        assert group_key(facts(), "agent", UTC) == "none"

    def test_groups_are_sorted_slices_with_their_own_metrics(self) -> None:
        rows = [facts(channel="web"), facts(channel="chat"), facts(channel="web")]
        sliced = groups(rows, "channel", UTC, 0.2)
        assert list(sliced) == ["chat", "web"]
        assert sliced["web"]["tickets"] == 2


class TestStatsQuery:
    def test_from_is_accepted_by_its_contract_name(self) -> None:
        q = StatsQuery.model_validate({"from": "2026-11-01T00:00:00+08:00", "group_by": "week"})
        assert q.from_ == datetime(2026, 10, 31, 16, tzinfo=UTC)

    def test_a_time_without_a_zone_or_an_unknown_slice_is_refused(self) -> None:
        with pytest.raises(ValidationError):
            StatsQuery.model_validate({"from": "2026-11-01T00:00:00"})
        with pytest.raises(ValidationError):
            StatsQuery.model_validate({"group_by": "year"})
        with pytest.raises(ValidationError):
            StatsQuery.model_validate({"unknown": 1})

    def test_from_must_come_before_to(self) -> None:
        with pytest.raises(ValidationError):
            StatsQuery.model_validate(
                {"from": "2026-11-02T00:00:00Z", "to": "2026-11-01T00:00:00Z"}
            )
