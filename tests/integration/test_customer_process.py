"""The customer's side of the process and the handler's helpers, on real stores: replies
to an existing ticket, confirming a closed one, declining an assignment, asking another
department, promising a feedback time, and the communication record (demand and mood)."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from uuid import UUID

import pytest
from pydantic import ValidationError

from domain.errors import Forbidden, IllegalState, Invalid
from domain.ticket import ticket_id_for
from services.application.commands import CommandService
from services.application.desk import TicketDesk
from services.application.registration import Registrar
from services.automation.sla_watcher import Alarm, SlaWatcher
from tests.integration.test_desk import AGENT, SUPERVISOR, command, events_of, request

CUSTOMER = {"id": "email", "role": "channel"}


@pytest.fixture
def registrar(desk: TicketDesk) -> Registrar:
    return Registrar(desk)


@pytest.fixture
def service(desk: TicketDesk) -> CommandService:
    return CommandService(desk)


def arrived(req, clock):
    return dataclasses.replace(req, arrived_at=clock.now)


def new_ticket(registrar, clock, external_id="mail-1", **extra) -> str:
    [result] = registrar.register([arrived(request(external_id, **extra), clock)])
    return str(result.ticket_id)


def fire(desk: TicketDesk, ticket_id: str, target: str, level: str = "supervisor") -> None:
    """What the SLA watcher does when the target's alarm goes off (its scheduling from the
    SLA view is tested end to end in test_sla_watcher)."""
    due = desk.load(_uuid(ticket_id)).sla[target]["due"]
    SlaWatcher(desk, view=None)._escalate_all(  # type: ignore[arg-type]
        [Alarm(due, 0, ticket_id, target, due, level)]
    )


def _uuid(text: str) -> UUID:
    return UUID(text)


class TestCustomerReplies:
    def test_a_reply_naming_the_ticket_number_is_recorded_on_it_not_as_a_new_ticket(
        self, desk, registrar, clock
    ) -> None:
        ticket_id = new_ticket(registrar, clock)
        number = desk.load(_uuid(ticket_id)).number
        clock.advance(hours=1)
        reply = request("mail-2", content="我的电话是13812345678,请回电", ticket=number)
        [result] = registrar.register([arrived(reply, clock)])
        assert str(result.ticket_id) == ticket_id and result.new
        assert events_of(desk, _uuid(ticket_id))[-1] == "CustomerReplied"
        replied = desk.events.get(_uuid(ticket_id))
        last = list(replied)[-1]
        assert last.content == "我的电话是138****5678,请回电"  # kept masked; sealed verbatim
        assert last.sealed and last.actor == {"id": "email", "role": "channel"}
        assert desk.exists(ticket_id_for("email", "mail-2"))  # the reply's own id is taken

    def test_the_same_reply_delivered_twice_is_recorded_once(self, desk, registrar, clock) -> None:
        ticket_id = new_ticket(registrar, clock)
        reply = arrived(request("mail-2", content="补充一张照片", ticket=ticket_id), clock)
        [first] = registrar.register([reply])
        [again] = registrar.register([reply])
        assert first.new and not again.new
        assert events_of(desk, _uuid(ticket_id)).count("CustomerReplied") == 1

    def test_an_email_thread_finds_its_ticket_through_in_reply_to(
        self, desk, registrar, clock
    ) -> None:
        ticket_id = new_ticket(registrar, clock, external_id="<first@mail>")
        registrar.register([arrived(request("<second@mail>", in_reply_to="<first@mail>"), clock)])
        registrar.register([arrived(request("<third@mail>", in_reply_to="<second@mail>"), clock)])
        assert events_of(desk, _uuid(ticket_id)).count("CustomerReplied") == 2

    def test_a_reply_resumes_a_clock_paused_while_waiting_on_the_customer(
        self, desk, registrar, service, clock
    ) -> None:
        ticket_id = new_ticket(registrar, clock)
        command(service, "assign", ticket_id, SUPERVISOR, assignee="A007")
        command(
            service,
            "update",
            ticket_id,
            AGENT,
            note="请提供订单截图",
            visibility="customer",
            waiting_on_customer=True,
        )
        before = desk.load(_uuid(ticket_id)).sla["resolution"]["due"]
        clock.advance(hours=2)  # inside working hours: two business hours stood still
        registrar.register(
            [arrived(request("mail-2", content="截图见附件", ticket=ticket_id), clock)]
        )
        ticket = desk.load(_uuid(ticket_id))
        assert ticket.status == "in_progress"
        assert ticket.paused_at is None
        assert ticket.sla["resolution"]["due"] == before + timedelta(hours=2)

    def test_a_reply_soon_after_closing_reopens_the_ticket(
        self, desk, registrar, service, clock
    ) -> None:
        ticket_id = new_ticket(registrar, clock)
        command(service, "close", ticket_id, SUPERVISOR, resolution="已退款")
        clock.advance(days=2)
        registrar.register(
            [arrived(request("mail-2", content="还是没收到退款", ticket=ticket_id), clock)]
        )
        assert events_of(desk, _uuid(ticket_id))[-2:] == ["Reopened", "CustomerReplied"]
        assert desk.load(_uuid(ticket_id)).status == "open"

    def test_a_reply_long_after_closing_becomes_a_new_ticket(
        self, desk, registrar, service, clock
    ) -> None:
        ticket_id = new_ticket(registrar, clock)
        command(service, "close", ticket_id, SUPERVISOR, resolution="已退款")
        clock.advance(days=8)  # the policy's window is 7 days
        reply = arrived(request("mail-2", content="又出问题了", ticket=ticket_id), clock)
        [result] = registrar.register([reply])
        assert str(result.ticket_id) != ticket_id and result.new
        assert "CustomerReplied" not in events_of(desk, _uuid(ticket_id))

    def test_a_reference_to_no_ticket_still_keeps_the_customers_words(
        self, desk, registrar, clock
    ) -> None:
        [result] = registrar.register([arrived(request("mail-9", ticket="CS209901010001"), clock)])
        assert result.new and events_of(desk, result.ticket_id) == ["Received", "Classified"]

    def test_the_third_contact_about_one_open_ticket_escalates_as_customer_not_calmed(
        self, desk, registrar, clock
    ) -> None:
        ticket_id = new_ticket(registrar, clock)
        for n in (2, 3, 4):
            reply = request(f"mail-{n}", content="怎么还没处理?", ticket=ticket_id)
            registrar.register([arrived(reply, clock)])
        escalations = [
            e for e in desk.events.get(_uuid(ticket_id)) if type(e).__name__ == "Escalated"
        ]
        assert [(e.level, e.reason) for e in escalations] == [("supervisor", "customer_not_calmed")]


class TestConfirmation:
    def test_closing_asks_the_customer_to_confirm_and_the_customer_confirms(
        self, desk, registrar, service, clock
    ) -> None:
        ticket_id = new_ticket(registrar, clock)
        command(service, "close", ticket_id, SUPERVISOR, resolution="已退款")
        waiting = desk.load(_uuid(ticket_id)).sla["confirmation"]
        assert waiting["due"] == clock.now + timedelta(days=3) and waiting["met_at"] is None
        command(service, "confirm", ticket_id, CUSTOMER, comment="收到了,谢谢")
        ticket = desk.load(_uuid(ticket_id))
        assert ticket.confirmed and ticket.sla["confirmation"]["met_at"] == clock.now
        with pytest.raises(IllegalState, match="already confirmed"):
            command(service, "confirm", ticket_id, CUSTOMER)

    def test_an_open_ticket_cannot_be_confirmed(self, registrar, service, clock) -> None:
        ticket_id = new_ticket(registrar, clock)
        with pytest.raises(IllegalState, match="only a closed ticket"):
            command(service, "confirm", ticket_id, CUSTOMER)

    def test_no_answer_within_the_period_confirms_it_automatically(
        self, desk, registrar, service, clock
    ) -> None:
        ticket_id = new_ticket(registrar, clock)
        command(service, "close", ticket_id, SUPERVISOR, resolution="已退款")
        clock.advance(days=3, seconds=1)
        fire(desk, ticket_id, "confirmation")
        [confirmed] = [
            e for e in desk.events.get(_uuid(ticket_id)) if type(e).__name__ == "Confirmed"
        ]
        assert confirmed.automatic and confirmed.actor == {"id": "confirmer", "role": "system"}

    def test_the_problem_remains_reopens_and_asks_again_on_the_next_close(
        self, desk, registrar, service, clock
    ) -> None:
        ticket_id = new_ticket(registrar, clock)
        command(service, "close", ticket_id, SUPERVISOR, resolution="已退款")
        command(service, "reopen", ticket_id, CUSTOMER, reason="问题仍然存在")
        assert "confirmation" not in desk.load(_uuid(ticket_id)).sla
        command(service, "close", ticket_id, SUPERVISOR, resolution="再次退款")
        assert desk.load(_uuid(ticket_id)).sla["confirmation"]["met_at"] is None


class TestDeclining:
    def test_the_assignee_declines_and_the_ticket_goes_back_to_the_queue(
        self, desk, registrar, service, clock
    ) -> None:
        ticket_id = new_ticket(registrar, clock)
        command(service, "assign", ticket_id, SUPERVISOR, assignee="A007")
        clock.advance(minutes=10)
        command(service, "decline", ticket_id, AGENT, reason="不熟悉退款流程")
        ticket = desk.load(_uuid(ticket_id))
        assert (ticket.assignee, ticket.status, ticket.declined_by) == (None, "open", ["A007"])
        assignment = ticket.sla["assignment"]
        assert assignment["started_at"] == clock.now and assignment["met_at"] is None
        assert ticket.sla["acknowledge"]["started_at"] is None

    def test_only_the_assignee_may_decline(self, registrar, service, clock) -> None:
        ticket_id = new_ticket(registrar, clock)
        with pytest.raises(IllegalState, match="nobody is assigned"):
            command(service, "decline", ticket_id, AGENT, reason="busy")
        command(service, "assign", ticket_id, SUPERVISOR, assignee="A008")
        with pytest.raises(Forbidden, match="only the assignee A008"):
            command(service, "decline", ticket_id, AGENT, reason="busy")


class TestDepartments:
    def test_asking_a_department_is_a_target_met_by_its_answer(
        self, desk, registrar, service, clock
    ) -> None:
        ticket_id = new_ticket(registrar, clock)
        due = clock.now + timedelta(hours=4)
        command(service, "request_department", ticket_id, AGENT, department="财务部",
                ask="请核对退款流水", due=due.isoformat())  # fmt: skip
        ticket = desk.load(_uuid(ticket_id))
        assert ticket.departments == {"D1": {"department": "finance", "answered": False}}
        assert ticket.sla["department:D1"]["due"] == due
        clock.advance(hours=1)
        command(service, "answer_department", ticket_id, AGENT, request_id="D1", answer="已退回")
        assert desk.load(_uuid(ticket_id)).sla["department:D1"]["met_at"] == clock.now

    def test_a_late_department_escalates_with_its_reason(
        self, desk, registrar, service, clock
    ) -> None:
        ticket_id = new_ticket(registrar, clock)
        due = clock.now + timedelta(hours=2)
        command(service, "request_department", ticket_id, AGENT, department="tech",
                ask="查看支付网关日志", due=due.isoformat())  # fmt: skip
        clock.advance(hours=2, seconds=1)
        fire(desk, ticket_id, "department:D1")
        escalated = [
            e for e in desk.events.get(_uuid(ticket_id)) if type(e).__name__ == "Escalated"
        ]
        assert [(e.reason, e.target) for e in escalated] == [("department_late", "department:D1")]

    def test_an_unknown_department_or_a_past_due_is_refused(
        self, desk, registrar, service, clock
    ) -> None:
        ticket_id = new_ticket(registrar, clock)
        before = desk.load(_uuid(ticket_id)).version
        soon = (clock.now + timedelta(hours=1)).isoformat()
        with pytest.raises(Invalid, match=r"no department 'legal'.*tech"):
            command(service, "request_department", ticket_id, AGENT, department="legal",
                    ask="?", due=soon)  # fmt: skip
        past = (clock.now - timedelta(hours=1)).isoformat()
        with pytest.raises(Invalid, match="is not after now"):
            command(service, "request_department", ticket_id, AGENT, department="tech",
                    ask="?", due=past)  # fmt: skip
        with pytest.raises(Invalid, match="no department request 'D1'"):
            command(service, "answer_department", ticket_id, AGENT, request_id="D1", answer="x")
        assert desk.load(_uuid(ticket_id)).version == before

    def test_a_consultation_gets_its_feedback_target_only_once_transferred(
        self, desk, registrar, service, clock
    ) -> None:
        ticket_id = new_ticket(registrar, clock, content="请问如何开具发票?")
        ticket = desk.load(_uuid(ticket_id))
        assert ticket.type == "consultation"
        assert ticket.sla["transferred"]["started_at"] is None  # answered at once: no clock
        command(service, "request_department", ticket_id, AGENT, department="finance",
                ask="客户要专票", due=(clock.now + timedelta(hours=3)).isoformat())  # fmt: skip
        feedback = desk.load(_uuid(ticket_id)).sla["transferred"]
        assert feedback["started_at"] == clock.now and feedback["duration"] == "24h"
        clock.advance(hours=1)
        command(service, "update", ticket_id, AGENT, note="财务部已受理", visibility="customer")
        assert desk.load(_uuid(ticket_id)).sla["transferred"]["met_at"] == clock.now


class TestHandlingRecords:
    def test_a_progress_update_carries_evidence(self, desk, registrar, service, clock) -> None:
        ticket_id = new_ticket(registrar, clock)
        photo = {"name": "退款凭证.png", "url": "https://files.example/r/1.png"}
        command(service, "update", ticket_id, AGENT, note="已上传凭证", attachments=[photo])
        last = list(desk.events.get(_uuid(ticket_id)))[-1]
        assert last.attachments == [photo]

    def test_a_promised_feedback_time_is_a_target_that_escalates_when_broken(
        self, desk, registrar, service, clock
    ) -> None:
        ticket_id = new_ticket(registrar, clock)
        promise = clock.now + timedelta(days=2)
        command(service, "update", ticket_id, AGENT, note="售后将在1-2个工作日内联系您",
                visibility="customer", promised_by=promise.isoformat())  # fmt: skip
        assert desk.load(_uuid(ticket_id)).sla["promised_feedback"]["due"] == promise
        clock.advance(days=2, seconds=1)
        fire(desk, ticket_id, "promised_feedback")
        escalated = [
            e for e in desk.events.get(_uuid(ticket_id)) if type(e).__name__ == "Escalated"
        ]
        assert [e.reason for e in escalated] == ["promise_broken"]

    def test_the_next_customer_visible_update_keeps_the_promise(
        self, desk, registrar, service, clock
    ) -> None:
        ticket_id = new_ticket(registrar, clock)
        promise = clock.now + timedelta(days=2)
        command(service, "update", ticket_id, AGENT, note="两天内回复", visibility="customer",
                promised_by=promise.isoformat())  # fmt: skip
        clock.advance(days=1)
        command(service, "update", ticket_id, AGENT, note="已处理", visibility="customer")
        assert desk.load(_uuid(ticket_id)).sla["promised_feedback"]["met_at"] == clock.now


class TestCommunicationRecord:
    @pytest.mark.parametrize(
        ("text", "demand", "mood"),
        [
            ("收到的商品破损,要求退款!", "refund", "calm"),
            ("我要退款,还要赔偿,太过分了", "compensation", "angry"),
            ("屏幕坏了能维修吗,很失望", "repair", "dissatisfied"),
            ("快递三天没到,急", "other", "anxious"),
            ("I want an exchange, the size is wrong", "exchange", "calm"),
            ("Your agent was rude. I expect an apology. Unacceptable!", "apology", "angry"),
        ],
    )
    def test_demand_and_mood_are_detected_from_the_request(
        self, desk, registrar, clock, text, demand, mood
    ) -> None:
        ticket = desk.load(_uuid(new_ticket(registrar, clock, content=text)))
        assert (ticket.demand, ticket.mood) == (demand, mood)

    def test_an_agent_corrects_them_and_the_reason_is_kept(
        self, desk, registrar, service, clock
    ) -> None:
        ticket_id = new_ticket(registrar, clock, content="收到的商品破损,要求退款!")
        command(service, "classify", ticket_id, AGENT, type="complaint",
                category="billing/refund", reason="客户电话里很生气", mood="angry")  # fmt: skip
        ticket = desk.load(_uuid(ticket_id))
        assert (ticket.demand, ticket.mood) == ("refund", "angry")


class TestFollowUpVisit:
    def test_an_urgent_ticket_closed_on_friday_is_visited_within_3_working_days(
        self, desk, registrar, service, clock
    ) -> None:
        clock.now = clock.now.replace(day=27)  # Friday 27 Nov 2026, 10:00 in Shanghai
        ticket_id = new_ticket(registrar, clock, content="账户被盗了,请立即冻结")
        assert desk.load(_uuid(ticket_id)).priority == "urgent"
        command(service, "close", ticket_id, SUPERVISOR, resolution="已冻结并找回")
        due = desk.load(_uuid(ticket_id)).sla["follow_up"]["due"]
        tz = desk.policy.business_calendar.tz
        assert due.astimezone(tz).isoformat() == "2026-12-02T18:00:00+08:00"  # Wednesday


class TestAnalysisAndReview:
    def test_the_preliminary_analysis_meets_its_target(
        self, desk, registrar, service, clock
    ) -> None:
        ticket_id = new_ticket(registrar, clock, content="支付接口报错500,无法下单")
        assert desk.load(_uuid(ticket_id)).sla["analysis"]["duration"] == "2h"
        clock.advance(hours=1)
        command(service, "analyse", ticket_id, AGENT, analysis="网关证书过期")
        ticket = desk.load(_uuid(ticket_id))
        assert ticket.analysis == "网关证书过期"
        assert ticket.sla["analysis"]["met_at"] == clock.now

    def test_a_product_improvement_names_its_schedule(
        self, desk, registrar, service, clock
    ) -> None:
        ticket_id = new_ticket(registrar, clock, content="希望增加夜间模式")
        with pytest.raises(ValidationError, match="scheduled_for"):
            command(service, "close", ticket_id, SUPERVISOR, resolution="排期",
                    solution="product_improvement")  # fmt: skip
        release = (clock.now + timedelta(days=30)).isoformat()
        command(service, "close", ticket_id, SUPERVISOR, resolution="已纳入3.3版本",
                solution="product_improvement", scheduled_for=release)  # fmt: skip
        assert desk.load(_uuid(ticket_id)).solution == "product_improvement"

    def test_where_the_policy_asks_a_head_reviews_the_statement_before_it_closes(
        self, desk, registrar, service, clock
    ) -> None:
        desk.policy = desk.policy.model_copy(
            update={"review": desk.policy.review.model_copy(update={"types": ["technical"]})}
        )
        ticket_id = new_ticket(registrar, clock, content="支付接口报错500,无法下单")
        command(service, "close", ticket_id, AGENT, resolution="已更换证书,回归测试通过",
                solution="fix")  # fmt: skip
        ticket = desk.load(_uuid(ticket_id))
        assert ticket.status != "closed" and ticket.submitted["resolution"].startswith("已更换")
        with pytest.raises(Forbidden):  # an agent does not review
            command(service, "review", ticket_id, AGENT, approved=True)
        command(service, "review", ticket_id, SUPERVISOR, approved=False, comment="缺少测试证据")
        assert desk.load(_uuid(ticket_id)).submitted is None
        command(service, "close", ticket_id, AGENT, resolution="已更换证书,附测试报告",
                solution="fix")  # fmt: skip
        command(service, "review", ticket_id, SUPERVISOR, approved=True)
        ticket = desk.load(_uuid(ticket_id))
        assert (ticket.status, ticket.resolution) == ("closed", "已更换证书,附测试报告")
        assert events_of(desk, _uuid(ticket_id))[-2:] == ["ResolutionReviewed", "Closed"]
