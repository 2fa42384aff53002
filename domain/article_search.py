"""Which articles answer a question: the text similarity that finds two requests
saying the same thing (`domain.similarity`), between the question and each article.

An article is its title (twice: a title says what the article answers), its body and
its standard replies. Terms common to many articles ("account", "请") are weighed
down by their inverse document frequency, as a search engine does, so that what sets
an article apart decides. Each term of the question and of an article weighs
`(1 + log count) × √idf`, so a term both share counts its idf once in their cosine
(idf on both sides would square it, and on a knowledge base of a few dozen articles
one rare word would outweigh those that say what the question is about).

Chinese text counts its single characters too, at half the weight of a character
pair (`UNIGRAM_WEIGHT`): `domain.similarity` cuts Chinese into pairs only, and a
customer's few words often share no pair with the article that answers them while
sharing its one-character words ("坏了" and "损坏", "退钱" and "退款").

Pure: the standard library only; the same articles and question give the same
ranking, ties going to the smaller key.

Measured by `python -m bench.kb_suggest` (bench/README.md has the history): on the
held-out questions of bench/data/kb_questions.json against deploy/kb, the right
article is first for 68 % of the questions and among the first three for 90 %
(Chinese 95 %, English 85 %); with idf on both sides and character pairs only it was
67 % and 83 %.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from domain.similarity import chinese_runs, is_chinese, normal_form, similarity, terms

UNIGRAM_WEIGHT = 0.5  # a single Chinese character's weight beside a pair's
# Below it an article shares no more than a common word with the question. At 0.1 the
# right article of 17 of the 132 held-out questions (bench.kb_suggest) was hidden; at
# 0.03, of one.
MIN_SCORE = 0.03
SHARE_OF_BEST = 1 / 3  # and one far behind the best is noise beside it
T = TypeVar("T")


@dataclass(frozen=True)
class Entry:
    key: str
    title: str
    body: str
    replies: Sequence[str] = ()
    language: str | None = None


def article_text(entry: Entry) -> str:
    return "\n".join([entry.title, entry.title, entry.body, *entry.replies])


def search_terms(text: str) -> Counter[str]:
    """`domain.similarity.terms` (Chinese character pairs, English stems and stem
    pairs), plus each Chinese character that is not a function character (一 的 了 …)
    on its own: a term of one character is such a unigram."""
    found = terms(text)
    for kept in chinese_runs(normal_form(text)):
        if len(kept) > 1:  # a run of one character is a term of `terms` already
            found.update(kept)
    return found


class ArticleIndex:
    """The articles' weighted terms, ready to rank questions against. `unigram_weight`
    is a single Chinese character's weight beside a pair's (0: pairs only, the ranking
    before; bench.kb_suggest compares the two)."""

    def __init__(self, entries: Iterable[Entry], unigram_weight: float = UNIGRAM_WEIGHT) -> None:
        self.unigram_weight = unigram_weight
        self.entries = {e.key: e for e in entries}
        counted = {key: search_terms(article_text(e)) for key, e in self.entries.items()}
        df: dict[str, int] = {}
        for found in counted.values():
            for term in found:
                df[term] = df.get(term, 0) + 1
        n = len(counted)
        self.idf = {t: math.log(1 + n / d) for t, d in df.items()}
        self._root_idf = {t: math.sqrt(idf) for t, idf in self.idf.items()}
        self.vectors = {key: self._weigh(found) for key, found in counted.items()}

    def __len__(self) -> int:
        return len(self.entries)

    def _weigh(self, found: Mapping[str, int]) -> dict[str, float]:
        weights = {
            t: (1.0 + math.log(c)) * self._root_idf[t] * self._scale(t)
            for t, c in found.items()
            if t in self._root_idf
        }
        weights = {t: w for t, w in weights.items() if w > 0}
        norm = math.sqrt(sum(w * w for w in weights.values()))
        return {t: w / norm for t, w in weights.items()} if norm else {}

    def _scale(self, term: str) -> float:
        return self.unigram_weight if len(term) == 1 and is_chinese(term) else 1.0

    def rank(
        self, question: str, limit: int = 3, language: str | None = None
    ) -> list[tuple[str, float]]:
        """The best `limit` articles for the question, with a score from 0 to 1, best
        first; articles that share no term with it are left out."""
        asked = self._weigh(search_terms(question))
        scored = [
            (key, round(similarity(asked, v), 4))
            for key, v in self.vectors.items()
            if language is None or self.entries[key].language == language
        ]
        found = sorted((s for s in scored if s[1] > 0), key=lambda s: (-s[1], s[0]))
        return found[:limit]


def worth_showing(ranked: Sequence[T], score: Callable[[T], float]) -> list[T]:
    """The suggestions worth a customer's reading, as ranked: those scoring at least
    `MIN_SCORE` and a `SHARE_OF_BEST` of the best one (a self-service page shows no
    article that merely shares a word with the question)."""
    if not ranked:
        return []
    floor = max(MIN_SCORE, score(ranked[0]) * SHARE_OF_BEST)
    return [item for item in ranked if score(item) >= floor]
