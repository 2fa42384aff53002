"""The SLA what-if on real stores: recorded tickets replayed under a candidate policy,
beside what was recorded, changing nothing."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from bench.lives import SteppingClock, record
from domain.sla_plan import Planner
from domain.whatif import replay_ticket
from infra.policy_file import load_policy, policy_from_text
from infra.readdb import ReadDB
from infra.store import store_env
from projections.stats import Statistics
from services.application.commands import CommandService
from services.application.desk import TicketDesk
from services.application.registration import Registrar
from services.application.whatif import WhatIf
from services.readside.stats import StatsQuery, StatsService
from tests.integration.projecting import projector, stream_of
from tests.integration.test_desk import AGENT, SUPERVISOR, command, request

START = datetime(2026, 10, 1, 1, tzinfo=UTC)  # a Thursday, 09:00 in Asia/Shanghai
END = datetime(2026, 11, 1, tzinfo=UTC)
STRICT = """
[[sla]]
clock = "wall"
first_response = "20m"
assignment = "10m"
acknowledge = "10m"
resolution = "4h"
"""
LENIENT_WAIT = """
[[sla]]
clock = "wall"
resolution = "2h"
"""


@pytest.fixture
def lived(store_url, tmp_path):
    """A month's store: 40 realistic tickets recorded under the shipped policy."""
    clock = SteppingClock(START)
    desk = TicketDesk(load_policy(), store_env(store_url, tmp_path), clock=clock)
    record(desk, clock, 40, start=START, every=timedelta(hours=6))
    yield desk
    desk.close()


def without_seconds(report: dict) -> dict:
    return {k: v for k, v in report.items() if k != "seconds"}


class TestUnderItsOwnPolicy:
    def test_every_event_gets_back_exactly_the_targets_it_recorded(self, lived) -> None:
        planner = Planner(lived.policy)
        tickets = WhatIf(lived).period(START, END)
        assert len(tickets) == 40
        for received, *stored in tickets.values():
            events = [received, *(lived.mapper.to_domain_event(n) for n in stored)]
            outcome = replay_ticket(events, planner, END)
            assert outcome.mismatches == 0, outcome.number
            assert outcome.whatif == outcome.recorded

    def test_the_report_shows_no_change_and_the_recorded_outcomes_are_varied(self, lived) -> None:
        report = WhatIf(lived).run(lived.policy, START, END)
        assert report["changed"] == []
        assert report["whatif"] == report["recorded"]
        assert report["recorded"]["sla_targets"]["met"] > 0
        assert report["recorded"]["sla_targets"]["breached"] > 0
        assert report["policy_version"]["running"] == lived.policy.version

    def test_the_recorded_compliance_is_the_statistics_compliance(self, lived, store_url) -> None:
        stats = projector(Statistics({}), store_url)
        stats.apply_batch(stream_of(lived))
        query = StatsQuery.model_validate({"from": START.isoformat(), "to": END.isoformat()})
        figures = StatsService(ReadDB(store_url), lived.policy, lambda: END).stats(query)
        report = WhatIf(lived).run(lived.policy, START, END)
        counted = report["recorded"]["sla_targets"]
        assert figures["stats"]["sla_targets"] == {
            "on_time": counted["met"],
            "breached": counted["breached"],
        }
        assert figures["stats"]["sla_compliance"] == pytest.approx(
            report["recorded"]["sla_compliance"]
        )


class TestUnderACandidate:
    def test_a_stricter_policy_breaches_what_was_met_and_names_each_change(self, lived) -> None:
        strict = policy_from_text(STRICT)
        report = WhatIf(lived).run(strict, START, END)
        assert report["policy_version"]["whatif"] == strict.version != lived.policy.version
        assert report["whatif"]["sla_compliance"] < report["recorded"]["sla_compliance"]
        assert report["changed"], "a 4-hour resolution must change some outcome"
        for change in report["changed"]:
            assert change["recorded"] != change["whatif"]
            assert set(change) == {"number", "target", "recorded", "whatif"}
        kept = {(c["number"], c["target"]) for c in report["changed"]}
        assert len(kept) == len(report["changed"])  # one line per ticket and target

    def test_it_writes_nothing_and_gives_the_same_answer_twice(self, lived) -> None:
        before = lived.recorder.max_notification_id()
        strict = policy_from_text(STRICT)
        first = WhatIf(lived).run(strict, START, END)
        again = WhatIf(lived).run(strict, START, END)
        assert without_seconds(first) == without_seconds(again)
        assert lived.recorder.max_notification_id() == before

    def test_breakdowns_by_type_priority_and_team_add_up_to_the_whole(self, lived) -> None:
        report = WhatIf(lived).run(policy_from_text(STRICT), START, END)
        for side in ("recorded", "whatif"):
            whole = report[side]["sla_targets"]
            for dimension in ("by_type", "by_priority", "by_team"):
                groups = report[side][dimension].values()
                assert sum(g["met"] for g in groups) == whole["met"]
                assert sum(g["breached"] for g in groups) == whole["breached"]

    def test_only_tickets_received_in_the_period_are_judged_as_of_its_end(self, lived) -> None:
        half = START + timedelta(days=5)
        report = WhatIf(lived).run(lived.policy, START, half)
        assert report["tickets"] == 20  # one every 6 hours
        assert report["to"] == half.isoformat()


class TestTheCourseOfATicketIsKept:
    """The candidate's targets live the recorded life: the same waits on the customer
    (the clock stands still), the same reassignments."""

    def test_a_wait_on_the_customer_moves_the_candidates_due_on(
        self, desk: TicketDesk, clock
    ) -> None:
        [r] = Registrar(desk).register([dataclasses.replace(request("w-1"), arrived_at=clock.now)])
        tid, service = str(r.ticket_id), CommandService(desk)
        command(service, "assign", tid, SUPERVISOR, assignee="A007")
        clock.advance(minutes=30)
        command(
            service,
            "update",
            tid,
            AGENT,
            note="need the order number",
            visibility="customer",
            waiting_on_customer=True,
        )
        clock.advance(hours=20)  # the customer takes 20 hours to answer
        command(service, "update", tid, AGENT, note="got it", visibility="internal")
        clock.advance(hours=1)
        command(service, "close", tid, AGENT, resolution="refunded")
        events = list(desk.events.get(r.ticket_id))
        outcome = replay_ticket(events, Planner(policy_from_text(LENIENT_WAIT)), clock.now)
        # 21.5 h from receipt to close, 20 of them waiting: 1.5 h of a 2 h resolution.
        assert outcome.whatif["resolution"] == (1, 0)

    def test_a_reassignment_starts_the_candidates_acknowledge_again(
        self, desk: TicketDesk, clock
    ) -> None:
        [r] = Registrar(desk).register([dataclasses.replace(request("w-2"), arrived_at=clock.now)])
        tid, service = str(r.ticket_id), CommandService(desk)
        command(service, "assign", tid, SUPERVISOR, assignee="A007")
        clock.advance(minutes=5)
        command(service, "decline", tid, AGENT, reason="not my area")
        clock.advance(minutes=5)
        command(service, "assign", tid, SUPERVISOR, assignee="A008")
        clock.advance(minutes=8)
        command(service, "acknowledge", tid, {"id": "A008", "role": "agent"})
        strict = policy_from_text(STRICT)  # acknowledge within 10 minutes, wall clock
        outcome = replay_ticket(list(desk.events.get(r.ticket_id)), Planner(strict), clock.now)
        assert outcome.whatif["acknowledge"] == (1, 0)  # 8 minutes after the second assignment
