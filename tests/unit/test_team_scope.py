"""An agent works their own tickets and their team's queue; a supervisor their teams'
(docs/process.md)."""

from __future__ import annotations

import pytest

from domain.actor import Actor
from domain.errors import Forbidden
from domain.policy import AgentConfig, TeamConfig
from domain.team_scope import check_scope, supervised_teams, ticket_teams

BILLING_1 = AgentConfig(id="B1", team="billing", supervisor="S1", skills=["billing", "zh"])
BILLING_2 = AgentConfig(id="B2", team="billing", skills=["complaint", "en"])
TECH_1 = AgentConfig(id="T1", team="tech", skills=["technical", "zh", "en"])
AGENTS = [BILLING_1, BILLING_2, TECH_1]
TEAMS = [TeamConfig(id="tech", supervisor="S2")]
REFUND = {"type": "complaint", "category": "billing/refund"}
OUTAGE = {"type": "technical", "category": "technical/outage"}


def agent(id: str) -> Actor:
    return Actor(id, "agent")


def act(
    actor: Actor,
    *,
    assignee: str | None = None,
    collaborators: tuple[str, ...] = (),
    ticket: dict = REFUND,
) -> None:
    check_scope(AGENTS, TEAMS, actor, assignee=assignee, collaborators=collaborators, **ticket)


class TestTheQueueOfATicket:
    def test_an_unassigned_ticket_is_in_the_queue_of_teams_skilled_in_its_category_or_type(self):
        assert ticket_teams(AGENTS, assignee=None, **REFUND) == {"billing"}
        assert ticket_teams(AGENTS, assignee=None, **OUTAGE) == {"tech"}

    def test_language_skills_put_no_ticket_in_a_queue(self):
        assert ticket_teams(AGENTS, assignee=None, type="other", category="general") == set()

    def test_a_ticket_held_by_a_listed_agent_is_their_teams(self):
        assert ticket_teams(AGENTS, assignee="T1", **REFUND) == {"tech"}

    def test_a_ticket_held_by_an_unlisted_id_stays_in_its_skill_queue(self):
        assert ticket_teams(AGENTS, assignee="X9", **REFUND) == {"billing"}


class TestAnAgentActs:
    def test_on_a_ticket_in_their_teams_queue(self):
        act(agent("B2"))

    def test_on_a_ticket_assigned_to_them_whatever_its_queue(self):
        act(agent("T1"), assignee="T1")

    def test_on_a_ticket_they_collaborate_on(self):
        act(agent("T1"), assignee="B1", collaborators=("T1",))

    def test_on_a_ticket_of_the_shared_queue(self):
        act(agent("T1"), ticket={"type": "other", "category": "general"})

    def test_when_the_directory_does_not_list_them(self):
        act(agent("X9"), assignee="B1")


class TestAnAgentIsRefused:
    def test_on_another_teams_unassigned_ticket(self):
        with pytest.raises(Forbidden, match=r"agent T1 of team 'tech'.*\['billing'\]"):
            act(agent("T1"))

    def test_on_a_ticket_another_teams_agent_holds(self):
        with pytest.raises(Forbidden, match="assigned to T1"):
            act(agent("B1"), assignee="T1", ticket=OUTAGE)


class TestASupervisor:
    def test_leads_the_teams_that_name_them_and_those_of_the_agents_they_supervise(self):
        assert supervised_teams(AGENTS, TEAMS, "S1") == {"billing"}
        assert supervised_teams(AGENTS, TEAMS, "S2") == {"tech"}

    def test_acts_on_their_teams_tickets(self):
        act(Actor("S1", "supervisor"))
        act(Actor("S2", "supervisor"), ticket=OUTAGE)

    def test_is_refused_another_teams_ticket(self):
        with pytest.raises(Forbidden, match=r"supervisor S2 of team\(s\) \['tech'\]"):
            act(Actor("S2", "supervisor"))

    def test_may_still_act_on_one_they_were_brought_into(self):
        act(Actor("S2", "supervisor"), assignee="B1", collaborators=("S2",))


def test_unlisted_supervisors_and_managers_are_not_held_to_a_team() -> None:
    act(Actor("S9", "supervisor"))
    act(Actor("M1", "manager"), assignee="T1")
