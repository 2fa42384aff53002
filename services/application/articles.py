"""The knowledge base's commands (check the role, load, act, save, reply) and the
`article` query, replayed from the store like a ticket.

An article is numbered `KB` + a sequence (`KB0001`), its number saved with it in one
transaction, as a ticket's is. Answering a ticket with an article is a ticket command
(`services.application.commands`); this module lends it `load_article`.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Any
from uuid import UUID, uuid4

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError
from pydantic_core import to_jsonable_python

from domain.actor import Actor
from domain.article import Article
from domain.errors import Conflict, IllegalState, NotFound
from domain.masking import mask_text
from domain.numbers import TicketNumber, number_id
from domain.problem import Problem
from domain.roles import check_may_send
from domain.self_service import SelfServiceReport, report_id_for
from services.application import article_messages as am
from services.application.desk import SAVE_RETRIES, TicketDesk
from services.application.registration import NumberSequence

log = logging.getLogger("ticketflow.articles")
PREFIX = "KB"


class ArticleNumbers(NumberSequence):
    """`KB0001`, `KB0002`…: one sequence, not one a day."""

    def _number(self, day: date, seq: int) -> str:
        return f"{PREFIX}{seq:04d}"

    def next(self) -> str:
        return self.take(date.min)


def article_ref(desk: TicketDesk, ref: str) -> UUID:
    """An article's id from its id or its number; `not_found` otherwise."""
    try:
        return UUID(ref)
    except ValueError:
        pass
    try:
        entry: Any = desk.get(number_id(ref))
    except AggregateNotFoundError:
        raise NotFound(f"no article numbered {ref!r}") from None
    return entry.ticket_id


def load_article(desk: TicketDesk, ref: str | UUID) -> Article:
    article_id = ref if isinstance(ref, UUID) else article_ref(desk, ref)
    try:
        article: Any = desk.get(article_id)
    except AggregateNotFoundError:
        raise NotFound(f"no article {ref}") from None
    if not isinstance(article, Article):
        raise NotFound(f"no article {ref}")
    return article


