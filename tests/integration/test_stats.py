"""The `stats` query over a scripted history, on SQLite and PostgreSQL.

The history (t = minutes after Tuesday 2026-11-24 10:00 Shanghai, 02:00 UTC; complaints
and technical tickets run on the business clock, 09:00-18:00):

    t=0   T1 email complaint billing/refund     T2 chat complaint logistics/delay
          T3 email complaint billing/refund     T4 app technical technical/front-end
    t=3   T1, T2 -> A007 (support); T3 -> A008 (billing)
    t=5   A007 acknowledges T1          t=6   A008 acknowledges T3
    t=10  T1 customer update            t=15  T3 internal update (not a response)
    t=20  T2 customer update            t=30  T4 -> A008       t=35  A008 acknowledges T4
    t=40  T3 customer update            t=50  T1 closed        t=60  T4 closed
    t=70  T2 closed                     t=80  T1 rated 5; T2 rated 2 (reopens T2)
    t=90  T3 escalated to supervisor    t=95  T3 escalated to manager
    t=100 T2 closed again               (T4 is never rated; T3 stays open)
    T5 web technical technical/front-end, received Wednesday 00:30 Shanghai (Tuesday
    16:30 UTC), never touched. Asked at Wednesday 10:10 Shanghai.

By hand:
- first responses 10, 20, 40, 60 (T4's close) min: avg 32.5 min = 1950 s; nearest
  rank p50 = 2nd = 20 min = 1200 s, p90 = 4th = 60 min = 3600 s. T5 has none.
- resolutions (first close) 50, 60, 70 min: avg 60 min = 3600 s, p50 3600, p90 4200.
- closed at least once: T1, T2, T4. Reopened: T2 -> reopen_rate 1/3. Neither reopened
  nor escalated: T1, T4 -> fcr_rate 2/3. Ratings 5 and 2 (last ones) -> csat 1/2.
- escalations 2 (both T3). tickets 5, closed now 3 (T1, T2, T4), open 2 (T3, T5).
- SLA target instances (complaint: assignment 5m, acknowledge 15m, first_response 4h,
  update_every 24h, resolution 48h; technical normal: assignment 5m, acknowledge 15m,
  first_response 8h, update_every 4h, resolution 5wd):
  T1: assignment, acknowledge, first_response, update_every (met t=10, then restarted),
      update_every again and resolution (met at close)          -> 6 on time
  T2: acknowledge due t=18, never acknowledged, met by the close at t=70: breached;
      assignment, first_response, update_every (t=20), update_every and resolution met
      at t=70 (restarted by the reopening), both again met at t=100 -> 7 on time, 1 late
  T3: assignment, acknowledge, first_response, update_every (t=40) on time; the
      restarted update_every and resolution are not due yet       -> 4 on time
  T4: assignment due t=5, met t=30: breached; acknowledge (due t=45, met t=35),
      first_response, update_every (due t=240), resolution met at t=60 -> 4 on time, 1 late
  T5: assignment due Wednesday 09:05, unmet at 10:10: breached; the rest not due -> 1 late
  compliance 21 / 24 = 0.875.
- high_frequency at share 0.3: billing/refund 2/5 and technical/front-end 2/5
  (logistics/delay 1/5 is below).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from domain.policy import GoalsConfig, Policy, StatsConfig
from infra.policy_file import load_policy
from infra.projector import Projector
from infra.readdb import ReadDB
from projections.stats import Statistics
from services.application import messages as m
from services.application.commands import CommandService
from services.application.desk import TicketDesk
from services.application.registration import Registrar, Request
from services.readside.stats import StatsQuery, StatsService
from services.readside.tickets import TicketList, TicketsQuery
from tests.conftest import FixedClock
from tests.integration.projecting import dump, projector, stream_of

TEAMS = {"A007": "support", "A008": "billing"}
S001 = {"id": "S001", "role": "supervisor"}
A007 = {"id": "A007", "role": "agent"}
A008 = {"id": "A008", "role": "agent"}
MINUTE = 60.0


def request(channel: str, external_id: str, content: str, at: datetime) -> Request:
    body = m.IntakeRequest.model_validate(
        {
            "external_id": external_id,
            "content": content,
            "received_at": at.isoformat(),
            "customer": {"name": "张女士", "phone": "13812345678"},
        }
    )
    return Request(channel, body, at)


class Script:
    """Drives the real application with a fixed clock, minute by minute."""

    def __init__(self, desk: TicketDesk, clock: FixedClock) -> None:
        self.desk, self.clock, self.commands = desk, clock, CommandService(desk)
        self.start = clock.now

    def at(self, minute: float) -> None:
        self.clock.now = self.start + timedelta(minutes=minute)

    def register(self, *requests: Request) -> list[str]:
        return [str(r.ticket_id) for r in Registrar(self.desk).register(list(requests))]

    def do(self, name: str, ticket_id: str, actor: dict, **fields: object) -> None:
        model = m.COMMANDS[name]
        self.commands.execute(
            name, model.model_validate({"ticket_id": ticket_id, "actor": actor, **fields})
        )


def play(desk: TicketDesk, clock: FixedClock) -> dict[str, str]:
    s = Script(desk, clock)
    t0 = clock.now
    t1, t2, t3, t4 = s.register(
        request("email", "m-1", "收到的商品与描述不符,要求退款!", t0),
        request("chat", "c-1", "快递一直没到,物流太慢了,要投诉!", t0),
        request("email", "m-2", "我要退款,商品质量问题", t0),
        request("app", "a-1", "系统报错,APP打不开", t0),
    )
    steps: list[tuple[float, str, str, dict, dict]] = [
        (3, "assign", t1, S001, {"assignee": "A007"}),
        (3, "assign", t2, S001, {"assignee": "A007"}),
        (3, "assign", t3, S001, {"assignee": "A008"}),
        (5, "acknowledge", t1, A007, {}),
        (6, "acknowledge", t3, A008, {}),
        (10, "update", t1, A007, {"note": "退款已提交", "visibility": "customer"}),
        (15, "update", t3, A008, {"note": "checking the order"}),
        (20, "update", t2, A007, {"note": "已联系快递", "visibility": "customer"}),
        (30, "assign", t4, S001, {"assignee": "A008"}),
        (35, "acknowledge", t4, A008, {}),
        (40, "update", t3, A008, {"note": "退款审核中", "visibility": "customer"}),
        (50, "close", t1, A007, {"resolution": "refunded"}),
        (60, "close", t4, A008, {"resolution": "cache cleared"}),
        (70, "close", t2, A007, {"resolution": "parcel delivered"}),
        (80, "rate", t1, {"id": "email", "role": "channel"}, {"score": 5}),
        (80, "rate", t2, {"id": "chat", "role": "channel"}, {"score": 2}),
        (90, "escalate", t3, A008, {"level": "supervisor", "reason": "wants a manager"}),
        (95, "escalate", t3, S001, {"level": "manager", "reason": "refund over limit"}),
        (100, "close", t2, A007, {"resolution": "parcel re-sent"}),
    ]
    for minute, name, ticket_id, actor, fields in steps:
        s.at(minute)
        s.do(name, ticket_id, actor, **fields)
    clock.now = datetime(2026, 11, 24, 16, 30, tzinfo=UTC)  # Wednesday 00:30 in Shanghai
    [t5] = s.register(request("web", "w-1", "系统报错,APP打不开", clock.now))
    clock.now = datetime(2026, 11, 25, 2, 10, tzinfo=UTC)  # Wednesday 10:10 in Shanghai
    return {"T1": t1, "T2": t2, "T3": t3, "T4": t4, "T5": t5}


@pytest.fixture(scope="module")
def policy() -> Policy:
    """The shipped rules, every target on working hours and without the analysis target:
    the figures below were worked out by hand on that clock."""
    shipped = load_policy()
    rules = [
        rule.model_copy(update={"clock": "business", "clocks": {}, "analysis": None})
        for rule in shipped.sla
    ]
    return shipped.model_copy(update={"sla": rules})


@pytest.fixture
def policy_03(policy: Policy) -> Policy:
    return policy.model_copy(update={"stats": StatsConfig(high_frequency_share=0.3)})


@pytest.fixture
def projected(desk: TicketDesk, clock: FixedClock, store_url: str) -> Projector:
    play(desk, clock)
    p = projector(Statistics(TEAMS), store_url)
    p.apply_batch(stream_of(desk))
    return p


@pytest.fixture
def service(
    projected: Projector, policy_03: Policy, clock: FixedClock, store_url: str
) -> StatsService:
    return StatsService(ReadDB(store_url), policy_03, clock)


def ask(service: StatsService, **query: object) -> dict:
    reply = service.stats(StatsQuery.model_validate(query))
    assert reply["ok"] is True
    return reply["stats"]


class TestTheWholeHistory:
    def test_volumes(self, service: StatsService) -> None:
        stats = ask(service)
        assert (stats["tickets"], stats["open"], stats["closed"]) == (5, 2, 3)
        assert stats["by_type"] == {"complaint": 3, "technical": 2}
        assert stats["by_priority"] == {"normal": 5}
        assert stats["by_channel"] == {"app": 1, "chat": 1, "email": 2, "web": 1}
        assert stats["by_category"] == {
            "billing/refund": 2,
            "logistics/delay": 1,
            "technical/front-end": 2,
        }
        assert stats["by_status"] == {"closed": 3, "in_progress": 1, "open": 1}

    def test_response_and_resolution_times(self, service: StatsService) -> None:
        stats = ask(service)
        assert stats["first_response_seconds"] == {
            "avg": 1950,
            "p50": 1200,
            "p90": 3600,
            "count": 4,
        }
        assert stats["resolution_seconds"] == {"avg": 3600, "p50": 3600, "p90": 4200, "count": 3}

    def test_rates(self, service: StatsService) -> None:
        stats = ask(service)
        assert stats["sla_compliance"] == pytest.approx(21 / 24)
        assert stats["sla_targets"] == {"on_time": 21, "breached": 3}
        assert stats["fcr_rate"] == pytest.approx(2 / 3)
        assert stats["reopen_rate"] == pytest.approx(1 / 3)
        assert stats["csat"] == 0.5 and stats["ratings"] == 2
        assert stats["escalations"] == 2

    def test_high_frequency_categories(self, service: StatsService) -> None:
        assert ask(service)["high_frequency"] == [
            {"category": "billing/refund", "count": 2, "share": 0.4},
            {"category": "technical/front-end", "count": 2, "share": 0.4},
        ]

    def test_no_groups_unless_asked(self, service: StatsService) -> None:
        assert "groups" not in ask(service)


class TestPeriodsAndSlices:
    def test_the_period_is_of_received_at_and_excludes_its_end(self, service: StatsService) -> None:
        tuesday = ask(
            service, **{"from": "2026-11-24T00:00:00+08:00", "to": "2026-11-25T00:00:00+08:00"}
        )
        assert tuesday["tickets"] == 4 and tuesday["open"] == 1
        assert tuesday["sla_targets"] == {"on_time": 21, "breached": 2}
        wednesday = ask(service, **{"from": "2026-11-25T00:00:00+08:00"})
        assert wednesday["tickets"] == 1 and wednesday["by_channel"] == {"web": 1}
        before = ask(service, to="2026-11-24T10:00:00+08:00")  # T1-T4 arrived at 10:00
        assert before["tickets"] == 0 and before["fcr_rate"] is None

    def test_by_channel(self, service: StatsService) -> None:
        groups = ask(service, group_by="channel")["groups"]
        assert list(groups) == ["app", "chat", "email", "web"]
        email = groups["email"]  # T1 and T3
        assert (email["tickets"], email["open"], email["closed"]) == (2, 1, 1)
        # first responses 10 and 40 min: avg 25 min; nearest rank p50 10, p90 40
        assert email["first_response_seconds"] == {"avg": 1500, "p50": 600, "p90": 2400, "count": 2}
        assert email["resolution_seconds"]["avg"] == 50 * MINUTE
        assert (email["fcr_rate"], email["csat"], email["reopen_rate"]) == (1.0, 1.0, 0.0)
        assert (email["escalations"], email["sla_compliance"]) == (2, 1.0)
        chat = groups["chat"]  # T2
        assert (chat["fcr_rate"], chat["csat"], chat["reopen_rate"]) == (0.0, 0.0, 1.0)
        assert chat["sla_compliance"] == 7 / 8
        assert chat["resolution_seconds"]["p90"] == 70 * MINUTE
        app = groups["app"]  # T4, never rated
        assert (app["csat"], app["sla_compliance"]) == (None, 0.8)
        web = groups["web"]  # T5, untouched
        assert web["first_response_seconds"]["avg"] is None
        assert (web["fcr_rate"], web["reopen_rate"], web["sla_compliance"]) == (None, None, 0.0)

    def test_by_day_in_the_calendars_time_zone(self, service: StatsService) -> None:
        groups = ask(service, group_by="day")["groups"]
        # T5 arrived on Tuesday in UTC but on Wednesday in Shanghai.
        assert {k: g["tickets"] for k, g in groups.items()} == {"2026-11-24": 4, "2026-11-25": 1}
        assert groups["2026-11-24"]["first_response_seconds"]["avg"] == 1950

    def test_by_week_month_team_and_agent(self, service: StatsService) -> None:
        def volumes(group_by: str) -> dict[str, int]:
            return {k: g["tickets"] for k, g in ask(service, group_by=group_by)["groups"].items()}

        assert volumes("week") == {"2026-W48": 5}
        assert volumes("month") == {"2026-11": 5}
        assert volumes("team") == {"billing": 2, "none": 1, "support": 2}
        assert volumes("agent") == {"A007": 2, "A008": 2, "none": 1}
        assert volumes("type") == {"complaint": 3, "technical": 2}

    def test_two_dimensions_at_once_team_by_week(self, service: StatsService) -> None:
        groups = ask(service, group_by="team", then_by="week")["groups"]
        volumes = {
            team: {week: g["tickets"] for week, g in inner["groups"].items()}
            for team, inner in groups.items()
        }
        assert volumes == {
            "billing": {"2026-W48": 2},
            "none": {"2026-W48": 1},
            "support": {"2026-W48": 2},
        }
        assert groups["billing"]["groups"]["2026-W48"]["fcr_rate"] == groups["billing"]["fcr_rate"]

    def test_then_by_needs_another_group_by(self) -> None:
        with pytest.raises(ValidationError, match="give group_by too"):
            StatsQuery.model_validate({"then_by": "week"})
        with pytest.raises(ValidationError, match="must differ"):
            StatsQuery.model_validate({"group_by": "week", "then_by": "week"})

    def test_what_customers_want_and_how_they_feel_are_counted(self, service: StatsService) -> None:
        stats = ask(service)
        assert stats["by_demand"] == {"other": 3, "refund": 2}  # T1 and T3 ask for a refund
        assert sum(stats["by_mood"].values()) == 5
        assert set(ask(service, group_by="demand")["groups"]) == {"other", "refund"}
        listed = TicketList(service).tickets(TicketsQuery.model_validate({"demand": "refund"}))
        assert listed["count"] == 2  # the tickets behind the figure


class TestGoals:
    def test_each_rate_is_reported_against_the_policy_s_goal(self, service: StatsService) -> None:
        goals = ask(service)["goals"]
        assert goals["fcr_rate"] == {"goal": 0.85, "value": pytest.approx(2 / 3), "met": False}
        assert goals["csat"] == {"goal": 0.9, "value": 0.5, "met": False}

    def test_a_team_with_lower_goals_meets_them(
        self, projected: Projector, policy: Policy, clock: FixedClock, store_url: str
    ) -> None:
        lenient = policy.model_copy(
            update={"goals": GoalsConfig(first_contact_resolution=0.6, satisfaction=0.5)}
        )
        goals = ask(StatsService(ReadDB(store_url), lenient, clock))["goals"]
        assert (goals["fcr_rate"]["met"], goals["csat"]["met"]) == (True, True)

    def test_a_rate_without_data_has_no_verdict(self, service: StatsService) -> None:
        goals = ask(service, to="2026-11-24T10:00:00+08:00")["goals"]
        assert goals["fcr_rate"]["met"] is None and goals["csat"]["met"] is None


class TestReplays:
    def test_an_event_applied_twice_changes_nothing(
        self, projected: Projector, desk: TicketDesk
    ) -> None:
        before = dump(projected)
        stream = stream_of(desk)
        assert projected.apply_batch(stream) == []
        assert projected.apply_batch(stream[-3:]) == []
        assert dump(projected) == before

    def test_a_rebuild_gives_equal_tables(
        self, projected: Projector, desk: TicketDesk, store_url: str
    ) -> None:
        before = dump(projected)
        with projected.db.transaction() as tx:
            projected.projection.reset(tx)
            tx.set_position(projected.projection.name, 0)
        assert dump(projected) == {
            "stats_tickets": [],
            "stats_sla_targets": [],
            "stats_self_service": [],
        }
        stream = stream_of(desk)
        for start in range(0, len(stream), 7):  # in other batches than the first time
            projected.apply_batch(stream[start : start + 7])
        assert dump(projected) == before


class TestWaitingOnTheCustomer:
    """While a ticket waits on the customer its SLA clock stands still (as in `sla`)."""

    def test_a_due_passing_during_the_wait_is_no_breach(
        self, desk: TicketDesk, clock: FixedClock, store_url: str, policy: Policy
    ) -> None:
        # Technical, normal: update_every 4h on the business clock. Tuesday 10:00 received,
        # 10:03 assigned, 10:05 acknowledged, 10:10 asked the customer (a customer-visible
        # update, waiting): first_response and update_every met; update_every runs again,
        # due 14:10, while the clock stands still from 10:10.
        s = Script(desk, clock)
        [ticket] = s.register(request("app", "a-9", "系统报错,APP打不开", clock.now))
        for minute, name, actor, fields in [
            (3, "assign", S001, {"assignee": "A008"}),
            (5, "acknowledge", A008, {}),
            (
                10,
                "update",
                A008,
                {"note": "请提供截图", "visibility": "customer", "waiting_on_customer": True},
            ),
        ]:
            s.at(minute)
            s.do(name, ticket, actor, **fields)
        p = projector(Statistics(TEAMS), store_url)
        service = StatsService(ReadDB(store_url), policy, clock)

        s.at(23 * 60)  # Wednesday 09:00: 14:10 has passed, but not on the stopped clock
        p.apply_batch(stream_of(desk))
        waiting = ask(service)
        assert waiting["by_status"] == {"waiting_on_customer": 1}
        # assignment, acknowledge, first_response, the first update_every
        assert waiting["sla_targets"] == {"on_time": 4, "breached": 0}

        s.at(24 * 60)  # Wednesday 10:00: the customer answered; the agent updates
        s.do("update", ticket, A008, note="已修复", visibility="customer")
        p.apply_batch(stream_of(desk))
        s.at(24 * 60 + 5)
        resumed = ask(service)
        # The second update_every is met by this update, judged as of 10:10 on Tuesday.
        assert resumed["sla_targets"] == {"on_time": 5, "breached": 0}
        assert resumed["by_status"] == {"in_progress": 1}
        assert resumed["first_response_seconds"]["avg"] == 10 * MINUTE
