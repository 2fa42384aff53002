"""The knowledge base in headless Chromium: a supervisor writes an article on /kb and
revises it (both versions readable, the old one saying it is not the latest); a
customer's request arrives, an agent sees the article suggested on the ticket's page and
answers with a standard reply in one click (the timeline names the article and version,
the first response is met); a closed ticket and a problem's root cause become drafts.
Screenshots of /kb, an article and a ticket with suggestions, in English and Chinese,
are kept under the test's temp dir."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from tests.browser import screenshots
from tests.browser.pages import LoginPage, ProblemPage, TicketPage
from tests.browser.test_console import published

pytestmark = [pytest.mark.nats, pytest.mark.browser]
LOGIN_BODY = (
    "登录失败多为密码错误或验证码过期。\n"
    "1. 点击“忘记密码”,用短信验证码重置密码;\n"
    "2. 连续输错 5 次账号会锁定 30 分钟,请稍后再试。\n"
    '<script>alert("kb")</script>'
)
REVISED = LOGIN_BODY.replace("30 分钟", "15 分钟")
REPLIES = (
    "您好,请点击“忘记密码”重置密码后再登录,如仍无法登录请告诉我们看到的提示。",
    "您好,账号因多次输错密码已被临时锁定,15 分钟后会自动解锁。",
)


class KbPage:
    """/kb and /kb/<number>: the steps a person takes on them."""

    def __init__(self, page: Any) -> None:
        self.page = page

    async def write(self, title: str, body: str, categories: str, replies: tuple[str, ...],
                    language: str = "zh") -> str:  # fmt: skip
        """Publish a new article from /kb; the message on the page it leads to."""
        await self.page.fill("#article-title", title)
        await self.page.fill("#article-body-field", body)
        await self.page.select_option("#article-language", language)
        await self.page.fill("#article-categories", categories)
        await self.page.fill("#article-replies", "\n".join(replies))
        async with self.page.expect_navigation():
            await self.page.click("#publish_article")
        return await self.page.locator("#message").inner_text()

    async def revise(self, body: str) -> str:
        await self.page.fill("#article-body-field", body)
        async with self.page.expect_navigation():
            await self.page.click("#publish")
        return await self.page.locator("#message").inner_text()

    async def listed(self, number: str, query: str = "", timeout: float = 10) -> None:
        """Open /kb (with `query`) until the read side lists the article."""
        deadline = time.monotonic() + timeout
        row = self.page.locator(f"#articles tr[data-number='{number}']")
        while True:
            await self.page.goto("/kb" + (f"?{query}" if query else ""))
            if await row.count():
                return
            assert time.monotonic() < deadline, f"{number} never listed on /kb?{query}"
            await asyncio.sleep(0.2)


async def shot(page: Any, tmp_path: Path, name: str) -> None:
    await screenshots.save(page, tmp_path / name)


async def suggested(page: Any, number: str, article: str, timeout: float = 10) -> None:
    """Open the ticket's page until the article is suggested on it."""
    deadline = time.monotonic() + timeout
    while True:
        await TicketPage(page).open(number)
        if await page.locator(f"#suggestions li[data-number='{article}']").count():
            return
        assert time.monotonic() < deadline, f"{article} never suggested on {number}"
        await asyncio.sleep(0.2)


async def test_an_article_written_and_revised_answers_a_customer_in_one_click(
    page, console, tmp_path
) -> None:
    await LoginPage(page).sign_in("S001", role="supervisor")
    await page.click("#nav-kb")
    assert await page.locator("h1").inner_text() == "Knowledge base"
    kb = KbPage(page)
    assert await kb.write("登录失败怎么办", LOGIN_BODY, "account/login", REPLIES) == "Done."
    assert page.url.endswith("/kb/KB0001?msg=done")
    assert await page.locator("#article-version").inner_text() == "v1"
    assert await page.locator("#article-body").inner_text() == LOGIN_BODY  # lines kept
    assert await page.locator("#article-body script").count() == 0  # text, not markup

    assert await kb.revise(REVISED) == "Done."
    assert await page.locator("#article-version").inner_text() == "v2"
    assert "15 分钟" in await page.locator("#article-body").inner_text()
    versions = page.locator("#versions tbody tr")
    assert [await versions.nth(i).get_attribute("data-version") for i in range(2)] == ["2", "1"]
    assert "S001" in await versions.nth(1).inner_text()
    assert await page.locator("#old-version").count() == 0
    await shot(page, tmp_path, "kb-article-en.png")
    await page.click("#versions a[href$='?version=1']")
    assert "not the latest" in await page.locator("#old-version").inner_text()
    assert "30 分钟" in await page.locator("#article-body").inner_text()
    assert await page.locator("#revise").count() == 0  # an old version is read-only
    await shot(page, tmp_path, "kb-article-old-en.png")

    await kb.listed("KB0001", "q=密码错误")
    row = await page.locator("#articles tr[data-number='KB0001']").inner_text()
    for fact in ("登录失败怎么办", "account/login", "published", "v2"):
        assert fact in row
    assert "Ranked by similarity" in await page.locator("#kb-ranked").inner_text()
    await shot(page, tmp_path, "kb-en.png")

    number = await published(
        console, {"external_id": "kb-1", "content": "登录不上去，一直提示密码错误"}
    )
    await LoginPage(page).sign_in("A007", role="agent")
    await suggested(page, number, "KB0001")
    suggestion = page.locator("#suggestions li[data-number='KB0001']")
    assert (await suggestion.locator(".score").inner_text()).endswith("%")
    assert await suggestion.locator("a").first.get_attribute("href") == "/kb/KB0001"
    await shot(page, tmp_path, "ticket-suggestions-en.png")
    async with page.expect_navigation():
        await page.click("#reply-KB0001-1")
    assert await page.locator("#message").inner_text() == "Done."
    answer = page.locator("#timeline .kb-answer")
    assert await answer.inner_text() == "answered with KB0001 v2 (登录失败怎么办)"
    assert await answer.locator("a").get_attribute("href") == "/kb/KB0001?version=2"
    assert REPLIES[1] in await page.locator("#timeline tbody tr:last-child").inner_text()
    first_response = page.locator("#sla tr:has-text('first response') .state")
    assert await first_response.inner_text() == "Met"

    await page.click("#lang-switch")
    await TicketPage(page).open(number)
    assert await page.locator("#suggestions h2").inner_text() == "推荐的知识库文章"
    assert "用知识库文章答复 KB0001 v2" in await page.locator("#timeline").inner_text()
    await shot(page, tmp_path, "ticket-suggestions-zh.png")
    await kb.listed("KB0001", "q=密码错误")
    assert await page.locator("#articles tr[data-number='KB0001'] td").nth(7).inner_text() == "1"
    await shot(page, tmp_path, "kb-zh.png")
    await page.goto("/kb/KB0001")
    assert await page.locator("#uses").inner_text() == "1"
    await shot(page, tmp_path, "kb-article-zh.png")
    await page.goto("/kb/KB0001?version=1")
    assert "不是最新版本" in await page.locator("#old-version").inner_text()
    assert page.dialogs == []


