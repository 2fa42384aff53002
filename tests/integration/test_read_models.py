"""The SLA view, the audit trail and group impact, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest

from domain.calendar import parse_duration
from domain.errors import NotFound
from infra.readdb import ReadDB
from infra.store import store_env
from projections.audit import AuditTrail
from projections.problems import ProblemList
from projections.reports import ReportsByProblem
from projections.sla import SlaView
from services.application.commands import CommandService
from services.application.desk import TicketDesk
from services.application.problem_messages import ProblemQuery
from services.application.problems import ProblemService
from services.application.registration import Registrar
from services.automation.group_impact import GroupImpact
from services.readside.audit import AuditQuery, AuditService
from services.readside.sla import SlaQuery, SlaService
from tests.integration.projecting import dump, project, projector, stream_of
from tests.integration.test_desk import AGENT, SUPERVISOR, command, request


@pytest.fixture
def history(desk, clock):
    """Two tickets: one answered, paused and resumed; one left alone."""
    a, b = Registrar(desk).register(
        [request("mail-1"), request("mail-2", content="页面白屏,报错500")]
    )
    service = CommandService(desk)
    tid = str(a.ticket_id)
    clock.advance(minutes=2)
    command(service, "assign", tid, SUPERVISOR, assignee="A007")
    clock.advance(minutes=3)
    command(service, "acknowledge", tid, AGENT)
    command(
        service,
        "update",
        tid,
        AGENT,
        note="which order?",
        visibility="customer",
        waiting_on_customer=True,
    )
    clock.advance(minutes=30)
    command(service, "update", tid, AGENT, note="got it", visibility="internal")
    return str(a.ticket_id), str(b.ticket_id)


class TestSlaView:
    def test_the_view_agrees_with_the_ticket_itself(self, desk, store_url, history) -> None:
        view = projector(SlaView(), store_url)
        project(desk, view)
        for ticket_id in history:
            ticket = desk.load(desk.resolve(ticket_id))
            rows = {
                t["target"]: t
                for t in SlaService(view.db, desk.policy, desk.clock).open_targets(ticket_id)
            }
            unmet = {k: v for k, v in ticket.sla.items() if not v.get("met_at") and v["due"]}
            assert set(rows) == set(unmet)
            for name, target in unmet.items():
                assert rows[name]["due"] == target["due"], name

    def test_a_pause_moves_the_due_times_on(self, desk, store_url, history) -> None:
        view = projector(SlaView(), store_url)
        project(desk, view)
        rows = {
            t["target"]: t
            for t in SlaService(view.db, desk.policy, desk.clock).open_targets(history[0])
        }
        ticket = desk.load(desk.resolve(history[0]))
        planned = ticket.received_at + timedelta(
            seconds=parse_duration(rows["resolution"]["duration"]).seconds
        )
        assert rows["resolution"]["due"] > planned  # 30 waiting minutes were added
        with view.db.transaction() as tx:
            pauses = tx.execute("SELECT started_at, ended_at FROM sla_pauses").fetchall()
        assert len(pauses) == 1 and pauses[0][1] is not None

    def test_the_same_event_twice_changes_nothing(self, desk, store_url, history) -> None:
        view = projector(SlaView(), store_url)
        project(desk, view)
        before = dump(view)
        assert view.apply_batch(stream_of(desk)) == []  # all at or below the position
        assert dump(view) == before

    def test_copies_republished_after_a_lost_tail_change_nothing(
        self, desk, store_url, history
    ) -> None:
        view = projector(SlaView(), store_url)
        events = stream_of(desk)
        project(desk, view)
        before = dump(view)
        last = events[-1][0]
        copies = [(last + i, event) for i, (_, event) in enumerate(events[-4:], start=1)]
        assert view.apply_batch(copies) == []  # new positions, events already applied
        assert dump(view) == before and view.position == copies[-1][0]

    def test_a_rebuilt_view_equals_the_live_one(self, desk, store_url, history) -> None:
        live = projector(SlaView(), store_url)
        events = stream_of(desk)
        for i in range(0, len(events), 3):  # live: in small batches, as they came
            live.apply_batch(events[i : i + 3])
        before = dump(live)
        live._reset()
        live.apply_batch(events)
        assert dump(live) == before

    def test_the_sla_query_shows_breaches_soonest_first(
        self, desk, store_url, history, clock
    ) -> None:
        view = projector(SlaView(), store_url)
        project(desk, view)
        service = SlaService(view.db, desk.policy, desk.clock)
        # 35 minutes in: only the unassigned ticket has missed its 5-minute assignment.
        early = service.sla(SlaQuery(state="breached"))["targets"]
        assert [(t["ticket_id"], t["target"]) for t in early] == [(history[1], "assignment")]
        clock.advance(days=30)
        breached = service.sla(SlaQuery(state="breached"))["targets"]
        assert breached and all(t["state"] == "breached" for t in breached)
        dues = [t["due"] for t in breached]
        assert dues == sorted(dues)


class TestAuditTrail:
    def test_auditors_page_by_ticket_actor_and_time(self, desk, store_url, history) -> None:
        trail = projector(AuditTrail(), store_url)
        project(desk, trail)
        audit = AuditService(trail.db)
        first = audit.audit(AuditQuery(ticket_id=history[0], limit=3))
        assert [e["event_type"] for e in first["events"]] == ["Received", "Classified", "Assigned"]
        assert first["events"][2]["status_after"] == "assigned"
        rest = audit.audit(AuditQuery(ticket_id=history[0], after=first["next"]))
        assert [e["event_type"] for e in rest["events"]] == [
            "Acknowledged",
            "ProgressUpdated",
            "ProgressUpdated",
        ]
        assert rest["events"][1]["status_after"] == "waiting_on_customer"
        assert rest["next"] is None
        by_agent = audit.audit(AuditQuery(actor_id="A007"))
        assert {e["event_type"] for e in by_agent["events"]} == {"Acknowledged", "ProgressUpdated"}
        assert all(
            e["data"].get("customer", {}).get("phone") in (None, "138****5678")
            for e in first["events"]
        )


class TestGroupImpact:
    def run(
        self,
        desk,
        store_url,
        *customers: str,
        texts: tuple[str, ...] = (),
        at_once: bool = False,
    ) -> GroupImpact:
        """Requests from `customers` become tickets, then group impact examines each
        (`at_once`: in one pass, as it takes up what is waiting)."""
        group, classified = self.reported(desk, store_url, customers, texts)
        if at_once:
            group.examine_all(classified)
        else:
            for ticket_id in classified:
                group.examine(ticket_id)
        return group

    def reported(
        self, desk, store_url, customers: tuple[str, ...], texts: tuple[str, ...] = ()
    ) -> tuple[GroupImpact, list[str]]:
        """Group impact, and the tickets the requests of `customers` became, to examine."""
        texts = texts or ("我要退款,商品有质量问题",) * len(customers)
        requests = [
            request(f"g-{i}", content=text, customer={"customer_id": c})
            for i, (c, text) in enumerate(zip(customers, texts, strict=True))
        ]
        Registrar(desk).register(requests)
        reports = projector(ReportsByProblem(), store_url)
        project(desk, reports)
        projector(ProblemList(), store_url)  # its tables: where a group's open problem is found
        group = GroupImpact(desk, ReadDB(store_url), ProblemService(desk))
        classified = [e["subject"] for _, e in stream_of(desk) if e["type"].endswith("ied.v2")]
        return group, classified

    @pytest.mark.parametrize("at_once", [False, True], ids=["one by one", "in one pass"])
    def test_a_third_customer_raises_all_three_to_group_impact(
        self, desk, store_url, at_once
    ) -> None:
        group = self.run(desk, store_url, "C1", "C2", "C3", at_once=at_once)
        assert group.raised == 3
        tickets = [desk.load(desk.resolve(None, f"CS2026112400{i:02d}")) for i in (1, 2, 3)]
        assert {t.impact for t in tickets} == {"group"}
        assert all(t.priority == "high" for t in tickets)  # normal x group
        assert all(t.escalation_level == "manager" for t in tickets)  # a group complaint
        assert all(len(t.linked) == 2 for t in tickets)

    def test_a_ticket_changed_by_someone_else_meanwhile_is_raised_on_its_fresh_state(
        self, desk, store_url, policy, clock, tmp_path
    ) -> None:
        """Another writer saves one of the tickets between its raise and the pass's save:
        the pass's transaction is refused as a whole, and each raise is made again on
        the ticket as it now is, so the other writer's change stays."""
        agent = TicketDesk(policy, store_env(store_url, tmp_path), clock=clock)
        save = desk.save

        def save_after_an_agent(*aggregates):
            desk.save = save  # once
            assign = "assign", str(aggregates[0].id), SUPERVISOR
            command(CommandService(agent), *assign, assignee="A007")
            return save(*aggregates)

        group, classified = self.reported(desk, store_url, ("C1", "C2", "C3"))
        desk.save = save_after_an_agent
        try:
            group.examine_all(classified)
        finally:
            agent.close()
        assert group.raised == 3
        tickets = [desk.load(desk.resolve(None, f"CS2026112400{i:02d}")) for i in (1, 2, 3)]
        assert {t.impact for t in tickets} == {"group"}
        assert tickets[0].assignee == "A007"

    def test_two_customers_are_not_a_group(self, desk, store_url) -> None:
        assert self.run(desk, store_url, "C1", "C2", "C1").raised == 0
        with pytest.raises(NotFound):  # and no problem
            ProblemService(desk).problem(ProblemQuery(number="PB202611240001"))

    @pytest.mark.parametrize("at_once", [False, True], ids=["one by one", "in one pass"])
    def test_a_fourth_report_joins_the_group_s_problem(self, desk, store_url, at_once) -> None:
        self.run(desk, store_url, "C1", "C2", "C3", "C4", at_once=at_once)
        problem = ProblemService(desk).problem(ProblemQuery(number="PB202611240001"))["problem"]
        assert len(problem["tickets"]) == 4
        with pytest.raises(NotFound):  # one problem, not two
            ProblemService(desk).problem(ProblemQuery(number="PB202611240002"))

    def test_three_customers_wording_one_fault_differently_are_one_group(
        self, desk, store_url
    ) -> None:
        texts = (
            "APP登录后马上闪退,什么都点不了",
            "一登录app就直接退出了,手机是华为的",
            "app登录闪退!!!已经试了三次了",
        )
        assert self.run(desk, store_url, "C1", "C2", "C3", texts=texts).raised == 3
        problem = ProblemService(desk).problem(ProblemQuery(number="PB202611240001"))["problem"]
        assert len(problem["tickets"]) == 3 and problem["title"]  # the group is a problem

    def test_three_different_faults_of_one_category_are_not_a_group(self, desk, store_url) -> None:
        texts = (
            "网页打开一片白屏,控制台报错500",
            "页面按钮点击没反应,页面卡死",
            "前端页面加载很慢,要等半分钟",
        )
        assert self.run(desk, store_url, "C1", "C2", "C3", texts=texts).raised == 0
        tickets = [desk.load(desk.resolve(None, f"CS2026112400{i:02d}")) for i in (1, 2, 3)]
        assert len({t.category for t in tickets}) == 1  # the category alone no longer decides


