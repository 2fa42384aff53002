"""The console's knowledge-base pages over HTTP, on a running service (each store kind):
what they refuse and how they say it. A refused article comes back as typed with the
reason; a role that may not publish is refused; a reply that is no number, a draft from
an open ticket, an unknown article or version each name what is wrong; a form without the
session's token changes nothing."""

from __future__ import annotations

import re
from urllib.parse import unquote

import httpx
import pytest

from tests.integration.test_console_reports import Page, http, signed_in, submitted

pytestmark = pytest.mark.nats
__all__ = ["http"]  # the fixture, shared
ARTICLE = {
    "title": "<b>登录失败</b>怎么办",
    "body": "请点击“忘记密码”重置。\n连续输错 5 次会锁定 30 分钟。",
    "language": "zh",
    "categories": "account/login",
    "replies": "您好,请重置密码后再试。\n您好,账号 30 分钟后自动解锁。",
}


async def csrf_of(console: httpx.AsyncClient, path: str = "/kb") -> str:
    """The session's CSRF token, as a page's forms carry it."""
    found = re.search(r'name="csrf" value="([^"]+)"', (await console.get(path)).text)
    assert found, path
    return found.group(1)


async def test_a_refused_article_comes_back_as_typed_with_the_reason(http) -> None:
    console = await signed_in(http, "S001", "supervisor")
    token = await csrf_of(console)
    reply = await console.post("/kb", data={**ARTICLE, "categories": "", "csrf": token})
    assert reply.status_code == 400
    page = Page(reply.text)
    assert "categories" in page.text_of["problem"]
    assert 'value="&lt;b&gt;登录失败&lt;/b&gt;怎么办"' in reply.text  # kept, as text
    assert "连续输错 5 次会锁定 30 分钟。</textarea>" in reply.text

    published = await console.post("/kb", data={**ARTICLE, "csrf": token})
    assert published.status_code == 303
    assert published.headers["location"] == "/kb/KB0001?msg=done"
    again = await console.post("/kb/KB0001/publish", data={**ARTICLE, "csrf": token})
    assert again.headers["location"] == "/kb/KB0001?msg=kb_unchanged"  # the same text
    article = await console.get("/kb/KB0001?msg=kb_unchanged")
    assert "Same text as the latest version" in Page(article.text).text_of["message"]
    assert "<b>" not in article.text
    await console.aclose()


async def test_an_agent_reads_the_knowledge_base_but_may_not_publish(http) -> None:
    console = await signed_in(http, "A007", "agent")
    page = await console.get("/kb")
    assert page.status_code == 200
    assert "write-article" not in page.text
    reply = await console.post("/kb", data={**ARTICLE, "csrf": await csrf_of(console)})
    assert reply.status_code == 403
    assert "may not publish_article" in Page(reply.text).text_of["problem"]
    await console.aclose()


async def test_what_is_wrong_with_a_request_is_named(http) -> None:
    number = await submitted(http, "kb-r1", "登录不上去,一直提示密码错误")
    console = await signed_in(http, "S001", "supervisor")
    token = await csrf_of(console)
    answered = await console.post(
        f"/tickets/{number}/answer_with_article",
        data={"article_id": "KB0001", "reply": "first", "csrf": token},
    )
    assert answered.status_code == 303
    assert "reply" in unquote(answered.headers["location"])
    drafted = await console.post("/kb/draft", data={"ticket": number, "csrf": token})
    location = unquote(drafted.headers["location"])
    assert location.startswith(f"/tickets/{number}?msg=illegal_state")
    assert "is not closed" in location
    missing = await console.get("/kb/KB0999")
    assert missing.status_code == 404
    assert "KB0999" in Page(missing.text).text_of["problem"]
    bad_version = await console.get("/kb/KB0999?version=last")
    assert bad_version.status_code == 400
    assert "version" in Page(bad_version.text).text_of["problem"]
    await console.aclose()


async def test_a_form_without_the_session_s_token_changes_nothing(http) -> None:
    console = await signed_in(http, "S001", "supervisor")
    reply = await console.post("/kb", data=ARTICLE)
    assert reply.status_code == 403
    assert "CSRF" in reply.text
    assert "KB0001" not in (await console.get("/kb")).text
    await console.aclose()
