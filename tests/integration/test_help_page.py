"""The customers' self-service page (`/help`) of a running service: the knowledge base
answers first; "solved" is recorded without a ticket, "not solved" leads to the
open-a-ticket form; a ticket is opened through intake, once however often it is sent;
a form without its signed token records nothing."""

from __future__ import annotations

import asyncio
import html
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest

from domain.ticket import ticket_id_for
from infra.streams import INTAKE
from services.edge.http.console.views import CSP
from services.runtime.service import Service

pytestmark = pytest.mark.nats
SUPERVISOR, AGENT, MANAGER = ("S001", "supervisor"), ("A007", "agent"), ("M001", "manager")
QUESTION = "登录不上去,一直提示密码错误"
ARTICLE = {
    "title": "登录时提示密码错误怎么办",
    "body": "密码错误多半是大小写或输入法的问题。\n连续输错 5 次会锁定 30 分钟。<b>不是加粗</b>",
    "language": "zh",
    "categories": ["account"],
    "replies": [],
}


@pytest.fixture
async def web(service: Service) -> AsyncIterator[httpx.AsyncClient]:
    assert service.parts.http is not None
    base = f"http://127.0.0.1:{service.parts.http.port}"
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        yield client


async def until(check: Callable[[], Awaitable[bool]], what: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.05)


async def published(web: httpx.AsyncClient, article: dict = ARTICLE) -> dict:
    """Publish over the HTTP API, then wait until suggestions offer it."""
    reply = await web.post("/api/v1/articles", json=article, auth=SUPERVISOR)
    assert reply.status_code == 200, reply.text
    made = reply.json()

    async def offered() -> bool:
        params = {"text": QUESTION}
        found = await web.get("/api/v1/articles/suggestions", params=params, auth=AGENT)
        return made["article_id"] in {a["article_id"] for a in found.json()["articles"]}

    await until(offered, "the article was never suggested")
    return made


