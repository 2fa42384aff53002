"""The statistics, ticket-list and audit pages in headless Chromium: the charts are
drawn, a figure opens the list of its tickets, the audit trail pages, and whatever a
customer or an agent typed stays text there. A screenshot of each page is kept under
the test's temp dir."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import nats
import pytest

from services.edge.http.console.text import shown
from tests.browser import screenshots
from tests.browser.pages import AuditPage, LoginPage, StatsPage, TicketListPage
from tests.browser.test_console import published
from tests.integration.helpers import ask

pytestmark = [pytest.mark.nats, pytest.mark.browser]
SUPERVISOR = {"id": "S001", "role": "supervisor"}
WORDS = '<script>alert("x")</script><img src=x onerror=alert("img")> javascript:alert(1)'
BIDI = "\u202eevil.exe\u202c"  # right-to-left override: shown as [U+202E]evil.exe[U+202C]
AGENT = 'javascript:alert("agent")<img src=x onerror=alert("agent")>' + BIDI  # an agent id


async def command(console, name: str, number: str, actor: dict = SUPERVISOR, **body) -> None:
    nc = await nats.connect(console.url)
    try:
        reply = await ask(nc, f"tickets.cmd.{name}", {"number": number, "actor": actor, **body})
    finally:
        await nc.close()
    assert reply["ok"], reply


async def until(check: Callable[[], Awaitable[bool]], timeout: float = 10) -> None:
    """Until the read side shows what the test did (it trails the store a little)."""
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "the page never showed it"
        await asyncio.sleep(0.2)


async def shot(page, tmp_path: Path, name: str) -> None:
    await screenshots.save(page, tmp_path / name)


async def test_the_statistics_draw_their_charts_and_a_figure_opens_its_tickets(
    page, console, tmp_path
) -> None:
    contents = ["页面白屏,报错500", "退款还没到账,要投诉", "建议增加夜间模式"]
    numbers = [
        await published(console, {"external_id": f"s-{i}", "content": text})
        for i, text in enumerate(contents)
    ]
    await command(console, "assign", numbers[1], assignee="A007")
    await command(console, "close", numbers[1], resolution="refunded")
    await LoginPage(page).sign_in("M001", role="manager")
    stats = StatsPage(page)

    async def counted() -> bool:
        await stats.open()
        return await stats.count("closed_now") == "1"

    await until(counted)
    assert await stats.count("tickets_total") == "3"
    assert await stats.bars() >= 2 * 30  # created and closed, for each of the 30 days
    assert await page.locator("#quality svg.chart line.goal").count() == 2  # FCR and CSAT
    await shot(page, tmp_path, "stats.png")

    closed = await stats.open_figure("#count-closed_now")
    assert await closed.numbers() == [numbers[1]]
    assert await closed.count() == 1
    await page.go_back()
    today = "#per-day svg a:has(rect.created:not([height='0.0']))"
    created = await stats.open_figure(today)
    assert sorted(await created.numbers()) == sorted(numbers)
    await shot(page, tmp_path, "tickets.png")
    assert page.dialogs == []


async def test_the_audit_trail_pages_forward_and_back_to_the_first(page, console, tmp_path) -> None:
    for i in range(3):
        await published(console, {"external_id": f"a-{i}", "content": "查询订单"})
    await LoginPage(page).sign_in("AU1", role="auditor")
    audit = AuditPage(page)

    async def six() -> bool:
        await audit.open("limit=6")
        return len(await audit.sequences()) == 6

    await until(six)  # Received and Classified of each
    first = await (await audit.open("limit=4")).sequences()
    second = await (await audit.next()).sequences()
    assert len(first) == 4 and 2 <= len(second) <= 4
    assert [int(s) for s in first + second] == sorted(int(s) for s in first + second)
    assert set(first).isdisjoint(second)
    await shot(page, tmp_path, "audit.png")
    assert await (await audit.first()).sequences() == first


async def test_what_people_typed_is_text_on_the_ticket_list_and_the_audit_trail(
    page, console, tmp_path
) -> None:
    number = await published(
        console, {"external_id": "evil-2", "subject": WORDS, "content": WORDS + BIDI}
    )
    hostile = {"id": '<img src=x onerror=alert("actor")>', "role": "supervisor"}
    await command(
        console, "classify", number, hostile, type="complaint", category="billing", reason=WORDS
    )
    await command(console, "assign", number, hostile, assignee=AGENT)
    await command(console, "update", number, hostile, note=WORDS + BIDI)
    await LoginPage(page).sign_in("S001", role="supervisor")

    stats = StatsPage(page)

    async def grouped() -> bool:
        await stats.open("group_by=agent")
        return await page.locator("#breakdown-table", has_text="javascript:").count() == 1

    await until(grouped)
    row = page.locator("#breakdown-table tbody tr", has_text="javascript:")
    await row.locator("a.figure").first.click()
    await page.wait_for_url("**/tickets?**")
    listed = TicketListPage(page)
    assert await listed.numbers() == [number]
    assert shown(AGENT) in await page.locator("#tickets").inner_text()
    assert shown(AGENT) in await page.locator("#filters-applied").inner_text()
    await page.hover("#tickets tbody td:nth-child(6)")
    assert await page.locator("#tickets script, #tickets img, #filters-applied script").count() == 0
    assert await page.locator("#tickets bdi", has_text="evil.exe").count() == 1
    await shot(page, tmp_path, "hostile-tickets.png")

    await AuditPage(page).open(f"ticket={number}")
    trail = await page.locator("#audit").inner_text()
    assert WORDS in trail and hostile["id"] in trail and f"assignee: {shown(AGENT)}" in trail
    assert "[U+202E]evil.exe[U+202C]" in trail and "\u202e" not in trail
    await page.hover("#audit tbody tr:last-child td:last-child")
    assert await page.locator("#audit script, #audit img").count() == 0
    assert await page.locator("#audit a[href^='javascript']").count() == 0
    assert await page.locator("#audit bdi", has_text="evil.exe").count() >= 2
    await shot(page, tmp_path, "hostile-audit.png")
    assert page.dialogs == []
