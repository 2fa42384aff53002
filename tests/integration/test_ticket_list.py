"""The `tickets` query over the scripted history of test_stats.py, on SQLite and
PostgreSQL: for every figure of the `stats` reply there is a list, and it holds exactly
the tickets that figure counts; lists come newest first, a page at a time.

(T1-T4 arrive Tuesday 10:00 Shanghai and T5 Wednesday 00:30; T1, T2 and T4 are closed
on Tuesday, T2 after a reopening; T3 is escalated twice; late targets: T2, T4, T5.)
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from domain.policy import Policy, StatsConfig
from infra.readdb import ReadDB
from projections.stats import Statistics
from services.application.desk import TicketDesk
from services.readside.stats import StatsQuery, StatsService
from services.readside.tickets import TicketList, TicketsQuery
from tests.conftest import FixedClock
from tests.integration.projecting import projector, stream_of
from tests.integration.test_stats import TEAMS, play

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def world(desk: TicketDesk, clock: FixedClock, store_url: str, policy: Policy) -> tuple:
    ids = play(desk, clock)
    projector(Statistics(TEAMS), store_url).apply_batch(stream_of(desk))
    policy = policy.model_copy(update={"stats": StatsConfig(high_frequency_share=0.3)})
    stats = StatsService(ReadDB(store_url), policy, clock)
    numbers = {name: desk.load(desk.resolve(ticket, None)).number for name, ticket in ids.items()}
    return stats, TicketList(stats), numbers


def found(lists: TicketList, **query: object) -> list[str]:
    reply = lists.tickets(TicketsQuery.model_validate({"limit": 500, **query}))
    assert reply["count"] == len(reply["tickets"])
    return [t["number"] for t in reply["tickets"]]


def test_each_figure_has_the_list_of_the_tickets_it_counts(world) -> None:
    stats, lists, n = world
    s = stats.stats(StatsQuery())["stats"]

    def names(**query: object) -> set[str]:
        by_number = {number: name for name, number in n.items()}
        return {by_number[number] for number in found(lists, **query)}

    assert names() == {"T1", "T2", "T3", "T4", "T5"} and s["tickets"] == 5
    assert names(status="open") == {"T3", "T5"} and s["open"] == 2
    assert names(status="closed") == {"T1", "T2", "T4"} and s["closed"] == 3
    assert names(closed_once=True) == {"T1", "T2", "T4"} and s["closed_once"] == 3
    assert names(first_contact=True) == {"T1", "T4"} and s["first_contact"] == 2
    assert names(closed_once=True, reopened=True) == {"T2"} and s["reopened"] == 1
    assert names(rated=True) == {"T1", "T2"} and s["ratings"] == 2
    assert names(satisfied=True) == {"T1"} and s["satisfied"] == 1
    assert names(rated_low=True) == {"T2"}
    assert names(escalated=True) == {"T3"} and (s["escalated"], s["escalations"]) == (1, 2)
    assert names(responded=True) == {"T1", "T2", "T3", "T4"}
    assert len(names(responded=True)) == s["first_response_seconds"]["count"]
    assert names(resolved=True) == {"T1", "T2", "T4"}
    assert len(names(resolved=True)) == s["resolution_seconds"]["count"]
    assert names(breached=True) == {"T2", "T4", "T5"} and s["sla_tickets"]["breached"] == 3
    assert len(names(sla_judged=True)) == s["sla_tickets"]["judged"] == 5
    assert names(breached=False) == {"T1", "T3"}


def test_every_group_s_list_matches_its_counts(world) -> None:
    stats, lists, _ = world
    for by, facet in (("channel", "channel"), ("agent", "agent"), ("team", "team")):
        groups = stats.stats(StatsQuery(group_by=by))["stats"]["groups"]
        for key, g in groups.items():
            assert len(found(lists, **{facet: key})) == g["tickets"], (by, key)
            assert len(found(lists, **{facet: key, "status": "open"})) == g["open"], (by, key)
            closed_once = found(lists, **{facet: key, "closed_once": True})
            assert len(closed_once) == g["closed_once"], (by, key)


def test_closed_per_day_names_the_tickets_closed_that_day(world) -> None:
    stats, lists, n = world
    by_day = stats.stats(StatsQuery())["stats"]["closed_by_day"]
    assert by_day == {"2026-11-24": 3}
    tuesday = datetime(2026, 11, 24, tzinfo=SHANGHAI)
    closed = found(lists, closed_from=tuesday, closed_to=tuesday + timedelta(days=1))
    assert set(closed) == {n["T1"], n["T2"], n["T4"]}
    assert found(lists, closed_from=tuesday + timedelta(days=1)) == []


def test_a_list_is_newest_first_a_page_at_a_time(world) -> None:
    _, lists, n = world
    pages = [lists.tickets(TicketsQuery(page=page, limit=2)) for page in (1, 2, 3, 4)]
    assert [p["pages"] for p in pages] == [3, 3, 3, 3]
    shown = [t["number"] for p in pages for t in p["tickets"]]
    assert shown[0] == n["T5"] and sorted(shown[1:], reverse=True) == shown[1:]
    assert len(shown) == len(set(shown)) == 5 and pages[3]["tickets"] == []


def test_a_day_s_tickets_are_those_received_that_day(world) -> None:
    _, lists, n = world
    wednesday = datetime(2026, 11, 25, tzinfo=SHANGHAI)
    assert found(lists, **{"from": wednesday, "to": wednesday + timedelta(days=1)}) == [n["T5"]]
    with pytest.raises(ValueError, match="before"):
        TicketsQuery.model_validate({"from": wednesday, "to": wednesday})
