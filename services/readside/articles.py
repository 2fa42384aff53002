"""The `articles` and `suggest_articles` queries, served from `projections.articles`.

Suggestions rank the published articles against a question (a ticket's subject and
text, or what a customer typed on a self-service page) with `domain.article_search`.
The index is built from the read model once and again only when an article changed
(its rows' count or latest change moved), so a question costs a ranking, not a build.
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
class Shelf:
    """The read model as of one change: its rows, an index over every article with a
    text, and one over the published ones (what suggestions may offer)."""

    mark: tuple
    rows: dict[str, dict]
    every: ArticleIndex
    published: ArticleIndex


def _entry(row: dict) -> Entry:
    return Entry(row["article_id"], row["title"], row["body"], row["replies"], row["language"])


class ArticleShelf:
    def __init__(self, db: ReadDB, desk: TicketDesk) -> None:
        self.db, self.desk = db, desk
        self._lock = threading.Lock()
        self._shelf: Shelf | None = None

    def shelf(self) -> Shelf:
        """The rows and their indexes, built again only when an article changed."""
        with self.db.transaction(write=False) as tx:
            mark = tuple(tx.execute(f"SELECT COUNT(*), MAX(updated_at) FROM {ARTICLES}").fetchone())
            with self._lock:
                if self._shelf and self._shelf.mark == mark:
                    return self._shelf
            found = tx.execute(f"SELECT {', '.join(COLUMNS)} FROM {ARTICLES}").fetchall()
        rows = {r["article_id"]: r for r in map(_row, found)}
        written = [r for r in rows.values() if r["title"]]
        shelf = Shelf(
            mark,
            rows,
            ArticleIndex(map(_entry, written)),
            ArticleIndex(_entry(r) for r in written if r["status"] == "published"),
        )
        with self._lock:
            self._shelf = shelf
        return shelf

    def suggest(self, q: SuggestArticles) -> dict[str, Any]:
        """`suggest_articles`: the published articles that best answer the question."""
        question = q.text
        if question is None:
            ticket = self.desk.load(self.desk.resolve(q.ticket_id, q.number))
            question = f"{ticket.subject or ''}\n{ticket.content}"
        shelf = self.shelf()
        rows = shelf.rows
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
            for key, score in shelf.published.rank(question, q.limit, q.language)
        ]
        return {"ok": True, "articles": articles}

    def articles(self, q: ArticlesQuery) -> dict[str, Any]:
        """`articles`: the knowledge base, filtered; with `text`, the best matches first."""
        shelf = self.shelf()
        kept = [r for r in shelf.rows.values() if _matches(r, q)]
        if q.text and q.text.strip():
            scores = dict(shelf.every.rank(q.text, len(shelf.every)))
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