async def test_a_closed_ticket_becomes_a_draft_that_is_then_published(page, console) -> None:
    number = await published(console, {"external_id": "kb-2", "content": "发票抬头开错了怎么办"})
    await LoginPage(page).sign_in("S001", role="supervisor")
    await TicketPage(page).open(number)
    assert await page.locator("#draft_article").count() == 0  # not while it is open
    await page.fill("#resolution", "作废原发票,按正确抬头重新开具")
    await page.click("#close")
    assert await page.locator("#message").inner_text() == "Done."
    assert await page.locator("#suggestions").count() == 0  # nothing to answer now
    async with page.expect_navigation():
        await page.click("#draft_article")
    assert "/kb/KB" in page.url
    assert "A draft was written" in await page.locator("#message").inner_text()
    assert await page.locator("#article-status").inner_text() == "draft"
    assert await page.locator("#source a").inner_text() == number
    assert "重新开具" in await page.locator("#draft-body").inner_text()
    assert "重新开具" in await page.locator("#article-body-field").input_value()  # prefilled
    await page.fill("#article-replies", "您好,我们将为您重新开具发票。")
    async with page.expect_navigation():
        await page.click("#publish")
    assert await page.locator("#message").inner_text() == "Done."
    assert await page.locator("#article-status").inner_text() == "published"
    assert await page.locator("#draft").count() == 0


async def test_a_problem_s_root_cause_becomes_an_article_listed_on_the_problem(
    page, console
) -> None:
    numbers = [
        await published(console, {"external_id": f"kb-p{i}", "content": "App 闪退,打不开"})
        for i in range(2)
    ]
    await LoginPage(page).sign_in("S001", role="supervisor")
    await page.goto("/problems")
    await page.fill("#problem-title", "新版 App 启动闪退")
    await page.fill("#problem-tickets", " ".join(numbers))
    async with page.expect_navigation():
        await page.click("#open_problem")
    problem_url = page.url.split("?")[0]
    assert await page.locator("#draft_article").count() == 0  # no root cause yet
    assert await page.locator("#no-problem-articles").count() == 1
    message = await ProblemPage(page).record_5w1h("新版本与旧缓存不兼容", what="启动即闪退")
    assert message == "Done."
    async with page.expect_navigation():
        await page.click("#draft_article")
    assert "/kb/KB" in page.url
    article = page.url.split("/kb/")[1].split("?")[0]
    assert "新版本与旧缓存不兼容" in await page.locator("#draft-body").inner_text()
    deadline = time.monotonic() + 10
    while not await page.locator(f"#problem-articles a:text-is('{article}')").count():
        assert time.monotonic() < deadline, "the draft never listed on its problem"
        await page.goto(problem_url)
        await asyncio.sleep(0.1)


async def test_who_sees_the_knowledge_base_and_who_may_write(page, console) -> None:
    await LoginPage(page).sign_in("U001", role="auditor")
    await page.click("#nav-kb")
    assert await page.locator("#write-article").count() == 0
    await LoginPage(page).sign_in("A007", role="agent")
    await page.goto("/kb")
    assert await page.locator("#write-article").count() == 0
    await LoginPage(page).sign_in("N001", role="analytics")
    assert await page.locator("#nav-kb").count() == 0
    reply = await page.goto("/kb")
    assert reply.status == 403
