"""The Article aggregate: one knowledge-base entry, every version of it kept.

An article answers the common questions of some categories: a title, a body, a
language (zh or en) and standard replies, short texts an agent sends as they are.
Supervisors and managers publish it; each publication is a new version, and every
version stays readable as it was (`version(n)`). A draft (turned from a closed ticket
or a problem's root cause) is written but not yet published: nobody is answered with
it. A retired article is answered with no more; publishing it again brings it back.

What happens with an article is not recorded on it, so that many people using one
article at once never contend for it: an agent's answer is recorded on the ticket it
answered, a customer's self-service read as a report of its own
(`domain.self_service`); the read side counts both beside the article.

Like a ticket's, every event carries `prev`, the digest of the event before it, so an
article's history verifies; `apply` bodies hold no clock, ids or IO. Events are named
apart from the ticket's and the problem's (`ArticlePublished`).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate

from domain.actor import Actor
from domain.errors import IllegalState, Invalid
from domain.ticket import ChainedEvent

ARTICLE_NAMESPACE = UUID("6d0a3f4e-8c21-4b7a-9e55-3a1f2c7d9b04")
LANGUAGES = ("zh", "en")
STATUSES = ("draft", "published", "retired")
CONTENT = ("title", "body", "language", "categories", "replies")


def article_id_for(number: str) -> UUID:
    return uuid5(ARTICLE_NAMESPACE, number)


def check_content(content: dict[str, Any]) -> None:
    """What every version must hold (the edge checks lengths; this checks sense)."""
    if not str(content.get("title", "")).strip():
        raise Invalid("an article needs a title")
    if not str(content.get("body", "")).strip():
        raise Invalid("an article needs a body")
    if content.get("language") not in LANGUAGES:
        raise Invalid(f"language {content.get('language')!r} is not one of {LANGUAGES}")
    if not content.get("categories"):
        raise Invalid("an article answers at least one category")
    if any(not str(reply).strip() for reply in content.get("replies", [])):
        raise Invalid("a standard reply cannot be blank")


class Article(Aggregate):
    """A knowledge-base entry: ArticleOpened, then drafts, versions and retirements."""

    class Event(ChainedEvent):
        pass

    class ArticleOpened(Event, Aggregate.Created):
        """The article's number, and what it was written from (None: written anew;
        `{"kind": "ticket" | "problem", "id", "number"}`: turned from a case)."""

        number: str
        source: dict | None

        def apply(self, a: Article) -> None:
            a.number, a.source = self.number, self.source

    class Text(Event):
        """What an article says (never recorded as such: its drafts and versions are)."""

        number: str
        title: str
        body: str
        language: str
        categories: list
        replies: list

        def text(self) -> dict:
            return {key: getattr(self, key) for key in CONTENT}

    class ArticleDrafted(Text):
        """A text not published yet (a case turned into an article, masked)."""

        def apply(self, a: Article) -> None:
            a.draft = self.text()
            if a.status != "published":
                a.status = "draft"

    class ArticlePublished(Text):
        """Version `article_version` of the text, the one answered with from now on."""

        article_version: int

        def apply(self, a: Article) -> None:
            a.versions = [
                *a.versions,
                {
                    "version": self.article_version,
                    **self.text(),
                    "published_at": self.timestamp,
                    "by": self.actor,
                },
            ]
            a.status, a.draft = "published", None

    class ArticleRetired(Event):
        number: str
        reason: str

        def apply(self, a: Article) -> None:
            a.status, a.retired_reason = "retired", self.reason

    # ---- state ------------------------------------------------------------------

    chain_head: str = ""
    number: str = ""
    source: dict | None = None
    status: str = "draft"
    draft: dict | None = None
    retired_reason: str | None = None

    def __init__(self, **_: Any) -> None:  # fields are set by ArticleOpened.apply
        self.versions: list[dict] = []

    # ---- reading ------------------------------------------------------------------

    @property
    def current(self) -> dict | None:
        """The latest published version (None: never published)."""
        return self.versions[-1] if self.versions else None

    def version_of(self, n: int | None) -> dict:
        """Version `n` as it was published (None: the latest)."""
        if n is None:
            if self.current is None:
                raise IllegalState(f"article {self.number} has not been published")
            return self.current
        if not 1 <= n <= len(self.versions):
            raise Invalid(f"article {self.number} has versions 1 to {len(self.versions)}, not {n}")
        return self.versions[n - 1]

    def in_service(self) -> dict:
        """The version answered with and shown to customers; `illegal_state` while the
        article is a draft or retired."""
        if self.status != "published":
            raise IllegalState(
                f"article {self.number} is {self.status}: nobody is answered with it"
            )
        return self.version_of(None)

    def answer(self, reply: int | None) -> tuple[dict, str]:
        """The version answered with now, and the text the customer reads: the standard
        reply `reply` (counted from 0), or the article's title and body."""
        current = self.in_service()
        if reply is None:
            return current, f"{current['title']}\n\n{current['body']}"
        if not 0 <= reply < len(current["replies"]):
            count = len(current["replies"])
            raise Invalid(f"article {self.number} has {count} standard replies; no reply {reply}")
        return current, current["replies"][reply]

    # ---- commands (guards, then one event) ----------------------------------------

    @classmethod
    def open(cls, *, number: str, source: dict | None, actor: Actor, at: Any) -> Article:
        return cls._create(
            cls.ArticleOpened,
            id=article_id_for(number),
            timestamp=at,
            actor=actor.record(),
            prev="",
            number=number,
            source=source,
        )

    def _record(self, event_class: type, *, actor: Actor, at: Any, **fields: Any) -> None:
        self.trigger_event(
            event_class,
            timestamp=at,
            actor=actor.record(),
            prev=self.chain_head,
            number=self.number,
            **fields,
        )

    def write_draft(self, *, content: dict[str, Any], actor: Actor, at: Any) -> None:
        check_content(content)
        self._record(self.ArticleDrafted, actor=actor, at=at, **_content(content))

    def publish(self, *, content: dict[str, Any], actor: Actor, at: Any) -> int:
        """Publish the next version; the same text as the latest changes nothing (0)."""
        check_content(content)
        fields = _content(content)
        current = self.current
        if (
            current
            and self.status == "published"
            and all(current[key] == fields[key] for key in CONTENT)
        ):
            return 0
        version = len(self.versions) + 1
        self._record(self.ArticlePublished, actor=actor, at=at, article_version=version, **fields)
        return version

    def retire(self, *, reason: str, actor: Actor, at: Any) -> None:
        if self.status == "retired":
            raise IllegalState(f"article {self.number} is already retired")
        self._record(self.ArticleRetired, actor=actor, at=at, reason=reason)


def _content(content: dict[str, Any]) -> dict[str, Any]:
    return {
        "title": content["title"].strip(),
        "body": content["body"].strip(),
        "language": content["language"],
        "categories": list(dict.fromkeys(content["categories"])),
        "replies": [reply.strip() for reply in content.get("replies", [])],
    }