class KnowledgeBase:
    def __init__(self, desk: TicketDesk) -> None:
        self.desk = desk
        self.numbers = ArticleNumbers(desk, prefix=PREFIX)

    # ---- commands ------------------------------------------------------------------

    def execute(self, name: str, command: Any) -> dict:
        check_may_send(name, command.actor.role)
        act = getattr(self, f"_{name}")
        article, reply = act(command, command.actor.value())
        log.info("%s %s by %s", name, article.number, command.actor.id)
        return {
            "ok": True,
            "article_id": str(article.id),
            "number": article.number,
            "status": article.status,
            "version": article.current["version"] if article.current else None,
            **reply,
        }

    def _publish_article(self, c: am.PublishArticle, actor: Actor) -> tuple[Article, dict]:
        content = c.model_dump(include={"title", "body", "language", "categories", "replies"})
        published: dict[str, int] = {}

        def publish(a: Article) -> None:
            published["version"] = a.publish(content=content, actor=actor, at=self.desk.clock())

        if c.article_id is None:
            article = self._open(None, actor, publish)
        else:
            article = self._change(c.article_id, publish)
        return article, {"changed": bool(published["version"])}

    def _retire_article(self, c: am.RetireArticle, actor: Actor) -> tuple[Article, dict]:
        retire = lambda a: a.retire(reason=c.reason, actor=actor, at=self.desk.clock())  # noqa: E731
        return self._change(c.article_id, retire), {}

    def _draft_article(self, c: am.DraftArticle, actor: Actor) -> tuple[Article, dict]:
        source, content = self._case(c)
        draft = lambda a: a.write_draft(content=content, actor=actor, at=self.desk.clock())  # noqa: E731
        return self._open(source, actor, draft), {}

    def _self_served(self, c: am.SelfServed, actor: Actor) -> tuple[Article, dict]:
        """A report of its own, the article only read: readers never contend. A report
        the channel named before records nothing again."""
        article = load_article(self.desk, c.article_id)
        report_id = report_id_for(c.channel, c.report) if c.report else uuid4()
        report = SelfServiceReport.record(
            report_id=report_id,
            article=article,
            channel=c.channel,
            solved=c.solved,
            question=mask_text(c.text) if c.text else None,
            actor=actor,
            at=self.desk.clock(),
        )
        try:
            self.desk.save(report)
            recorded = True
        except IntegrityError:  # this channel's report of that name is recorded already
            recorded = False
        return article, {"report_id": str(report_id), "recorded": recorded}

    def _open(self, source: dict | None, actor: Actor, then: Any) -> Article:
        now = self.desk.clock()
        for _ in range(SAVE_RETRIES):
            number = self.numbers.next()
            article = Article.open(number=number, source=source, actor=actor, at=now)
            then(article)
            try:
                self.desk.save(article, TicketNumber.register(number, article.id))
                return article
            except IntegrityError:  # another process took the number: probe again
                self.numbers.forget()
        raise Conflict(f"no free article number after {SAVE_RETRIES} tries")

    def _change(self, ref: str, action: Any) -> Article:
        article_id = article_ref(self.desk, ref)
        article: Article = self.desk.change_any(
            article_id, action, None, lambda i: load_article(self.desk, i)
        )
        return article

    def _case(self, c: am.DraftArticle) -> tuple[dict, dict]:
        """What a case says, masked, as a draft's text."""
        if c.ticket is not None:
            ticket = self.desk.load(self._id_of(c.ticket))
            if ticket.status != "closed":
                raise IllegalState(f"ticket {ticket.number} is not closed: its answer is not final")
            question = mask_text(ticket.content.strip())
            title = mask_text((ticket.subject or "").strip()) or question.splitlines()[0][:120]
            body = f"{question}\n\n{mask_text(ticket.resolution or '')}".strip()
            source = {"kind": "ticket", "id": str(ticket.id), "number": ticket.number}
            category = ticket.category
        else:
            problem = self._problem(c.problem or "")
            if problem.root_cause is None:
                raise IllegalState(f"problem {problem.number} has no root cause recorded yet")
            actions = [f"- {a['title']}" for a in problem.actions.values()]
            body = "\n".join([mask_text(problem.root_cause["root_cause"]), "", *actions]).strip()
            title, source = (
                mask_text(problem.title),
                {
                    "kind": "problem",
                    "id": str(problem.id),
                    "number": problem.number,
                },
            )
            category = problem.category
        language = "zh" if any("\u4e00" <= ch <= "\u9fff" for ch in title + body) else "en"
        content = {
            "title": title[:200],
            "body": body[:20_000],
            "language": language,
            "categories": [category or "other"],
            "replies": [],
        }
        return source, content

    def _id_of(self, ref: str) -> UUID:
        try:
            return UUID(ref)
        except ValueError:
            return self.desk.resolve(None, ref)

    def _problem(self, ref: str) -> Problem:
        try:
            problem: Any = self.desk.get(self._id_of(ref))
        except AggregateNotFoundError:
            raise NotFound(f"no problem {ref}") from None
        if not isinstance(problem, Problem):
            raise NotFound(f"no problem {ref}")
        return problem

    # ---- reading -------------------------------------------------------------------

    def article(self, q: am.ArticleQuery) -> dict:
        """`article`: the latest version, or version `version` as it was published; with
        every version's number, date and author, and the draft if one waits."""
        a = load_article(self.desk, q.article_id)
        shown = a.version_of(q.version) if (q.version is not None or a.current) else None
        return {"ok": True, "article": to_jsonable_python(view(a, shown))}


def view(a: Article, shown: dict | None) -> dict:
    return {
        "article_id": str(a.id),
        "number": a.number,
        "status": a.status,
        "source": a.source,
        "retired_reason": a.retired_reason,
        "version": shown,
        "latest": len(a.versions),
        "versions": [
            {
                "version": v["version"],
                "title": v["title"],
                "published_at": v["published_at"],
                "by": v["by"],
            }
            for v in a.versions
        ],
        "draft": a.draft,
        "history_version": a.version,
        "opened_at": a.created_on,
        "updated_at": a.modified_on,
    }
