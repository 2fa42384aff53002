"""A customer's self-service read: on a channel's form (before any ticket), the
customer read a knowledge-base article and said whether it solved the question.

Each report is an aggregate of its own, created by its only event, so that any number
of customers reading one article at once never contend for one aggregate; the read
side counts the reports beside their article, and the statistics count the solved
ones as consultations answered without a ticket (the self-service rate). A channel
may name its report (`report`): the same name from the same channel records it once.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate

from domain.actor import Actor
from domain.article import Article
from domain.ticket import ChainedEvent

REPORT_NAMESPACE = UUID("9c4e2b71-0d5f-4a3e-8b16-e7f2a95c3d48")


def report_id_for(channel: str, report: str) -> UUID:
    return uuid5(REPORT_NAMESPACE, f"{channel}:{report}")


class SelfServiceReport(Aggregate):
    class Event(ChainedEvent):
        pass

    class ArticleSelfServed(Event, Aggregate.Created):
        """Version `article_version` of the article was read on `channel`'s form;
        `category`: the article's first; `question`: what the customer asked, masked."""

        number: str  # the article's
        article_id: str
        article_version: int
        channel: str
        solved: bool
        category: str
        question: str | None

        def apply(self, r: SelfServiceReport) -> None:
            r.article_id, r.solved = self.article_id, self.solved

    chain_head: str = ""

    def __init__(self, **_: Any) -> None:  # fields are set by ArticleSelfServed.apply
        self.article_id, self.solved = "", False

    @classmethod
    def record(
        cls,
        *,
        report_id: UUID,
        article: Article,
        channel: str,
        solved: bool,
        question: str | None,
        actor: Actor,
        at: Any,
    ) -> SelfServiceReport:
        shown = article.in_service()
        return cls._create(
            cls.ArticleSelfServed,
            id=report_id,
            timestamp=at,
            actor=actor.record(),
            prev="",
            number=article.number,
            article_id=str(article.id),
            article_version=shown["version"],
            channel=channel,
            solved=solved,
            category=shown["categories"][0],
            question=question,
        )
