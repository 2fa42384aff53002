"""`tickets.cmd.replan`: a manager applies the policy the service now runs to open
tickets, recording `SlaReplanned`; recorded history and past outcomes never change."""

from __future__ import annotations

import dataclasses
from uuid import UUID

import pytest

from domain.errors import Forbidden, IllegalState
from infra.policy_file import policy_from_text
from infra.readdb import ReadDB
from projections.sla import SlaView
from projections.stats import Statistics
from services.application import messages as m
from services.application.commands import CommandService
from services.application.desk import TicketDesk
from services.application.queries import QueryService
from services.application.registration import Registrar
from services.application.replanning import Replanner
from services.readside.stats import StatsQuery, StatsService
from tests.integration.projecting import projector, stream_of
from tests.integration.test_customer_process import fire
from tests.integration.test_desk import AGENT, SUPERVISOR, command, events_of, request

MANAGER = {"id": "M001", "role": "manager"}
NEXT_QUARTER = """
[[sla]]
clock = "wall"
first_response = "1h"
assignment = "30m"
acknowledge = "30m"
resolution = "48h"
"""


@pytest.fixture
def service(desk: TicketDesk) -> CommandService:
    return CommandService(desk)


def open_ticket(desk: TicketDesk, clock, external_id: str) -> str:
    req = dataclasses.replace(request(external_id), arrived_at=clock.now)
    [r] = Registrar(desk).register([req])
    return str(r.ticket_id)


def replanner(desk: TicketDesk, ids: list[str]) -> Replanner:
    return Replanner(desk, lambda: list(ids))


def replan(r: Replanner, **fields: object) -> dict:
    return r.replan(m.Replan.model_validate({"actor": MANAGER, **fields}))


class TestReplanningOneTicket:
    def test_the_new_policy_s_targets_are_recorded_beside_the_old_ones(
        self, desk, clock, service
    ) -> None:
        tid = open_ticket(desk, clock, "r-1")
        old = desk.load(UUID(tid)).sla
        old_version = desk.policy.version
        clock.advance(minutes=10)
        desk.policy = policy_from_text(NEXT_QUARTER)
        reply = replan(replanner(desk, [tid]), ticket_id=tid)
        assert reply["replanned"] is True and reply["policy_version"] == desk.policy.version
        [event] = [e for e in desk.events.get(UUID(tid)) if type(e).__name__ == "SlaReplanned"]
        assert event.actor == MANAGER and event.to_version == desk.policy.version
        assert event.new["resolution"]["duration"] == "48h"
        assert event.old["resolution"]["duration"] == old["resolution"]["duration"]
        assert event.old["resolution"]["policy"] == old_version
        assert event.new["resolution"]["started_at"] == old["resolution"]["started_at"]
        assert "analysis" not in desk.load(UUID(tid)).sla or "analysis" in event.new

    def test_replanning_again_changes_nothing_and_records_nothing(self, desk, clock) -> None:
        tid = open_ticket(desk, clock, "r-2")
        desk.policy = policy_from_text(NEXT_QUARTER)
        r = replanner(desk, [tid])
        assert replan(r, ticket_id=tid)["replanned"] is True
        events = events_of(desk, UUID(tid))
        assert replan(r, ticket_id=tid)["replanned"] is False
        assert events_of(desk, UUID(tid)) == events

    def test_a_ticket_already_on_the_running_policy_is_left_alone(self, desk, clock) -> None:
        tid = open_ticket(desk, clock, "r-3")
        assert replan(replanner(desk, [tid]), ticket_id=tid)["replanned"] is False
        assert "SlaReplanned" not in events_of(desk, UUID(tid))

    def test_a_met_target_keeps_its_recorded_outcome(self, desk, clock, service) -> None:
        tid = open_ticket(desk, clock, "r-4")
        command(service, "assign", tid, SUPERVISOR, assignee="A007")
        met = desk.load(UUID(tid)).sla["assignment"]
        assert met["met_at"] is not None
        desk.policy = policy_from_text(NEXT_QUARTER)
        replan(replanner(desk, [tid]), ticket_id=tid)
        assert desk.load(UUID(tid)).sla["assignment"] == met

    def test_a_target_the_new_plan_would_already_breach_keeps_its_old_plan(
        self, desk, clock
    ) -> None:
        tid = open_ticket(desk, clock, "r-5")
        before = desk.load(UUID(tid)).sla["resolution"]
        clock.advance(hours=3)
        desk.policy = policy_from_text(NEXT_QUARTER.replace('"48h"', '"2h"'))
        replan(replanner(desk, [tid]), ticket_id=tid)
        assert desk.load(UUID(tid)).sla["resolution"]["due"] == before["due"]

    def test_a_closed_ticket_cannot_be_replanned(self, desk, clock, service) -> None:
        tid = open_ticket(desk, clock, "r-6")
        command(service, "assign", tid, SUPERVISOR, assignee="A007")
        command(service, "close", tid, AGENT, resolution="done")
        desk.policy = policy_from_text(NEXT_QUARTER)
        with pytest.raises(IllegalState):
            replan(replanner(desk, [tid]), ticket_id=tid)

    def test_only_a_manager_may_replan(self, desk, clock) -> None:
        tid = open_ticket(desk, clock, "r-7")
        with pytest.raises(Forbidden):
            replanner(desk, [tid]).replan(m.Replan(ticket_id=tid, actor=SUPERVISOR))


