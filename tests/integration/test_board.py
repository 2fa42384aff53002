"""The queue board (`board` query): open tickets soonest due first, their state as the
SLA query judges it, counts that read as tabs, and filters — on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest

from domain.policy import AgentConfig
from domain.sla import at_risk_from
from infra.readdb import ReadDB
from projections.sla import SlaView, summary_of
from services.application.commands import CommandService
from services.application.registration import Registrar
from services.readside.board import PAGE, BoardQuery, BoardService
from services.readside.sla import SlaQuery, SlaService
from tests.integration.projecting import project, projector
from tests.integration.test_desk import AGENT, SUPERVISOR, command, request

AGENTS = [
    AgentConfig(id="A007", team="aftersales", supervisor="S007", skills=["complaint"]),
    AgentConfig(id="A008", team="tech", skills=["technical"]),
]


@pytest.fixture
def staffed(policy):
    return policy.model_copy(update={"agents": AGENTS})


@pytest.fixture
def board(desk, store_url, staffed, clock):
    """Project what the desk stored, then ask the board."""
    view = projector(SlaView(staffed.business_calendar, staffed.agents), store_url)

    def ask(**fields) -> dict:
        project(desk, view)
        return BoardService(view.db, staffed, clock).board(BoardQuery.model_validate(fields))

    return ask


def opened(desk, *requests):
    """Register the requests; the tickets as the desk holds them (`ticket_id`, `number`)."""
    return [desk.load(r.ticket_id) for r in Registrar(desk).register(list(requests))]


def numbers(reply: dict) -> list[str]:
    return [row["number"] for row in reply["rows"]]


def test_a_row_shows_the_first_line_of_the_request_and_its_classification(desk, board) -> None:
    (ticket,) = opened(
        desk,
        *[request("m-1", content="\n  APP 登录后闪退,电话 13812345678\n第二行细节", channel="app")],
    )
    (row,) = board()["rows"]
    assert row["number"] == ticket.number
    assert row["summary"] == "APP 登录后闪退,电话 138****5678"  # masked as the stream is
    assert row["channel"] == "app"
    assert row["type"] and row["category"] and row["priority"] and row["impact"]
    assert row["target"] and row["due"] and row["state"] == "on_track"


def test_a_long_first_line_is_cut_with_an_ellipsis() -> None:
    assert summary_of(None, "x" * 500) == "x" * 119 + "…"
    assert summary_of("  Subject  ", "body") == "Subject"


def test_a_control_character_in_the_first_line_reads_as_a_space(desk, board) -> None:
    """A NUL in a request's text is not refused at intake, and PostgreSQL refuses it in a
    text column: the view must not stall on it."""
    opened(desk, request("m-1", content="页面\x00白屏\x1b\n第二行"))
    (row,) = board()["rows"]
    assert row["summary"] == "页面 白屏"


def test_the_board_judges_each_ticket_as_the_sla_query_does_at_every_moment(
    desk, board, store_url, staffed, clock
) -> None:
    """Just before and after the moment the next target turns at risk, and its due."""
    (ticket,) = opened(desk, request("m-1"))
    sla = SlaService(ReadDB(store_url), staffed, clock)
    board()  # projected
    (first,) = sla.open_targets(str(ticket.id))[:1]
    at_risk = at_risk_from(first, staffed.business_calendar)
    assert at_risk is not None
    second = timedelta(seconds=1)
    moments = [at_risk - second, at_risk + second, first["due"] - second, first["due"] + second]
    seen = []
    for moment in moments:
        clock.now = moment
        (row,) = board()["rows"]
        expected = sla.sla(SlaQuery(ticket_id=str(ticket.id)))["targets"][0]
        assert (row["target"], row["state"]) == (expected["target"], expected["state"])
        seen.append(row["state"])
    assert seen == ["on_track", "at_risk", "at_risk", "breached"]


def test_counts_tell_breached_and_still_running_from_a_target_met_late(desk, board, clock) -> None:
    late, _ = opened(desk, request("m-1"), request("m-2"))
    clock.advance(days=3)  # every first target of both is past due
    breached = board()
    assert breached["counts"]["breached_open"] == 2 and breached["counts"]["breached"] == 2
    command(CommandService(desk), "assign", str(late.id), SUPERVISOR, assignee="A007")
    after = board()["counts"]
    assert after["breached"] == 2  # the assignment was late: it still counts as missed
    rows = {row["number"]: row for row in board()["rows"]}
    assert rows[late.number]["target"] != "assignment"
    assert after["open"] == 2 and after["unassigned"] == 1


def test_the_soonest_due_ticket_comes_first_and_a_long_queue_is_paged(desk, board, clock) -> None:
    registrar = Registrar(desk)
    for i in range(PAGE + 5):
        registrar.register([request(f"m-{i}")])
        clock.advance(seconds=10)
    first, second = board(), board(page=2)
    dues = [row["due"] for row in first["rows"] + second["rows"]]
    assert dues == sorted(dues)
    assert len(first["rows"]) == PAGE and len(second["rows"]) == 5
    assert first["pages"] == 2 and first["total"] == PAGE + 5
    assert board(page=99)["page"] == 2  # past the end: the last page


class TestFilters:
    @pytest.fixture
    def queue(self, desk, clock):
        """A complaint assigned to A007 (aftersales), a technical fault for the tech team,
        an unassigned complaint, and a consultation no team's skills cover."""
        service = CommandService(desk)
        mine, tech, waiting, shared = opened(
            desk,
            *[
                request("m-1", content="收到的商品与描述不符,要求退款!投诉!"),
                request("m-2", content="页面白屏,报错500", channel="web"),
                request("m-3", content="投诉:快递员态度恶劣"),
                request("m-4", content="请问你们营业时间是几点?", channel="phone"),
            ],
        )
        for t, kind in ((mine, "complaint"), (tech, "technical"), (waiting, "complaint")):
            command(
                service,
                "classify",
                str(t.id),
                SUPERVISOR,
                type=kind,
                category="product" if kind == "complaint" else "technical",
                priority="high" if t is tech else "normal",
                reason="test",
            )
        command(service, "classify", str(shared.id), SUPERVISOR, type="consultation",
                category="general", priority="low", reason="test")  # fmt: skip
        command(service, "assign", str(mine.id), SUPERVISOR, assignee="A007")
        return {"mine": mine.number, "tech": tech.number, "waiting": waiting.number,
                "shared": shared.number}  # fmt: skip

    def test_mine_unassigned_priority_and_channel(self, board, queue) -> None:
        assert numbers(board(mine=True, actor=AGENT)) == [queue["mine"]]
        assert queue["mine"] not in numbers(board(unassigned=True))
        assert numbers(board(priority="high")) == [queue["tech"]]
        assert numbers(board(channel="phone")) == [queue["shared"]]
        assert set(numbers(board(type="complaint"))) == {queue["mine"], queue["waiting"]}

    def test_a_team_s_queue_holds_what_its_skills_cover_and_what_its_agents_hold(
        self, board, queue
    ) -> None:
        assert set(numbers(board(team="aftersales"))) == {queue["mine"], queue["waiting"]}
        assert numbers(board(team="tech")) == [queue["tech"]]
        assert set(numbers(board(my_team=True, actor=AGENT))) == {queue["mine"], queue["waiting"]}

    def test_an_agent_sees_their_team_s_queue_their_tickets_and_the_shared_queue(
        self, board, queue
    ) -> None:
        seen = set(numbers(board(actor=AGENT)))
        assert seen == {queue["mine"], queue["waiting"], queue["shared"]}

    def test_a_supervisor_sees_their_team_s_queue_and_the_shared_queue(self, board, queue) -> None:
        lead = {"id": "S007", "role": "supervisor"}  # A007's supervisor: aftersales
        assert set(numbers(board(actor=lead))) == {queue["mine"], queue["waiting"], queue["shared"]}
        assert len(numbers(board(actor=SUPERVISOR))) == 4  # S001 leads no team in the directory

    def test_the_sla_list_is_scoped_as_the_board_is(
        self, desk, store_url, staffed, clock, queue
    ) -> None:
        view = projector(SlaView(staffed.business_calendar, staffed.agents), store_url)
        project(desk, view)
        sla = SlaService(view.db, staffed, clock)
        lead = SlaQuery.model_validate({"actor": {"id": "S007", "role": "supervisor"}})
        seen = {t["number"] for t in sla.sla(lead)["targets"]}
        assert seen == {queue["mine"], queue["waiting"], queue["shared"]}
        assert queue["tech"] in {t["number"] for t in sla.sla(SlaQuery())["targets"]}

    def test_a_category_takes_its_subcategories_and_counts_stay_tabs(
        self, board, queue, clock
    ) -> None:
        assert set(numbers(board(category="tech"))) == set()  # a prefix is not a category
        assert numbers(board(category="technical")) == [queue["tech"]]
        clock.advance(days=5)
        breached = board(state="breached")
        assert breached["counts"]["open"] == 4  # the state filter leaves the counts whole
        assert breached["total"] == breached["counts"]["breached_open"]

    def test_a_value_the_board_does_not_know_is_refused_by_name(self) -> None:
        with pytest.raises(ValueError, match="priority"):
            BoardQuery.model_validate({"priority": "<script>"})


