"""Planning SLA targets from a ticket's facts: the one rule intake, reclassification and
group impact all follow (`domain.sla.replan`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from domain.sla import Facts, SlaRule, replan
from infra.policy_file import load_policy

POLICY = load_policy()
CALENDAR = POLICY.business_calendar
RECEIVED = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)  # Tuesday 10:00 in Shanghai


def facts(**changes: str) -> Facts:
    base = {
        "type": "technical",
        "category": "technical/front-end",
        "priority": "normal",
        "urgency": "normal",
        "impact": "individual",
        "channel": "web",
    }
    return Facts(**{**base, **changes})


def plan_for(f: Facts, now: datetime = RECEIVED, previous: dict | None = None) -> dict:
    return replan(
        POLICY.sla, f, received_at=RECEIVED, now=now, calendar=CALENDAR, previous=previous
    )


class TestTheFirstMatchingRuleDecides:
    def test_an_urgent_ticket_takes_the_green_channel_whatever_its_type(self) -> None:
        sla = plan_for(facts(priority="urgent", type="complaint"))
        assert sla["first_response"]["clock"] == "wall"
        assert sla["first_response"]["due"] == RECEIVED + timedelta(minutes=30)

    def test_a_normal_technical_ticket_gets_eight_elapsed_hours(self) -> None:
        sla = plan_for(facts())
        assert sla["first_response"]["duration"] == "8h"
        assert sla["first_response"]["due"] == RECEIVED + timedelta(hours=8)


class TestWhatAnHourMeans:
    """As the process reads: hours are elapsed hours, working days are counted on the
    calendar; a team may give a target working hours instead (`clocks`)."""

    def test_a_complaint_is_resolved_within_48_elapsed_hours(self) -> None:
        sla = plan_for(facts(type="complaint", category="billing/refund"))
        assert sla["resolution"]["due"] == RECEIVED + timedelta(hours=48)
        assert sla["update_every"]["due"] == RECEIVED + timedelta(hours=24)

    def test_an_urgent_technical_ticket_is_diagnosed_within_2_hours(self) -> None:
        sla = plan_for(facts(priority="urgent", urgency="urgent"))
        assert sla["analysis"]["due"] == RECEIVED + timedelta(hours=2)
        assert sla["first_response"]["due"] == RECEIVED + timedelta(minutes=30)

    def test_a_night_request_is_assigned_in_working_minutes_as_the_team_chose(self) -> None:
        friday_night = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)  # 20:00 in Shanghai
        sla = replan(
            POLICY.sla,
            facts(type="complaint"),
            received_at=friday_night,
            now=friday_night,
            calendar=CALENDAR,
        )
        monday_0905 = datetime(2026, 11, 30, 1, 5, tzinfo=UTC)
        assert sla["assignment"]["due"] == monday_0905
        assert sla["first_response"]["due"] == friday_night + timedelta(hours=4)

    def test_a_team_may_give_one_target_working_hours(self) -> None:
        rule = SlaRule(when={}, clock="wall", clocks={"resolution": "business"},
                       first_response="4h", resolution="4h")  # fmt: skip
        sla = replan([rule], facts(), received_at=RECEIVED, now=RECEIVED, calendar=CALENDAR)
        assert sla["first_response"]["due"] == RECEIVED + timedelta(hours=4)
        assert sla["resolution"]["clock"] == "business"

    def test_a_clock_for_a_target_that_does_not_exist_is_refused(self) -> None:
        import pytest
        from pydantic import ValidationError

        with pytest.raises(ValidationError, match="unknown target"):
            SlaRule(clocks={"resolve": "wall"})

    def test_no_matching_rule_means_no_targets(self) -> None:
        only_complaints = [SlaRule(when={"type": "complaint"}, first_response="4h")]
        sla = replan(
            only_complaints, facts(), received_at=RECEIVED, now=RECEIVED, calendar=CALENDAR
        )
        assert sla == {}


class TestReplanningKeepsWhatIsRunning:
    def test_receipt_targets_run_from_arrival_and_assignment_from_now(self) -> None:
        later = RECEIVED + timedelta(minutes=20)
        sla = plan_for(facts(), now=later)
        assert sla["first_response"]["started_at"] == RECEIVED
        assert sla["assignment"]["started_at"] == later
        assert sla["acknowledge"]["started_at"] is None  # waits for an assignment

    def test_a_raised_priority_keeps_each_running_target_s_start(self) -> None:
        before = plan_for(facts())
        later = RECEIVED + timedelta(hours=1)
        after = plan_for(facts(priority="high"), now=later, previous=before)
        assert after["first_response"]["duration"] == "2h"
        assert after["first_response"]["started_at"] == RECEIVED
        assert after["assignment"]["started_at"] == before["assignment"]["started_at"]


class TestTheAtRiskShareIsThePolicys:
    def test_a_target_turns_at_risk_at_the_policy_s_share_of_its_time(self) -> None:
        from domain.sla import at_risk_from, state

        target = plan_for(facts(priority="urgent", urgency="urgent"))["first_response"]  # 30m
        at_18m = RECEIVED + timedelta(minutes=18)  # 60 % used
        assert state(target, at_18m, CALENDAR) == "on_track"  # the default share is 80 %
        assert state(target, at_18m, CALENDAR, share=0.5) == "at_risk"
        assert at_risk_from(target, CALENDAR, 0.5) == RECEIVED + timedelta(minutes=15)

    def test_another_share_rebuilds_the_board_s_stored_at_risk_instants(self) -> None:
        from projections.sla import SlaView

        assert SlaView(CALENDAR).version != SlaView(CALENDAR, at_risk_share=0.7).version
        assert POLICY.goals.at_risk_share == 0.8