class TestReplanningEveryOpenTicket:
    def test_all_open_replans_the_open_ones_and_a_second_run_finds_nothing_to_do(
        self, desk, clock, service
    ) -> None:
        ids = [open_ticket(desk, clock, f"a-{i}") for i in range(3)]
        command(service, "assign", ids[2], SUPERVISOR, assignee="A007")
        command(service, "close", ids[2], AGENT, resolution="done")
        closed = events_of(desk, UUID(ids[2]))
        desk.policy = policy_from_text(NEXT_QUARTER)
        r = replanner(desk, ids)  # the view may still list a ticket closed a moment ago
        first = replan(r, all_open=True)
        assert (first["replanned"], first["unchanged"], first["skipped"]) == (2, 0, 1)
        assert events_of(desk, UUID(ids[2])) == closed  # a closed ticket's record is untouched
        again = replan(r, all_open=True)
        assert (again["replanned"], again["unchanged"]) == (0, 2)

    def test_a_run_cut_short_is_finished_by_running_it_again(self, desk, clock) -> None:
        ids = [open_ticket(desk, clock, f"c-{i}") for i in range(3)]
        desk.policy = policy_from_text(NEXT_QUARTER)
        replan(replanner(desk, ids), ticket_id=ids[0])  # the crash came after the first
        rest = replan(replanner(desk, ids), all_open=True)
        assert (rest["replanned"], rest["unchanged"]) == (2, 1)
        for tid in ids:
            assert events_of(desk, UUID(tid)).count("SlaReplanned") == 1


class TestDroppedTargets:
    def test_a_dropped_target_goes_and_its_escalation_is_withdrawn_by_the_event(
        self, desk, clock, service
    ) -> None:
        tid = open_ticket(desk, clock, "d-1")
        t = desk.load(UUID(tid))
        assert "first_response" in t.sla
        clock.now = t.sla["first_response"]["due"]
        fire(desk, tid, "first_response")
        assert desk.load(UUID(tid)).escalated_targets
        desk.policy = policy_from_text('[[sla]]\nclock = "wall"\nresolution = "48h"\n')
        replan(replanner(desk, [tid]), ticket_id=tid)
        [event] = [e for e in desk.events.get(UUID(tid)) if type(e).__name__ == "SlaReplanned"]
        assert "first_response" in event.dropped and event.withdrawn
        after = desk.load(UUID(tid))
        assert "first_response" not in after.sla and not after.escalated_targets
        assert events_of(desk, UUID(tid)).count("Escalated") == 1  # history keeps it


class TestTheReadSideFollows:
    def test_statistics_group_compliance_by_the_policy_that_set_the_targets(
        self, desk, clock, store_url
    ) -> None:
        first = desk.policy.version
        ids = [open_ticket(desk, clock, f"s-{i}") for i in range(3)]
        desk.policy = policy_from_text(NEXT_QUARTER)
        replan(replanner(desk, ids[:1]), ticket_id=ids[0])
        stats = projector(Statistics({}), store_url)
        stats.apply_batch(stream_of(desk))
        query = StatsQuery.model_validate({"group_by": "policy_version"})
        reply = StatsService(ReadDB(store_url), desk.policy, clock).stats(query)
        groups = reply["stats"]["groups"]
        assert {k: g["tickets"] for k, g in groups.items()} == {
            first: 2,
            desk.policy.version: 1,
        }

    def test_the_sla_view_drops_a_dropped_target_and_keeps_the_rest(
        self, desk, clock, store_url
    ) -> None:
        tid = open_ticket(desk, clock, "v-1")
        desk.policy = policy_from_text('[[sla]]\nclock = "wall"\nresolution = "48h"\n')
        replan(replanner(desk, [tid]), ticket_id=tid)
        view = projector(SlaView(desk.policy.business_calendar), store_url)
        view.apply_batch(stream_of(desk))
        with view.db.transaction(write=False) as tx:
            rows = tx.execute(
                "SELECT target, duration FROM sla_targets WHERE ticket_id=?", (tid,)
            ).fetchall()
        assert dict(rows)["resolution"] == "48h"
        assert "first_response" not in dict(rows)

    def test_the_ticket_says_which_policy_each_target_came_from(self, desk, clock) -> None:
        tid = open_ticket(desk, clock, "q-1")
        first = desk.policy.version
        desk.policy = policy_from_text(NEXT_QUARTER)
        replan(replanner(desk, [tid]), ticket_id=tid)
        view = QueryService(desk).ticket(m.TicketQuery(ticket_id=tid))["ticket"]
        versions = {name: t["policy_version"] for name, t in view["sla"].items()}
        assert versions["resolution"] == desk.policy.version != first
