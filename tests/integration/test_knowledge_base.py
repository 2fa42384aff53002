"""The knowledge base through the application, on SQLite and PostgreSQL: articles are
published in versions that stay readable, suggested for a ticket or a customer's text,
answered with in one step (the first response met), counted when a customer's
self-service read solved the question, and drafted from closed cases."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest
from pydantic import ValidationError

from domain.errors import Forbidden, IllegalState, Invalid
from domain.ticket import ticket_id_for
from projections.articles import ArticleList
from projections.stats import Statistics
from services.application import messages as m
from services.application.article_messages import (
    ARTICLE_COMMANDS,
    ArticleQuery,
    ArticlesQuery,
    SuggestArticles,
)
from services.application.articles import KnowledgeBase
from services.application.commands import CommandService
from services.application.messages import HistoryQuery
from services.application.problem_messages import PROBLEM_COMMANDS
from services.application.problems import ProblemService
from services.application.queries import QueryService
from services.application.registration import Registrar
from services.readside.articles import ArticleShelf
from services.readside.stats import StatsQuery, StatsService
from tests.integration.helpers import ask, envelope, publish_request, read_stream
from tests.integration.projecting import project, projector, stream_of
from tests.integration.test_desk import request

SUPERVISOR = {"id": "S001", "role": "supervisor"}
AGENT = {"id": "A007", "role": "agent"}
WEB = {"id": "web", "role": "channel"}
LOGIN = {
    "title": "登录失败怎么办",
    "body": "登录失败多为密码错误或验证码过期。请点击“忘记密码”重置密码后再登录；"
    "连续输错5次账号会锁定30分钟。",
    "language": "zh",
    "categories": ["account/login"],
    "replies": ["您好，请点击“忘记密码”重置后再试，如仍无法登录请告诉我们看到的提示。"],
}
REFUND = {
    "title": "How long does a refund take?",
    "body": "Refunds go back to the original payment method within 3 to 5 working days "
    "after the returned parcel is checked at our warehouse.",
    "language": "en",
    "categories": ["billing/refund"],
}


def kb_send(kb: KnowledgeBase, name: str, actor: dict = SUPERVISOR, **fields) -> dict:
    return kb.execute(name, ARTICLE_COMMANDS[name].model_validate({"actor": actor, **fields}))


def ticket_send(desk, name: str, ticket_id: str, actor: dict = AGENT, **fields) -> dict:
    model = m.COMMANDS[name]
    command = model.model_validate({"ticket_id": ticket_id, "actor": actor, **fields})
    return CommandService(desk).execute(name, command)


def consultation(desk, clock, external_id: str, content: str) -> str:
    arrived = dataclasses.replace(request(external_id, content=content), arrived_at=clock.now)
    (registered,) = Registrar(desk).register([arrived])
    return str(registered.ticket_id)


def shelf_of(desk, store_url: str) -> ArticleShelf:
    view = projector(ArticleList(), store_url)
    project(desk, view)
    return ArticleShelf(view.db, desk)


def test_every_published_version_stays_readable_as_it_was(desk) -> None:
    kb = KnowledgeBase(desk)
    first = kb_send(kb, "publish_article", **LOGIN)
    assert (first["number"], first["version"], first["status"]) == ("KB0001", 1, "published")
    revised = {**LOGIN, "body": LOGIN["body"] + "也可以用短信验证码登录。"}
    second = kb_send(kb, "publish_article", article_id="KB0001", **revised)
    assert second["version"] == 2 and second["changed"]
    same = kb_send(kb, "publish_article", article_id=first["article_id"], **revised)
    assert same["version"] == 2 and not same["changed"]  # nothing new to publish

    latest = kb.article(ArticleQuery(article_id="KB0001"))["article"]
    was = kb.article(ArticleQuery(article_id="KB0001", version=1))["article"]
    assert latest["version"]["body"].endswith("短信验证码登录。")
    assert was["version"]["body"] == LOGIN["body"] and was["version"]["by"] == SUPERVISOR
    assert [v["version"] for v in latest["versions"]] == [1, 2]
    with pytest.raises(Invalid, match="versions 1 to 2"):
        kb.article(ArticleQuery(article_id="KB0001", version=3))

    history = QueryService(desk).history(HistoryQuery(number="KB0001"))
    assert history["verified"] is True
    assert [(e["type"], e["data"].get("article_version")) for e in history["events"]] == [
        ("ArticleOpened", None),
        ("ArticlePublished", 1),
        ("ArticlePublished", 2),
    ]


def test_only_supervisors_and_managers_keep_the_knowledge_base(desk) -> None:
    kb = KnowledgeBase(desk)
    with pytest.raises(Forbidden):
        kb_send(kb, "publish_article", AGENT, **LOGIN)
    with pytest.raises(ValidationError, match="language"):
        kb_send(kb, "publish_article", **{**LOGIN, "language": "fr"})
    assert not any(e["type"].startswith("ticketflow.article") for _, e in stream_of(desk))


def test_an_agent_answers_a_consultation_with_the_suggested_article_in_one_step(
    desk, clock, store_url
) -> None:
    kb = KnowledgeBase(desk)
    login = kb_send(kb, "publish_article", **LOGIN)
    kb_send(kb, "publish_article", **REFUND)
    ticket = consultation(desk, clock, "kb-1", "我的账号登录不上去，一直提示密码错误怎么办？")

    suggested = shelf_of(desk, store_url).suggest(SuggestArticles(ticket_id=ticket))["articles"]
    assert suggested[0]["number"] == "KB0001" and suggested[0]["score"] > 0
    assert [a["number"] for a in suggested] == ["KB0001"]  # the refund article shares nothing

    answered = ticket_send(desk, "answer_with_article", ticket, article_id=login["number"], reply=0)
    t = desk.load(desk.resolve(ticket))
    assert t.sla["first_response"]["met_at"] == clock.now  # met at once
    (update,) = [e for e in desk.events.get(t.id) if type(e).__name__ == "ProgressUpdated"]
    assert update.visibility == "customer" and update.note == LOGIN["replies"][0]
    assert update.article == {
        "article_id": login["article_id"],
        "number": "KB0001",
        "version": 1,
        "title": LOGIN["title"],
        "reply": 0,
    }
    assert answered["version"] == t.version
    shelf = shelf_of(desk, store_url)
    (row,) = shelf.articles(ArticlesQuery(text="登录"))["articles"]
    assert row["number"] == "KB0001" and row["uses"] == 1


def test_an_article_not_published_is_neither_suggested_nor_answered_with(
    desk, clock, store_url
) -> None:
    kb = KnowledgeBase(desk)
    kb_send(kb, "publish_article", **LOGIN)
    kb_send(kb, "retire_article", article_id="KB0001", reason="登录方式已改版")
    ticket = consultation(desk, clock, "kb-2", "登录不上去，提示密码错误")
    shelf = shelf_of(desk, store_url)
    assert shelf.suggest(SuggestArticles(ticket_id=ticket))["articles"] == []
    with pytest.raises(IllegalState, match="retired"):
        ticket_send(desk, "answer_with_article", ticket, article_id="KB0001")
    with pytest.raises(Invalid, match="standard replies"):
        kb_send(kb, "publish_article", article_id="KB0001", **LOGIN)  # back in service
        ticket_send(desk, "answer_with_article", ticket, article_id="KB0001", reply=5)


def test_self_service_solved_consultations_show_as_the_self_service_rate(
    desk, clock, store_url
) -> None:
    kb = KnowledgeBase(desk)
    kb_send(kb, "publish_article", **LOGIN)
    suggested = shelf_of(desk, store_url).suggest(
        SuggestArticles(text="登录时老是说密码不对", actor=WEB)
    )["articles"]
    assert suggested[0]["number"] == "KB0001" and suggested[0]["body"] == LOGIN["body"]
    for solved in (True, True, False):
        kb_send(kb, "self_served", WEB, article_id="KB0001", channel="web", solved=solved)
    again = kb_send(
        kb, "self_served", WEB, article_id="KB0001", channel="web", solved=True, report="r-1"
    )
    assert again["recorded"]
    repeated = kb_send(
        kb, "self_served", WEB, article_id="KB0001", channel="web", solved=True, report="r-1"
    )
    assert not repeated["recorded"]  # a report the channel named is recorded once
    with pytest.raises(Forbidden):
        kb_send(kb, "self_served", AGENT, article_id="KB0001", channel="web", solved=True)
    ticket = consultation(desk, clock, "kb-3", "请问登录密码怎么修改？")
    ticket_send(
        desk,
        "classify",
        ticket,
        type="consultation",
        category="account/login",
        reason="咨询",
    )
    stats_view = projector(Statistics({}), store_url)
    project(desk, stats_view)
    stats = StatsService(stats_view.db, desk.policy, desk.clock)
    found = stats.stats(StatsQuery(group_by="category"))["stats"]
    assert (found["self_served"], found["self_service_rate"]) == (3, 3 / 4)
    assert found["groups"]["account/login"]["self_service_rate"] == 3 / 4
    (row,) = shelf_of(desk, store_url).articles(ArticlesQuery())["articles"]
    assert (row["self_served"], row["solved"]) == (4, 3)


def test_a_closed_ticket_and_a_problem_become_masked_drafts(desk, clock, store_url) -> None:
    kb = KnowledgeBase(desk)
    ticket = consultation(desk, clock, "kb-4", "发票抬头开错了，请联系我 13812345678")
    with pytest.raises(IllegalState, match="not closed"):
        kb_send(kb, "draft_article", AGENT, ticket=ticket)
    ticket_send(desk, "close", ticket, SUPERVISOR, resolution="已重开发票，邮件发至 a@b.com")
    draft = kb_send(kb, "draft_article", AGENT, ticket=ticket)
    article = kb.article(ArticleQuery(article_id=draft["number"]))["article"]
    assert article["status"] == "draft" and article["version"] is None
    assert (
        "13812345678" not in article["draft"]["body"] and "138****5678" in article["draft"]["body"]
    )
    assert article["source"]["kind"] == "ticket"

    problems = ProblemService(desk)
    opened = problems.execute(
        "open_problem",
        PROBLEM_COMMANDS["open_problem"].model_validate(
            {"actor": SUPERVISOR, "title": "发票抬头错误", "tickets": [ticket]}
        ),
    )
    with pytest.raises(IllegalState, match="no root cause"):
        kb_send(kb, "draft_article", problem=opened["number"])
    problems.execute(
        "record_root_cause",
        PROBLEM_COMMANDS["record_root_cause"].model_validate(
            {
                "actor": SUPERVISOR,
                "number": opened["number"],
                "method": "5w1h",
                "analysis": {"why": "模板缺少校验"},
                "root_cause": "开票模板不校验抬头",
            }
        ),
    )
    from_problem = kb_send(kb, "draft_article", problem=opened["number"])
    kb_send(kb, "publish_article", article_id=from_problem["number"], **REFUND)
    listed = shelf_of(desk, store_url).articles(ArticlesQuery(problem=opened["number"]))
    assert [a["number"] for a in listed["articles"]] == [from_problem["number"]]


async def until(check, timeout: float = 10.0):
    """The first truthy answer of `check()` (projections follow the stream)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not (found := await check()):
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)
    return found


