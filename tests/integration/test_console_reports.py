"""The console's statistics, ticket-list and audit pages over HTTP, on a running service
(each store kind): every figure on /stats links to a ticket list holding exactly the
tickets it counts; lists and the audit trail page; a bad parameter is a 400 page naming
it; a role the wire would refuse the query is refused the page (403).

The history, worked through the HTTP API (local mode: `name:role`):

    T1  web, assigned to A007, answered (customer-visible), closed, rated 5
    T2  web, escalated, closed, rated 2: the rating reopens it
    T3  web, untouched
    T4  web, assigned to A007, closed, not rated

so: 4 tickets, open 2 (T2 T3), closed 2 (T1 T4); closed at least once 3 (T1 T2 T4),
first contact 2 (T1 T4), reopened 1 (T2); rated 2 (T1 T2), satisfied 1 (T1), rated
low 1 (T2); escalated 1 (T2, once); first response 3 (T1 by its update; T2 and T4 by
their close).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from html.parser import HTMLParser

import httpx
import pytest

from services.runtime.service import Service

pytestmark = pytest.mark.nats
SUPERVISOR = ("S001", "supervisor")
WEB = ("web-form", "channel")


class Page(HTMLParser):
    """What the tests read of a page: links with their attributes and text, ids' text."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.links: list[dict] = []
        self.text_of: dict[str, str] = {}
        self._open: list[tuple[str, dict]] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list) -> None:
        found = {k: v or "" for k, v in attrs}
        self._open.append((tag, {**found, "text": ""}))

    def handle_endtag(self, tag: str) -> None:
        while self._open:
            name, element = self._open.pop()
            if self._open:
                self._open[-1][1]["text"] += element["text"]
            if name == "a":
                self.links.append(element)
            if "id" in element:
                self.text_of[element["id"]] = element["text"]
            if name == tag:
                return

    def handle_data(self, data: str) -> None:
        if self._open:
            self._open[-1][1]["text"] += data

    def figures(self) -> list[dict]:
        return [a for a in self.links if "data-tickets" in a]


@pytest.fixture
async def http(service: Service) -> AsyncIterator[httpx.AsyncClient]:
    assert service.parts.http is not None
    base = f"http://127.0.0.1:{service.parts.http.port}"
    async with httpx.AsyncClient(base_url=base, timeout=20) as client:
        yield client


async def signed_in(http: httpx.AsyncClient, name: str, role: str) -> httpx.AsyncClient:
    """A console session (a client of its own, sharing the server) for `name` as `role`."""
    client = httpx.AsyncClient(
        base_url=str(http.base_url), timeout=20, headers={"accept-language": "en"}
    )
    reply = await client.post("/login", data={"username": name, "role": role})
    assert reply.status_code == 303, reply.text
    return client


async def submitted(http: httpx.AsyncClient, external_id: str, content: str = "查询订单") -> str:
    """A request submitted over the API; its number once it is a ticket."""
    body = {"external_id": external_id, "content": content}
    reply = await http.post("/api/v1/intake/web", json=body, auth=WEB)
    assert reply.status_code == 202, reply.text
    ticket_id = reply.json()["ticket_id"]
    deadline = time.monotonic() + 10
    while (found := await http.get(f"/api/v1/tickets/{ticket_id}", auth=SUPERVISOR)).is_error:
        assert time.monotonic() < deadline, "the request never became a ticket"
        await asyncio.sleep(0.05)
    return found.json()["ticket"]["number"]


async def command(http: httpx.AsyncClient, number: str, name: str, **body: object) -> None:
    reply = await http.post(f"/api/v1/tickets/{number}/{name}", json=body, auth=SUPERVISOR)
    assert reply.status_code == 200, reply.text


async def listed(console: httpx.AsyncClient, href: str) -> list[str]:
    """The numbers a ticket list holds, over all its pages (500 a page)."""
    numbers: list[str] = []
    url: str | None = href + ("&" if "?" in href else "?") + "limit=500"
    while url:
        page = await console.get(url)
        assert page.status_code == 200, (url, page.text)
        parsed = Page(page.text)
        numbers += [a["text"] for a in parsed.links if a.get("href", "").startswith("/tickets/")]
        url = next((a["href"] for a in parsed.links if a.get("id") == "next"), None)
    return numbers


