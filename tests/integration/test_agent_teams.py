"""The command layer holds a listed agent to their team's tickets (defence in depth
behind the per-role NATS subjects)."""

from __future__ import annotations

from uuid import UUID

import pytest

from domain.errors import Forbidden
from domain.policy import AgentConfig, TeamConfig
from services.application.commands import CommandService
from services.application.desk import TicketDesk
from services.application.messages import HistoryQuery, TicketQuery
from services.application.queries import QueryService, role_checked
from services.application.registration import Registrar
from tests.integration.test_desk import command, events_of, request

BILLING = AgentConfig(id="B1", team="billing", supervisor="S1", skills=["billing"])
TECH = AgentConfig(id="T1", team="tech", supervisor="S2", skills=["technical"])
BILLING_AGENT, TECH_AGENT = {"id": "B1", "role": "agent"}, {"id": "T1", "role": "agent"}


@pytest.fixture
def refund(desk: TicketDesk) -> str:  # the ticket id
    """A refund complaint waiting in the billing team's queue (its lead assigns)."""
    desk.policy = desk.policy.model_copy(
        update={"agents": [BILLING, TECH], "teams": [TeamConfig(id="billing", mode="lead_chooses")]}
    )
    [r] = Registrar(desk).register([request("mail-1")])
    return str(r.ticket_id)


def test_an_agent_of_the_tickets_team_takes_it_and_works_it(desk, refund) -> None:
    service, b1 = CommandService(desk), {"id": "B1", "role": "agent"}
    command(service, "assign", refund, b1, assignee="B1")
    command(service, "update", refund, b1, note="退款已提交", visibility="customer")
    # B1's supervisor joins the complaint once B1 holds it
    assert events_of(desk, UUID(refund))[-3:] == ["Assigned", "Involved", "ProgressUpdated"]


def test_an_agent_of_another_team_is_refused_and_nothing_changes(desk, refund) -> None:
    service, t1 = CommandService(desk), {"id": "T1", "role": "agent"}
    with pytest.raises(Forbidden, match="team 'tech'"):
        command(service, "assign", refund, t1, assignee="T1")
    with pytest.raises(Forbidden):
        command(service, "close", refund, t1, resolution="not mine")
    assert events_of(desk, UUID(refund)) == ["Received", "Classified"]


def test_a_supervisor_may_hand_it_to_the_other_team_which_then_works_it(desk, refund) -> None:
    service = CommandService(desk)
    command(service, "assign", refund, {"id": "S001", "role": "supervisor"}, assignee="T1")
    command(service, "acknowledge", refund, {"id": "T1", "role": "agent"})
    with pytest.raises(Forbidden, match="assigned to T1"):
        command(
            service,
            "update",
            refund,
            {"id": "B1", "role": "agent"},
            note="mine?",
            visibility="internal",
        )


class TestReading:
    """The same rule for reading, when the query names its reader (the console and the
    HTTP API always do): an agent reads what they may work on."""

    def test_an_agent_reads_their_team_s_ticket_but_not_another_team_s(self, desk, refund) -> None:
        queries = role_checked({"ticket": QueryService(desk).ticket})
        mine = TicketQuery.model_validate({"ticket_id": refund, "actor": BILLING_AGENT})
        assert queries["ticket"](mine)["ticket"]["ticket_id"] == refund
        theirs = TicketQuery.model_validate({"ticket_id": refund, "actor": TECH_AGENT})
        with pytest.raises(Forbidden, match="team 'tech'"):
            queries["ticket"](theirs)
        with pytest.raises(Forbidden):
            QueryService(desk).history(
                HistoryQuery.model_validate({"ticket_id": refund, "actor": TECH_AGENT})
            )

    def test_analytics_reads_statistics_but_no_ticket(self, desk, refund) -> None:
        queries = role_checked({"ticket": QueryService(desk).ticket})
        asking = TicketQuery.model_validate(
            {"ticket_id": refund, "actor": {"id": "X1", "role": "analytics"}}
        )
        with pytest.raises(Forbidden, match="may not ask ticket"):
            queries["ticket"](asking)


class TestSupervisors:
    """A supervisor the directory names sees and acts on their team's tickets only."""

    def test_the_billing_supervisor_works_the_refund_and_the_tech_one_may_not(
        self, desk, refund
    ) -> None:
        service = CommandService(desk)
        command(service, "assign", refund, {"id": "S1", "role": "supervisor"}, assignee="B1")
        with pytest.raises(Forbidden, match=r"supervisor S2 of team\(s\) \['tech'\]"):
            command(service, "escalate", refund, {"id": "S2", "role": "supervisor"},
                    level="manager", reason="not mine")  # fmt: skip
        queries = role_checked({"ticket": QueryService(desk).ticket})
        theirs = TicketQuery.model_validate(
            {"ticket_id": refund, "actor": {"id": "S2", "role": "supervisor"}}
        )
        with pytest.raises(Forbidden):
            queries["ticket"](theirs)
        mine = TicketQuery.model_validate(
            {"ticket_id": refund, "actor": {"id": "S1", "role": "supervisor"}}
        )
        assert queries["ticket"](mine)["ticket"]["assignee"] == "B1"
