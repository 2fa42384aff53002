"""The knowledge base's messages, checked at the edge like the ticket's: an unknown
member, a missing field or a value out of range is `invalid`, named, and nothing
changes. An article is named by its id or its number (`KB0001`)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from services.application.messages import Actor, Name, Text, _Edge

Title = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Body = Annotated[str, StringConstraints(min_length=1, max_length=20_000)]
Reply = Annotated[str, StringConstraints(min_length=1, max_length=2_000)]
ArticleRef = Annotated[str, StringConstraints(min_length=1, max_length=64)]  # id or number
CaseRef = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Language = Literal["zh", "en"]
Channel = Literal["phone", "chat", "email", "app", "web", "monitoring", "internal"]
Question = Annotated[str, StringConstraints(max_length=4_000)]


class PublishArticle(_Edge):
    """A new article, or with `article_id` the next version of one (a draft's first).
    The same text as the latest version publishes nothing (`"version"` stays)."""

    title: Title
    body: Body
    language: Language
    categories: Annotated[list[Name], Field(min_length=1, max_length=20)]
    replies: Annotated[list[Reply], Field(default_factory=list, max_length=20)]
    article_id: ArticleRef | None = None
    actor: Actor


class RetireArticle(_Edge):
    article_id: ArticleRef
    reason: Text
    actor: Actor


class DraftArticle(_Edge):
    """A draft from a case: a closed ticket (`ticket`: its id or number) or a problem
    with a recorded root cause (`problem`: its id or number); its text masked."""

    ticket: CaseRef | None = None
    problem: CaseRef | None = None
    actor: Actor

    @model_validator(mode="after")
    def _one_case(self) -> DraftArticle:
        if (self.ticket is None) == (self.problem is None):
            raise ValueError("give ticket or problem (one of them)")
        return self


class SelfServed(_Edge):
    """A channel's self-service page showed the article: did it solve the question?"""

    article_id: ArticleRef
    channel: Channel
    solved: bool = Field(strict=True)
    text: Question | None = None  # what the customer asked (kept masked)
    # The channel's name for this report: sent again, it records nothing again.
    report: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    actor: Actor


class SuggestArticles(_Edge):
    """The articles that best answer a ticket (`ticket_id` or `number`) or a `text`."""

    ticket_id: str | None = None
    number: str | None = None
    text: Annotated[str, StringConstraints(min_length=1, max_length=20_000)] | None = None
    limit: int = Field(default=3, ge=1, le=20, strict=True)
    language: Language | None = None
    actor: Actor | None = None

    @model_validator(mode="after")
    def _something_to_answer(self) -> SuggestArticles:
        if not (self.ticket_id or self.number or self.text):
            raise ValueError("give ticket_id, number or text")
        if self.text is not None and (self.ticket_id or self.number):
            raise ValueError("give a ticket or a text, not both")
        return self


class ArticleQuery(_Edge):
    """One article: the latest version, or `version` as it was published."""

    article_id: ArticleRef
    version: int | None = Field(default=None, ge=1, le=1_000_000, strict=True)
    actor: Actor | None = None


class ArticlesQuery(_Edge):
    """The knowledge base as a list: `text` ranks by similarity; the rest filter."""

    text: Annotated[str, StringConstraints(max_length=2_000)] | None = None
    status: Literal["draft", "published", "retired"] | None = None
    category: Name | None = None
    language: Language | None = None
    problem: CaseRef | None = None  # the articles written from this problem (id)
    limit: int = Field(default=100, ge=1, le=1000, strict=True)
    actor: Actor | None = None


ARTICLE_COMMANDS: dict[str, type[_Edge]] = {
    "publish_article": PublishArticle,
    "retire_article": RetireArticle,
    "draft_article": DraftArticle,
    "self_served": SelfServed,
}