async def settled(
    console: httpx.AsyncClient,
    path: str,
    wanted: dict[str, str],
    counting: dict[str, int] | None = None,
) -> Page:
    """The page once the read side has caught up: the ids in `wanted` show their text,
    and the figures in `counting` count that many tickets."""
    deadline = time.monotonic() + 10
    while True:
        page = Page((await console.get(path)).text)
        counts = {a["id"]: int(a["data-tickets"]) for a in page.figures() if "id" in a}
        if all(page.text_of.get(k, "").strip() == v for k, v in wanted.items()) and all(
            counts.get(k) == n for k, n in (counting or {}).items()
        ):
            return page
        assert time.monotonic() < deadline, ({k: page.text_of.get(k) for k in wanted}, counts)
        await asyncio.sleep(0.1)


@pytest.fixture
async def history(http: httpx.AsyncClient) -> dict[str, str]:
    t1, t2, t3, t4 = [await submitted(http, f"r-{i}") for i in range(1, 5)]
    await command(http, t1, "assign", assignee="A007")
    await command(http, t1, "update", note="已处理", visibility="customer")
    await command(http, t1, "close", resolution="done")
    await command(http, t1, "rate", score=5)
    await command(http, t2, "escalate", level="supervisor", reason="twice")
    await command(http, t2, "close", resolution="done")
    await command(http, t2, "rate", score=2)
    await command(http, t4, "assign", assignee="A007")
    await command(http, t4, "close", resolution="done")
    return {"T1": t1, "T2": t2, "T3": t3, "T4": t4}


class TestStatistics:
    async def test_every_figure_links_to_a_list_of_exactly_the_tickets_it_counts(
        self, http, history
    ) -> None:
        t = history
        console = await signed_in(http, "M001", "manager")
        # Two closed and one rated low is also the moment T2 is rated, before T4 closes:
        # three tickets closed at least once (T1 T2 T4) is only the end of the history.
        page = await settled(
            console,
            "/stats",
            {"count-tickets_total": "4", "count-closed_now": "2", "rated-low": "1"},
            counting={"fcr-rate": 3},
        )
        figures = page.figures()
        assert len(figures) > 30
        for figure in figures:
            numbers = await listed(console, figure["href"])
            assert len(numbers) == len(set(numbers)) == int(figure["data-tickets"]), figure
            if figure["text"].isdigit() and "data-unit" not in figure:
                assert int(figure["text"]) == len(numbers), figure  # a count is its list
        by_id = {a["id"]: a["href"] for a in figures if "id" in a}
        expected = {
            "count-tickets_total": {t["T1"], t["T2"], t["T3"], t["T4"]},
            "count-open": {t["T2"], t["T3"]},
            "count-closed_now": {t["T1"], t["T4"]},
            "fcr-rate": {t["T1"], t["T2"], t["T4"]},  # its denominator: closed at least once
            "csat-rate": {t["T1"], t["T2"]},  # rated
            "rated-low": {t["T2"]},
            "reopen-rate": {t["T1"], t["T2"], t["T4"]},
            "escalations-count": {t["T2"]},
        }
        for figure_id, numbers in expected.items():
            assert set(await listed(console, by_id[figure_id])) == numbers, figure_id
        await console.aclose()

    async def test_the_chart_shows_created_and_closed_per_day_with_its_numbers(
        self, http, history
    ) -> None:
        console = await signed_in(http, "BI", "analytics")
        page = await settled(console, "/stats", {"count-closed_now": "2"})
        reply = await console.get("/stats")
        assert '<svg xmlns="http://www.w3.org/2000/svg" class="chart columns"' in reply.text
        assert "style=" not in reply.text and "<style" not in reply.text
        days = [a for a in page.figures() if "closed_from" in a["href"] and a["text"] != "0"]
        assert sum(int(a["text"]) for a in days) == 2  # closed per day adds up to closed
        assert page.text_of["per-day-table"]
        await console.aclose()

    async def test_the_form_keeps_its_values_in_the_url(self, http) -> None:
        console = await signed_in(http, "S001", "supervisor")
        reply = await console.get("/stats?from=2026-11-01&to=2026-11-30&group_by=week")
        assert reply.status_code == 200
        assert 'name="from" id="from" value="2026-11-01"' in reply.text
        assert '<option value="week" selected>' in reply.text
        await console.aclose()