def test_a_restart_or_a_rebuild_gives_the_same_clusters(desk, store_url) -> None:
    texts = [
        "APP登录后马上闪退",
        "一登录app就直接退出了",
        "收不到短信验证码",
        "app登录闪退了",
        "验证码一直收不到",
        "网页打开一片白屏",
        "发票抬头开错了",
        "验证码短信没来",
    ]
    Registrar(desk).register([request(f"c-{i}", content=t) for i, t in enumerate(texts)])
    events = stream_of(desk)
    continuous = projector(ReportsByProblem(), store_url)
    continuous.apply_batch(events)
    once = dump(continuous)["reports"]
    continuous._reset()  # a rebuild: emptied, then fed again by a new process, in two runs
    for part in (events[: len(events) // 2], events[len(events) // 2 :]):
        projector(ReportsByProblem(), store_url).apply_batch(part)
    assert dump(continuous)["reports"] == once
    assert len({row[6] for row in once}) == 4  # crash, SMS code, blank page, invoice


def test_an_instance_that_leads_again_takes_up_what_the_other_one_clustered(
    desk, store_url
) -> None:
    """The window lives in memory too: when another instance led meanwhile (or a batch
    was rolled back), the memory is read again from the tables before the next batch."""
    texts = ["收不到短信验证码", "发票抬头开错了", "验证码一直收不到", "验证码短信没来"]
    Registrar(desk).register([request(f"f-{i}", content=t) for i, t in enumerate(texts)])
    events = stream_of(desk)
    first, second = (
        projector(ReportsByProblem(), store_url),
        projector(ReportsByProblem(), store_url),
    )
    first.apply_batch(events[:2])  # the SMS request, on the first leader
    second.apply_batch(events[:6])  # the invoice and the second SMS one, on the next
    first.apply_batch(events)  # the first leads again: the third SMS request
    together = dump(first)["reports"]
    first._reset()
    projector(ReportsByProblem(), store_url).apply_batch(events)
    assert dump(first)["reports"] == together
    assert len({row[6] for row in together}) == 2  # SMS code, invoice


def test_the_cloudevent_type_carries_each_event_schema_version(desk, history) -> None:
    command(CommandService(desk), "close", history[1], AGENT, resolution="done")
    types = {e["type"] for _, e in stream_of(desk)}
    assert "ticketflow.ticket.closed.v3" in types  # Closed gained follow-up, then solution
    assert "ticketflow.ticket.received.v2" in types  # Received seals its personal data
    assert "ticketflow.ticket.acknowledged.v1" in types


def test_the_watcher_loads_only_what_is_due_within_its_horizon(
    desk, store_url, history, clock
) -> None:
    from services.automation.sla_watcher import HORIZON

    view = projector(SlaView(), store_url)
    project(desk, view)
    service = SlaService(view.db, desk.policy, desk.clock)
    everything = service.open_targets()
    soon = service.open_targets(None, clock.now + HORIZON)
    assert soon and len(soon) < len(everything)
    assert all(t["due"] <= clock.now + HORIZON for t in soon)
    assert {(t["ticket_id"], t["target"]) for t in soon} == {
        (t["ticket_id"], t["target"]) for t in everything if t["due"] <= clock.now + HORIZON
    }
