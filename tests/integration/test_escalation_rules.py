"""Who answers for a ticket above its handler, on real stores: a complaint brings the
supervisor in, an urgent ticket the manager; an escalation reaches that handler's
supervisor; a compensation above one's authority needs an escalation first; a request
threatening the press goes to the manager at once."""

from __future__ import annotations

import dataclasses

import pytest

from domain.errors import Forbidden
from domain.policy import AgentConfig, TeamConfig
from services.application.commands import CommandService
from services.application.registration import Registrar
from tests.integration.test_desk import AGENT, SUPERVISOR, command, request

CARE = [
    AgentConfig(id="A007", team="care", supervisor="S009", skills=["complaint"]),
    AgentConfig(id="A008", team="care", supervisor="S010", skills=["complaint"]),
]


@pytest.fixture
def staffed(desk, policy):
    desk.policy = policy.model_copy(
        update={
            "agents": CARE,
            "teams": [TeamConfig(id="care", mode="lead_chooses", supervisor="S001")],
            "escalation": policy.escalation.model_copy(update={"manager": "M001"}),
        }
    )
    return desk


def arrive(desk, clock, external_id: str, content: str):
    req = dataclasses.replace(request(external_id, content=content), arrived_at=clock.now)
    [result] = Registrar(desk).register([req])
    return desk.load(result.ticket_id)


def events(desk, ticket_id, kind: str) -> list:
    return [e for e in desk.events.get(ticket_id) if type(e).__name__ == kind]


def test_a_complaint_brings_the_team_s_supervisor_in(staffed, clock) -> None:
    ticket = arrive(staffed, clock, "c-1", "客服态度恶劣,我要投诉")
    assert ticket.type == "complaint" and ticket.assignee is None
    [involved] = events(staffed, ticket.id, "Involved")
    assert (involved.person, involved.role, involved.reason) == ("S001", "supervisor", "complaint")
    assert "S001" in ticket.collaborators


def test_an_urgent_ticket_brings_the_manager_in_to_coordinate(staffed, clock) -> None:
    ticket = arrive(staffed, clock, "u-1", "我的账户被盗了,请立即冻结")
    assert ticket.priority == "urgent"
    people = {(e.person, e.reason) for e in events(staffed, ticket.id, "Involved")}
    assert ("M001", "urgent") in people


def test_an_escalation_reaches_the_handler_s_own_supervisor(staffed, clock) -> None:
    ticket = arrive(staffed, clock, "c-2", "退款迟迟不到,很不满意")
    service = CommandService(staffed)
    command(service, "assign", str(ticket.id), SUPERVISOR, assignee="A008")
    command(service, "escalate", str(ticket.id), AGENT | {"id": "A008"}, level="supervisor",
            reason="客户情绪激动")  # fmt: skip
    command(service, "escalate", str(ticket.id), AGENT | {"id": "A008"}, level="manager",
            reason="需要经理协调")  # fmt: skip
    sent = [(e.level, e.to) for e in events(staffed, ticket.id, "Escalated")]
    assert sent == [("supervisor", "S010"), ("manager", "M001")]
    assert "S010" in staffed.load(ticket.id).collaborators  # brought in when A008 took it


def test_a_compensation_above_the_agents_authority_needs_an_escalation_first(
    staffed, clock
) -> None:
    ticket = arrive(staffed, clock, "c-3", "商品破损,要求赔偿")
    ticket_id, service = str(ticket.id), CommandService(staffed)
    command(service, "assign", ticket_id, SUPERVISOR, assignee="A007")
    promise = {"note": "补偿您500元", "visibility": "customer", "compensation": 500}
    before = staffed.load(ticket.id).version
    with pytest.raises(Forbidden, match=r"above the agent's authority \(200 CNY\).*supervisor"):
        command(service, "update", ticket_id, AGENT, **promise)
    assert staffed.load(ticket.id).version == before  # nothing promised, nothing recorded
    command(service, "escalate", ticket_id, AGENT, level="supervisor", reason="赔偿超出权限")
    command(service, "update", ticket_id, AGENT, **promise)  # the supervisor's limit covers it
    with pytest.raises(Forbidden, match="escalate to the manager first"):
        command(service, "update", ticket_id, AGENT, **promise | {"compensation": 5000})
    [*_, promised] = events(staffed, ticket.id, "ProgressUpdated")
    assert promised.compensation == 500


def test_a_request_threatening_the_press_goes_to_the_manager_at_once(staffed, clock) -> None:
    ticket = arrive(staffed, clock, "m-1", "再不退款我就找媒体曝光")
    [escalated] = events(staffed, ticket.id, "Escalated")
    assert (escalated.level, escalated.reason, escalated.to) == (
        "manager",
        "media_complaint",
        "M001",
    )