class TestTicketList:
    async def test_a_list_pages_newest_first(self, http) -> None:
        numbers = [await submitted(http, f"p-{i}") for i in range(5)]
        console = await signed_in(http, "S001", "supervisor")
        await settled(console, "/tickets", {"found": "5 tickets"})
        seen, url = [], "/tickets?limit=2"
        while url:
            page = Page((await console.get(url)).text)
            rows = [a["text"] for a in page.links if a.get("href", "").startswith("/tickets/")]
            assert len(rows) <= 2
            seen += rows
            url = next((a["href"] for a in page.links if a.get("id") == "next"), None)
        assert seen == list(reversed(numbers))  # numbered in arrival order; newest first
        await console.aclose()

    async def test_the_api_answers_the_same_list(self, http, history) -> None:
        deadline = time.monotonic() + 10
        while True:  # once the read side has caught up
            reply = await http.get("/api/v1/tickets", params={"rated_low": True}, auth=SUPERVISOR)
            assert reply.status_code == 200, reply.text
            if reply.json()["count"] or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
        assert [t["number"] for t in reply.json()["tickets"]] == [history["T2"]]
        bad = await http.get("/api/v1/tickets", params={"status": "lost"}, auth=SUPERVISOR)
        assert bad.status_code == 400 and "status" in bad.json()["error"]["message"]


class TestAudit:
    async def test_the_trail_pages_in_store_order_and_filters_by_ticket_and_actor(
        self, http, history
    ) -> None:
        console = await signed_in(http, "AU1", "auditor")
        deadline = time.monotonic() + 10
        while True:  # until the trail holds the history's last command (T4 closed)
            reply = await http.get("/api/v1/audit", params={"limit": 500}, auth=SUPERVISOR)
            events = reply.json()["events"]
            last = (events[-1]["number"], events[-1]["event_type"]) if events else None
            if last == (history["T4"], "Closed"):
                break
            assert time.monotonic() < deadline, last
            await asyncio.sleep(0.1)
        total = len(events)
        seen, url = [], "/audit?limit=4"
        while url:
            reply = await console.get(url)
            assert reply.status_code == 200
            page = Page(reply.text)
            seen += [a["text"] for a in page.links if a.get("href", "").startswith("/tickets/")]
            url = next((a["href"] for a in page.links if a.get("id") == "next"), None)
        assert len(seen) == total
        one = Page((await console.get(f"/audit?ticket={history['T2']}")).text)
        assert {a["text"] for a in one.links if a["href"].startswith("/tickets/")} == {
            history["T2"]
        }
        theirs = await http.get("/api/v1/audit", params={"actor_id": "S001"}, auth=SUPERVISOR)
        by_actor = await console.get("/audit?actor=S001")
        assert by_actor.text.count("<tr data-sequence") == len(theirs.json()["events"]) >= 9
        await console.aclose()


BAD = [  # a parameter the page refuses, and the words its reason must hold
    ("/stats?group_by=moon", "group_by"),
    ("/stats?from=2026-13-01", "from"),
    ("/stats?from=2026-11-02&to=2026-11-01", "from"),
    ("/stats?from=2020-01-01&to=2026-01-01", "366 days"),
    ("/stats?color=red", "color"),
    ("/tickets?breached=perhaps", "breached"),
    ("/tickets?page=0", "page"),
    ("/tickets?closed_to=yesterday", "closed_to"),
    ("/audit?after=-1", "after"),
    ("/audit?limit=9999", "limit"),
    ("/audit?from=2026-11-24T10:00", "from"),
]


class TestRefusals:
    async def test_a_bad_parameter_is_a_page_that_names_it(self, http) -> None:
        console = await signed_in(http, "M001", "manager")
        for path, named in BAD:
            reply = await console.get(path)
            assert reply.status_code == 400, path
            assert named in Page(reply.text).text_of["problem"], path
        await console.aclose()

    async def test_a_role_sees_the_pages_its_queries_allow(self, http) -> None:
        every_page = {"nav-board", "nav-stats", "nav-audit", "nav-problems", "nav-kb"}
        expected = {  # role: statuses of /stats, /tickets, /audit; the links it is offered
            "analytics": ((200, 200, 403), {"nav-stats"}),
            "agent": ((200, 200, 200), every_page),
            "supervisor": ((200, 200, 200), every_page),
            "auditor": ((200, 200, 200), every_page | {"nav-whatif"}),  # and the what-if
        }
        for role, (statuses, links) in expected.items():
            console = await signed_in(http, "X1", role)
            for path, status in zip(("/stats", "/tickets", "/audit"), statuses, strict=True):
                reply = await console.get(path)
                assert reply.status_code == status, (role, path)
            nav = {a["id"] for a in Page(reply.text).links if a.get("id", "").startswith("nav-")}
            assert nav == links, role
            if role == "analytics":
                assert "Your role may not see this page." in reply.text
            await console.aclose()