def test_a_paused_ticket_is_judged_when_its_clock_stopped(desk, board, clock) -> None:
    (ticket,) = opened(desk, request("m-1"))
    service = CommandService(desk)
    command(service, "assign", str(ticket.id), SUPERVISOR, assignee="A007")
    command(service, "acknowledge", str(ticket.id), AGENT)
    note = {"note": "哪个订单?", "visibility": "customer", "waiting_on_customer": True}
    command(service, "update", str(ticket.id), AGENT, **note)
    before = board()["rows"][0]
    clock.advance(days=30)
    (row,) = board()["rows"]
    assert row["paused_at"] and row["state"] == before["state"] != "breached"


def test_intake_weighs_each_agents_open_tickets_as_the_read_side_counts_them(
    desk, store_url, policy, clock
) -> None:
    """After a restart (a new intake process) and across instances, the load is every
    open ticket each agent holds, not this process's own assignments."""
    twins = [AgentConfig(id=i, team="care", skills=["complaint"]) for i in ("A1", "A2")]
    desk.policy = policy.model_copy(update={"agents": twins})
    view = projector(SlaView(desk.policy.business_calendar, desk.policy.agents), store_url)
    service = CommandService(desk)
    for n in range(3):  # assigned by hand, not by any intake process
        [r] = Registrar(desk).register([request(f"held-{n}", content="要求退款")])
        command(service, "assign", str(r.ticket_id), SUPERVISOR, assignee="A1")
    project(desk, view)
    restarted = Registrar(desk, BoardService(view.db, desk.policy, clock).open_load)
    [fresh] = restarted.register([request("new-1", content="要求退款")])
    ticket = desk.load(fresh.ticket_id)
    assert ticket.candidates == ["A2", "A1"] and ticket.assignee == "A2"
