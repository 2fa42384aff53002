"""The customers' self-service page (`/help`) in headless Chromium: a customer describes
a question, is shown the article that answers it, says it solved the question and is
thanked; no ticket is opened. Screenshots of each step, in Chinese and English."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser import screenshots

pytestmark = [pytest.mark.nats, pytest.mark.browser]
SUPERVISOR, AGENT = ("S001", "supervisor"), ("A007", "agent")
ARTICLES = {
    "zh": {
        "title": "登录时提示密码错误怎么办",
        "body": "1. 确认没有开启大写锁定,输入法为英文状态。\n"
        "2. 连续输错 5 次,账号会锁定 30 分钟,之后可以再试。\n"
        "3. 仍然不行,请在登录页点击“忘记密码”,按短信验证码重设密码。",
        "language": "zh",
        "categories": ["account"],
    },
    "en": {
        "title": "The app says my password is wrong",
        "body": "1. Check that Caps Lock is off.\n"
        "2. After 5 wrong passwords the account is locked for 30 minutes.\n"
        "3. Still stuck? Choose “Forgot password” on the sign-in page and reset it.",
        "language": "en",
        "categories": ["account"],
    },
}
DISTRACTOR = {  # a published article the question must not be answered with first
    "title": "发票开错了如何重开",
    "body": "在订单详情页申请重开发票,财务会在 3 个工作日内处理。",
    "language": "zh",
    "categories": ["billing"],
}
QUESTIONS = {
    "zh": "登录不上去，一直提示密码错误",
    "en": "I cannot sign in: it says my password is wrong",
}


@pytest.fixture
async def api(console) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=console.parts.http.url, timeout=10) as client:
        yield client


async def published(api: httpx.AsyncClient, article: dict, question: str) -> str:
    """Publish over the HTTP API; its id once suggestions offer it for the question."""
    reply = await api.post("/api/v1/articles", json=article, auth=SUPERVISOR)
    assert reply.status_code == 200, reply.text
    article_id = reply.json()["article_id"]
    deadline = time.monotonic() + 10
    while True:
        found = await api.get("/api/v1/articles/suggestions", params={"text": question}, auth=AGENT)
        if article_id in [a["article_id"] for a in found.json()["articles"]]:
            return article_id
        assert time.monotonic() < deadline, "the article was never suggested"
        await asyncio.sleep(0.1)


class HelpPage:
    """The steps a customer takes on /help."""

    def __init__(self, page: Any, shots: Path, lang: str) -> None:
        self.page, self.shots, self.lang = page, shots, lang

    async def open(self) -> HelpPage:
        await self.page.goto(f"/help?lang={self.lang}")
        await self.shot("1-help")
        return self

    async def ask(self, question: str) -> list[str]:
        """Type the question and send it; the titles of the articles offered."""
        await self.page.fill("#question", question)
        async with self.page.expect_navigation():
            await self.page.click("#ask-button")
        await self.shot("2-suggestions")
        return await self.page.locator("article.answer h2").all_inner_texts()

    async def solved_by(self, title: str) -> str:
        article = self.page.locator("article.answer", has_text=title)
        async with self.page.expect_navigation():
            await article.locator("button.solved").click()
        await self.shot("3-thanks")
        return await self.page.locator("main").inner_text()

    async def not_solved_then_ticket(self, email: str) -> str:
        """ "Not solved" on the first article, then send the ticket form it shows with an
        e-mail address; the reference the page answers with."""
        async with self.page.expect_navigation():
            await self.page.locator("article.answer button.not-solved").first.click()
        await self.page.fill("#ticket-email", email)
        await self.shot("4-ticket-form")
        async with self.page.expect_navigation():
            await self.page.click("#open-ticket")
        await self.shot("5-received")
        return await self.page.locator("#reference").inner_text()

    async def shot(self, name: str) -> None:
        await screenshots.save(self.page, self.shots / f"help-{self.lang}-{name}.png")


@pytest.mark.parametrize("lang", ["zh", "en"])
async def test_a_customer_finds_the_answer_and_no_ticket_is_opened(
    browser, console, api, tmp_path: Path, lang: str
) -> None:
    await published(api, DISTRACTOR, DISTRACTOR["title"])
    article, question = ARTICLES[lang], QUESTIONS[lang]
    await published(api, article, question)
    context = await browser.new_context(base_url=console.parts.http.url, locale="en-US")
    page = await context.new_page()
    try:
        help_page = await HelpPage(page, tmp_path, lang).open()
        titles = await help_page.ask(question)
        assert titles == [article["title"]]  # and not the one that shares a word
        body = page.locator("article.answer").first.locator(".value")
        assert (await body.inner_text()).count("\n") == 2  # line breaks kept, as text
        thanks = await help_page.solved_by(article["title"])
    finally:
        await context.close()
    assert ("没有为此创建工单" if lang == "zh" else "No ticket was opened") in thanks
    stats = (await api.get("/api/v1/stats", auth=("M001", "manager"))).json()["stats"]
    assert stats["tickets"] == 0


@pytest.mark.parametrize("lang", ["zh", "en"])
async def test_a_customer_not_helped_opens_a_ticket_with_the_question(
    browser, console, api, tmp_path: Path, lang: str
) -> None:
    article, question = ARTICLES[lang], QUESTIONS[lang]
    await published(api, article, question)
    context = await browser.new_context(base_url=console.parts.http.url, locale="en-US")
    page = await context.new_page()
    try:
        help_page = await HelpPage(page, tmp_path, lang).open()
        await help_page.ask(question)
        reference = await help_page.not_solved_then_ticket("customer@example.com")
    finally:
        await context.close()
    deadline = time.monotonic() + 10
    while (found := await api.get(f"/api/v1/tickets/{reference}", auth=SUPERVISOR)).is_error:
        assert time.monotonic() < deadline, "the request never became a ticket"
        await asyncio.sleep(0.1)
    assert found.json()["ticket"]["content"] == question
