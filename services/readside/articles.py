"""The `articles` and `suggest_articles` queries, served from `projections.articles`.

Suggestions rank the published articles against a question (a ticket's subject and
text, or what a customer typed on a self-service page) with `domain.article_search`.
The index is built from the read model once and again only when an article's text or
status changed (the rows' count or latest change moved), so a question costs reading
the rows and a ranking, not a build.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any

from domain.article_search import ArticleIndex, Entry
from infra.readdb import ReadDB
from projections.articles import ARTICLES
from services.application.article_messages import ArticlesQuery, SuggestArticles
from services.application.desk import TicketDesk

COLUMNS = (
    "article_id",
    "number",
    "status",
    "version",
    "title",
    "body",
    "language",
    "categories",
    "replies",
    "source_kind",
    "source_id",
    "source_number",
    "opened_at",
    "updated_at",
    "published_at",
    "last_used_at",
    "uses",
    "self_served",
    "solved",
)
SHOWN_IN_LIST = 300  # characters of the body in a list (the `article` query has it all)


def _row(values: tuple) -> dict[str, Any]:
    row = dict(zip(COLUMNS, values, strict=True))
    row["categories"] = json.loads(row["categories"] or "[]")
    row["replies"] = json.loads(row["replies"] or "[]")
    source = {k: row.pop(f"source_{k}") for k in ("kind", "id", "number")}
    row["source"] = source if source["kind"] else None
    return row


@dataclass(frozen=True)
class Indexes:
    """As of one change of the articles' texts: an index over every article with a
    text, and one over the published ones (what suggestions may offer)."""

    mark: tuple
    every: ArticleIndex
    published: ArticleIndex


def _entry(row: dict) -> Entry:
    return Entry(row["article_id"], row["title"], row["body"], row["replies"], row["language"])


class ArticleShelf:
    def __init__(self, db: ReadDB, desk: TicketDesk) -> None:
        self.db, self.desk = db, desk
        self._lock = threading.Lock()
        self._indexes: Indexes | None = None

    def shelf(self) -> tuple[dict[str, dict], Indexes]:
        """Every article's row as it is now, and the indexes over their texts (built
        again only when a text or a status changed: `updated_at` moves then)."""
        with self.db.transaction(write=False) as tx:
            found = tx.execute(f"SELECT {', '.join(COLUMNS)} FROM {ARTICLES}").fetchall()
        rows = {r["article_id"]: r for r in map(_row, found)}
        mark = (len(rows), max((r["updated_at"] or "" for r in rows.values()), default=""))
        with self._lock:
            if self._indexes and self._indexes.mark == mark:
                return rows, self._indexes
        written = [r for r in rows.values() if r["title"]]
        indexes = Indexes(
            mark,
            ArticleIndex(map(_entry, written)),
            ArticleIndex(_entry(r) for r in written if r["status"] == "published"),
        )
        with self._lock:
            self._indexes = indexes
        return rows, indexes

    def suggest(self, q: SuggestArticles) -> dict[str, Any]:
        """`suggest_articles`: the published articles that best answer the question."""
        question = q.text
        if question is None:
            ticket = self.desk.load(self.desk.resolve(q.ticket_id, q.number))
            question = f"{ticket.subject or ''}\n{ticket.content}"
        rows, indexes = self.shelf()
        articles = [
            {
                "article_id": key,
                "number": rows[key]["number"],
                "title": rows[key]["title"],
                "score": score,
                "version": rows[key]["version"],
                "language": rows[key]["language"],
                "categories": rows[key]["categories"],
                "body": rows[key]["body"],
                "replies": rows[key]["replies"],
            }
            for key, score in indexes.published.rank(question, q.limit, q.language)
            if key in rows
        ]
        return {"ok": True, "articles": articles}

    def articles(self, q: ArticlesQuery) -> dict[str, Any]:
        """`articles`: the knowledge base, filtered; with `text`, the best matches first."""
        rows, indexes = self.shelf()
        kept = [r for r in rows.values() if _matches(r, q)]
        if q.text and q.text.strip():
            scores = dict(indexes.every.rank(q.text, len(indexes.every)))
            kept = sorted(
                (dict(r, score=scores[r["article_id"]]) for r in kept if r["article_id"] in scores),
                key=lambda r: (-r["score"], r["number"]),
            )
        else:
            kept.sort(key=lambda r: r["number"] or "")
        shown = [dict(r, body=r["body"][:SHOWN_IN_LIST]) for r in kept[: q.limit]]
        return {"ok": True, "count": len(shown), "articles": shown}


def _matches(row: dict, q: ArticlesQuery) -> bool:
    if q.status and row["status"] != q.status:
        return False
    if q.language and row["language"] != q.language:
        return False
    if q.category and not any(
        c == q.category or c.startswith(q.category + "/") for c in row["categories"]
    ):
        return False
    if q.problem and (row["source"] or {}).get("kind") != "problem":
        return False
    return not q.problem or q.problem in (row["source"]["id"], row["source"]["number"])