@pytest.mark.nats
async def test_over_nats_a_consultation_is_answered_from_the_knowledge_base(client) -> None:
    published = await ask(client, "tickets.cmd.publish_article", {**LOGIN, "actor": SUPERVISOR})
    assert published["ok"] and published["number"] == "KB0001", published
    (event,) = await read_stream(client.jetstream(), "tickets.events.ArticlePublished.>", 1)
    assert envelope(event)["type"] == "ticketflow.article.article_published.v1"
    assert envelope(event)["subject"] == published["article_id"]

    await publish_request(
        client.jetstream(), "web", {"external_id": "kb-n1", "content": "登录不上去，提示密码错误"}
    )
    ticket_id = str(ticket_id_for("web", "kb-n1"))

    async def suggested() -> list[dict]:
        reply = await ask(
            client, "tickets.query.suggest_articles", {"ticket_id": ticket_id, "actor": AGENT}
        )
        return reply.get("articles", [])

    assert (await until(suggested))[0]["number"] == "KB0001"
    answer = {"ticket_id": ticket_id, "article_id": "KB0001", "reply": 0, "actor": AGENT}
    answered = await ask(client, "tickets.cmd.answer_with_article", answer)
    assert answered["ok"], answered
    ticket = (await ask(client, "tickets.query.ticket", {"ticket_id": ticket_id}))["ticket"]
    assert ticket["sla"]["first_response"]["met_at"] is not None

    served = {"article_id": "KB0001", "channel": "web", "solved": True, "actor": WEB}
    assert (await ask(client, "tickets.cmd.self_served", served))["ok"]
    refused = await ask(client, "tickets.cmd.self_served", {**served, "actor": AGENT})
    assert refused["error"]["code"] == "forbidden"

    async def counted() -> dict | None:
        reply = await ask(client, "tickets.query.articles", {"actor": SUPERVISOR})
        row = reply["articles"][0]
        return row if (row["uses"], row["self_served"]) == (1, 1) else None

    row = await until(counted)
    assert row["solved"] == 1
    read = await ask(client, "tickets.query.article", {"article_id": "KB0001", "version": 1})
    assert read["article"]["version"]["title"] == LOGIN["title"]
