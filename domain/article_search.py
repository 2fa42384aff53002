"""Which articles answer a question: the text similarity that finds two requests
saying the same thing (`domain.similarity`), between the question and each article.

An article is its title (twice: a title says what the article answers), its body and
its standard replies. Terms common to many articles ("account", "请") are weighed
down by their inverse document frequency, as a search engine does, so that what sets
an article apart decides. Pure: the standard library only.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from domain.similarity import similarity, terms


@dataclass(frozen=True)
class Entry:
    key: str
    title: str
    body: str
    replies: Sequence[str] = ()
    language: str | None = None


def article_text(entry: Entry) -> str:
    return "\n".join([entry.title, entry.title, entry.body, *entry.replies])


class ArticleIndex:
    def __init__(self, entries: Iterable[Entry]) -> None:
        self.entries = {e.key: e for e in entries}
        counted = {key: terms(article_text(e)) for key, e in self.entries.items()}
        df: dict[str, int] = {}
        for found in counted.values():
            for term in found:
                df[term] = df.get(term, 0) + 1
        n = len(counted)
        self.idf = {t: math.log(1 + n / d) for t, d in df.items()}
        self.vectors = {key: self._weigh(found) for key, found in counted.items()}

    def __len__(self) -> int:
        return len(self.entries)

    def _weigh(self, found: dict[str, int]) -> dict[str, float]:
        weights = {
            t: (1.0 + math.log(c)) * self.idf.get(t, 0.0) for t, c in found.items() if t in self.idf
        }
        norm = math.sqrt(sum(w * w for w in weights.values()))
        return {t: w / norm for t, w in weights.items()} if norm else {}

    def rank(
        self, question: str, limit: int = 3, language: str | None = None
    ) -> list[tuple[str, float]]:
        """The best `limit` articles for the question, with a score from 0 to 1, best
        first; articles that share no term with it are left out."""
        asked = self._weigh(terms(question))
        scored = [
            (key, round(similarity(asked, v), 4))
            for key, v in self.vectors.items()
            if language is None or self.entries[key].language == language
        ]
        found = sorted((s for s in scored if s[1] > 0), key=lambda s: (-s[1], s[0]))
        return found[:limit]
