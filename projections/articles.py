"""The knowledge base as a list: each article's latest text, status, where it came
from, and how it is used (tickets answered with it, self-service reports and how many
of them solved the question), so that the `articles` and `suggest_articles` queries
need not replay every article.

An agent's answer is a ticket's `ProgressUpdated` naming the article: counted here.
"""

from __future__ import annotations

import json

from infra.readdb import Tx
from projections.base import Projection, event_kind

ARTICLES = "kb_articles"
TABLES = (
    f"""CREATE TABLE IF NOT EXISTS {ARTICLES} (
    article_id TEXT PRIMARY KEY, number TEXT, status TEXT NOT NULL, version BIGINT,
    title TEXT, body TEXT, language TEXT, categories TEXT, replies TEXT,
    source_kind TEXT, source_id TEXT, source_number TEXT,
    opened_at TEXT, updated_at TEXT, published_at TEXT, last_used_at TEXT,
    uses BIGINT NOT NULL DEFAULT 0, self_served BIGINT NOT NULL DEFAULT 0,
    solved BIGINT NOT NULL DEFAULT 0)""",
    f"CREATE INDEX IF NOT EXISTS {ARTICLES}_source ON {ARTICLES} (source_id)",
)
_TEXT = "title=?, body=?, language=?, categories=?, replies=?"


def _text(data: dict) -> tuple[str, str, str, str, str]:
    return (
        data["title"],
        data["body"],
        data["language"],
        json.dumps(data["categories"], ensure_ascii=False),
        json.dumps(data["replies"], ensure_ascii=False),
    )


class ArticleList(Projection):
    name = "articles"
    tables = TABLES
    table_names = (ARTICLES,)

    def apply(self, tx: Tx, event: dict) -> None:
        kind, article, data, at = event_kind(event), event["subject"], event["data"], event["time"]
        if kind == "ArticleOpened":
            source = data.get("source") or {}
            tx.execute(
                f"INSERT INTO {ARTICLES} (article_id, number, status, title, body, language, "
                "categories, replies, source_kind, source_id, source_number, opened_at, "
                "updated_at) VALUES (?, ?, 'draft', '', '', NULL, '[]', '[]', ?, ?, ?, ?, ?) "
                "ON CONFLICT (article_id) DO NOTHING",
                (
                    article,
                    event.get("ticketnumber"),
                    source.get("kind"),
                    source.get("id"),
                    source.get("number"),
                    at,
                    at,
                ),
            )
        elif kind == "ArticleDrafted":
            tx.execute(
                f"UPDATE {ARTICLES} SET {_TEXT}, updated_at=? "
                "WHERE article_id=? AND status='draft'",
                (*_text(data), at, article),
            )
        elif kind == "ArticlePublished":
            tx.execute(
                f"UPDATE {ARTICLES} SET {_TEXT}, status='published', version=?, "
                "published_at=?, updated_at=? WHERE article_id=?",
                (*_text(data), data["article_version"], at, at, article),
            )
        elif kind == "ArticleRetired":
            tx.execute(
                f"UPDATE {ARTICLES} SET status='retired', updated_at=? WHERE article_id=?",
                (at, article),
            )
        elif kind == "ArticleSelfServed":  # a report of its own, naming its article
            tx.execute(
                f"UPDATE {ARTICLES} SET self_served=self_served+1, solved=solved+? "
                "WHERE article_id=?",
                (int(bool(data["solved"])), data["article_id"]),
            )
        elif kind == "ProgressUpdated" and data.get("article"):
            tx.execute(
                f"UPDATE {ARTICLES} SET uses=uses+1, last_used_at=? WHERE article_id=?",
                (at, data["article"]["article_id"]),
            )