def token_of(page: str) -> str:
    return re.search(r'name="token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]


async def asked(web: httpx.AsyncClient, question: str = QUESTION, **contact: str) -> str:
    """The page of suggestions for a question asked on /help."""
    form = await web.get("/help")
    reply = await web.post(
        "/help/ask", data={"token": token_of(form.text), "question": question, **contact}
    )
    assert reply.status_code == 200, reply.text
    return reply.text


def article_counts(service: Service, article_id: str) -> tuple[int, int]:
    """The article's self-service reports and how many said solved (from the store)."""
    desk = service.desk
    stored = desk.recorder.select_notifications(start=1, limit=100_000)
    reports = [
        desk.mapper.to_domain_event(n) for n in stored if n.topic.endswith(".ArticleSelfServed")
    ]
    mine = [r for r in reports if r.article_id == article_id]
    return len(mine), sum(r.solved for r in mine)


async def stats(web: httpx.AsyncClient) -> dict:
    return (await web.get("/api/v1/stats", auth=MANAGER)).json()["stats"]


async def intake_published(service: Service) -> int:
    """How many requests the intake stream took (the consumer removes what it stored)."""
    return (await service.link.js.stream_info(INTAKE)).state.last_seq


async def test_the_form_is_public_and_sends_the_console_s_policy(web) -> None:
    reply = await web.get("/help?lang=en")
    assert reply.status_code == 200
    assert reply.headers["content-security-policy"] == CSP
    assert reply.cookies.get("lang") == "en"
    assert "Describe your question" in reply.text and "<script" not in reply.text
    assert "描述您的问题" in (await web.get("/help?lang=zh")).text


async def test_solved_is_recorded_and_no_ticket_is_opened(web, service) -> None:
    article = await published(web)
    page = await asked(web)
    assert ARTICLE["title"] in page
    assert "&lt;b&gt;不是加粗&lt;/b&gt;" in page and "<b>不是加粗" not in page  # text, not markup
    form = {"token": token_of(page), "article_id": article["article_id"], "solved": "yes"}
    for _ in range(2):  # a double click records one report
        thanks = await web.post("/help/solved", data=form)
        assert thanks.status_code == 200 and "没有为此创建工单" in thanks.text

    async def counted() -> bool:
        return (await stats(web))["self_served"] == 1

    await until(counted, "the statistics never counted the report")
    assert article_counts(service, article["article_id"]) == (1, 1)
    assert (await stats(web))["tickets"] == 0 and await intake_published(service) == 0


async def test_not_solved_is_recorded_and_offers_the_ticket_form_with_the_question(
    web, service
) -> None:
    article = await published(web)
    page = await asked(web, name="王先生", email="wang@example.com")
    form = {"token": token_of(page), "article_id": article["article_id"], "solved": "no"}
    reply = await web.post("/help/solved", data=form)
    assert reply.status_code == 200
    assert 'action="/help/ticket"' in reply.text and html.escape(QUESTION) in reply.text
    assert 'value="wang@example.com"' in reply.text
    assert article_counts(service, article["article_id"]) == (1, 0)


async def test_a_missing_or_tampered_token_is_refused_and_nothing_recorded(web, service) -> None:
    article = await published(web)
    page = await asked(web)
    token, article_id = token_of(page), article["article_id"]
    blank = token_of((await web.get("/help")).text)  # good, but carries no question
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    refused = [
        ("/help/solved", {"article_id": article_id, "solved": "yes"}),
        ("/help/solved", {"token": tampered, "article_id": article_id, "solved": "yes"}),
        ("/help/solved", {"token": blank, "article_id": article_id, "solved": "yes"}),
        ("/help/solved", {"token": token, "article_id": "KB9999", "solved": "yes"}),
        ("/help/ask", {"token": "x", "question": QUESTION}),
        ("/help/ticket", {"token": tampered, "content": QUESTION}),
        ("/help/ticket", {"token": blank, "content": QUESTION}),
    ]
    for path, form in refused:
        reply = await web.post(path, data=form)
        assert reply.status_code == 400, (path, form)
        assert "nothing was recorded" in reply.text or "没有记录任何内容" in reply.text
    assert article_counts(service, article_id) == (0, 0)
    assert await intake_published(service) == 0


async def test_a_blank_or_too_long_question_is_refused_with_a_message(web) -> None:
    token = token_of((await web.get("/help?lang=en")).text)
    blank = await web.post("/help/ask", data={"token": token, "question": "  \n "})
    assert blank.status_code == 400 and "Please describe your question." in blank.text
    long = await web.post("/help/ask", data={"token": token, "question": "问" * 4001})
    assert long.status_code == 400 and "within 4000 characters" in long.text
    email = await web.post("/help/ask", data={"token": token, "question": "hi", "email": "x y"})
    assert email.status_code == 400 and "does not look right" in email.text


async def test_nothing_found_offers_a_ticket_at_once(web) -> None:
    page = await asked(web, question="zzzz <script>alert(1)</script>")
    assert "没有找到与您的问题相关的文章" in page and 'action="/help/ticket"' in page
    assert "&lt;script&gt;alert(1)" in page and "<script" not in page


async def test_a_ticket_is_opened_once_however_often_it_is_sent(web, service) -> None:
    page = await asked(web, question="发票开错了,需要重开", name="李女士")
    form = {"token": token_of(page), "content": "发票开错了,需要重开", "name": "李女士"}
    form |= {"email": "li@example.com", "subject": "发票"}
    replies = [await web.post("/help/ticket", data=form) for _ in range(2)]
    assert [r.status_code for r in replies] == [200, 200]
    references = {re.search(r'id="reference">([^<]+)<', r.text).group(1) for r in replies}  # type: ignore[union-attr]
    (reference,) = references

    async def registered() -> bool:
        found = await web.get(f"/api/v1/tickets/{reference}", auth=SUPERVISOR)
        return found.status_code == 200

    await until(registered, "the request never became a ticket")
    ticket = (await web.get(f"/api/v1/tickets/{reference}", auth=SUPERVISOR)).json()["ticket"]
    assert ticket["channel"] == "web" and ticket["content"] == "发票开错了,需要重开"
    assert ticket["subject"] == "发票"
    external_id = re.fullmatch(r"help-[0-9a-f]{32}", ticket["external_id"])
    assert external_id and reference == str(ticket_id_for("web", ticket["external_id"]))
    assert await intake_published(service) == 1  # the repeat was dropped by its Nats-Msg-Id


async def test_an_article_retired_meanwhile_is_a_readable_message(web, service) -> None:
    article = await published(web)
    page = await asked(web)
    retire = {"reason": "out of date"}
    path = f"/api/v1/articles/{article['article_id']}/retire"
    assert (await web.post(path, json=retire, auth=SUPERVISOR)).status_code == 200
    form = {"token": token_of(page), "article_id": article["article_id"], "solved": "yes"}
    reply = await web.post("/help/solved", data=form)
    assert reply.status_code == 409 and "这篇文章已不再提供" in reply.text
    assert 'action="/help/ticket"' in reply.text  # the customer can still go on
    assert article_counts(service, article["article_id"]) == (0, 0)
