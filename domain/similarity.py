"""Whether two requests say the same thing: a text similarity for Chinese and English.

Pure: the standard library only. A request becomes a bag of terms, each weighted
`1 + log(count)` and the bag scaled to unit length; two requests are as similar as the
cosine of their bags (0: nothing in common, 1: the same terms).

Terms
- Text is normalised as the classifier does (Unicode NFKC, case-folded); digits, and
  the masks of phone numbers and e-mail addresses, are dropped: two customers' order
  numbers say nothing about their problem.
- Chinese has no spaces: each run of Chinese characters gives its character pairs
  ("登录闪退" -> 登录, 录闪, 闪退), after the function characters that carry no topic
  (的, 了, 我, 吗 …) are taken out.
- English words are cut to a stem by a few suffix rules ("charged", "charges",
  "charging" -> charg), function words are dropped, and each pair of neighbouring
  stems is a term too ("top up", "charged twice" carry more than their words).
"""

from __future__ import annotations

import heapq
import itertools
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Mapping

Vector = Mapping[str, float]

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]+")
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")
_DROPPED = re.compile(r"\d+|\*+|\S+@\S+")
_STOP_CHARS = frozenset(
    "的了我你您他她它们是在吗呢吧啊呀哦请问都也就还又很太这那有和与及或被把给对于从到要想能会可以个一不没么"
)
_STOP_TEXT = (
    "a about above after again all am an and any are as at be been being but by can "
    "could did do does doing don't for from had has have having he her here hi hello "
    "how i i'm i've if in into is it it's its just me my myself no not now of on once "
    "only or other our out over own please same she should so some still such than "
    "thank thanks that the their them then there these they this those through to too "
    "under until up very was we were what when where which while who why will with "
    "would you your yours yet"
)
_STOP_WORDS = frozenset(_STOP_TEXT.split())
_SUFFIXES = ("ingly", "edly", "ings", "ing", "ied", "ies", "ed", "es", "ly", "s")


def stem(word: str) -> str:
    """A crude English stem: enough that inflections of one word meet."""
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)] + ("y" if suffix in ("ied", "ies") else "")
            break
    return word[:-1] if word.endswith("e") and len(word) > 4 else word


def normal_form(text: str) -> str:
    """NFKC, case-folded, digits and masks dropped: what terms are cut from."""
    return _DROPPED.sub(" ", unicodedata.normalize("NFKC", text).casefold())


def is_chinese(text: str) -> bool:
    return bool(_CJK.fullmatch(text))


def chinese_runs(normal: str) -> list[str]:
    """Each run of Chinese characters in a `normal_form`, function characters out."""
    return ["".join(c for c in run if c not in _STOP_CHARS) for run in _CJK.findall(normal)]


def terms(text: str) -> Counter[str]:
    normal = normal_form(text)
    found: Counter[str] = Counter()
    for kept in chinese_runs(normal):
        found.update(kept[i : i + 2] for i in range(len(kept) - 1))
        if len(kept) == 1:
            found[kept] += 1
    stems = [stem(w) for w in _WORD.findall(normal) if w not in _STOP_WORDS and len(w) > 1]
    found.update(stems)
    found.update(f"{a} {b}" for a, b in itertools.pairwise(stems))
    return found


def vector(text: str) -> dict[str, float]:
    """The request's terms, weighted and scaled to unit length (empty: no terms)."""
    weights = {t: 1.0 + math.log(n) for t, n in terms(text).items()}
    norm = math.sqrt(sum(w * w for w in weights.values()))
    return {t: w / norm for t, w in weights.items()} if norm else {}


def similarity(a: Vector, b: Vector) -> float:
    """The cosine of two unit vectors: 0 to 1."""
    if len(a) > len(b):
        a, b = b, a
    return sum(w * b.get(t, 0.0) for t, w in a.items())


class Clusters:
    """Requests grouped by what they say, as they arrive: a request joins the cluster it
    is most similar to on average (over the cluster's requests within the window), when
    that average reaches the threshold; else it starts a cluster of its own (named by
    its own id). Averaging, not the single most similar request, keeps a chain of
    near neighbours (A like B, B like C) from gluing unlike requests together.

    Deterministic: the same requests in the same order give the same clusters, so a
    projection fed from the stream gives the same clusters after a restart or a rebuild.
    Terms found in more than `common_share` of the window's requests (once it holds
    `common_after` of them) are left out of the comparison, as a stop word would be.

    `most`: the window holds at most this many requests, the latest ones (by arrival,
    then id: the same set whatever order they were held in), so that memory and the
    cost of a comparison stay bounded on a day of very many requests.
    """

    def __init__(
        self,
        threshold: float,
        window: float,
        common_share: float = 0.2,
        common_after: int = 50,
        most: int | None = None,
    ) -> None:
        self.threshold, self.window, self.most = threshold, window, most
        self.common_share, self.common_after = common_share, common_after
        self._held: dict[str, tuple[float, str, dict[str, float]]] = {}  # id -> (at, cluster, v)
        self._postings: dict[str, dict[str, float]] = {}  # term -> {id: weight}
        self._order: list[tuple[float, str]] = []  # a heap of (at, id): the oldest first
        self._sizes: dict[str, int] = {}  # cluster -> its members in the window

    def __len__(self) -> int:
        return len(self._held)

    def hold(self, item: str, at: float, cluster: str, v: Vector) -> None:
        """Keep a request already clustered (as a projection reloads its window)."""
        if item in self._held:
            return
        self._held[item] = (at, cluster, dict(v))
        self._sizes[cluster] = self._sizes.get(cluster, 0) + 1
        for term, weight in v.items():
            self._postings.setdefault(term, {})[item] = weight
        heapq.heappush(self._order, (at, item))
        while self.most is not None and len(self._held) > self.most:
            self._drop_oldest()

    def add(self, item: str, at: float, v: Vector) -> tuple[str, float]:
        """The cluster of a new request (seconds `at`), and the similarity that put it
        there (0.0: a cluster of its own)."""
        if item in self._held:
            return self._held[item][1], 1.0
        self._expire(at)
        sums: dict[str, float] = {}  # cluster -> the similarities to its members, summed
        for other, score in self._scores(v).items():
            cluster = self._held[other][1]
            sums[cluster] = sums.get(cluster, 0.0) + score
        best, best_score = item, 0.0
        for cluster, total in sorted(sums.items()):  # sorted: ties go the same way always
            mean = round(total / self._sizes[cluster], 9)  # the same whatever the sum's order
            if mean > best_score:
                best, best_score = cluster, mean
        if best_score < self.threshold:
            best, best_score = item, 0.0
        cluster = best
        self.hold(item, at, cluster, v)
        return cluster, best_score

    def _scores(self, v: Vector) -> dict[str, float]:
        common = max(self.common_after, len(self._held)) * self.common_share
        scores: dict[str, float] = {}
        for term, weight in v.items():
            posting = self._postings.get(term)
            if not posting or (len(self._held) >= self.common_after and len(posting) > common):
                continue
            for other, theirs in posting.items():
                scores[other] = scores.get(other, 0.0) + weight * theirs
        return scores

    def _expire(self, now: float) -> None:
        """Forget what arrived before the window: the same set whatever the order the
        requests were held in (live, or reloaded after a restart)."""
        while self._order and self._order[0][0] < now - self.window:
            self._drop_oldest()

    def _drop_oldest(self) -> None:
        _, item = heapq.heappop(self._order)
        _, cluster, v = self._held.pop(item)
        self._sizes[cluster] -= 1
        if not self._sizes[cluster]:
            del self._sizes[cluster]
        for term in v:
            posting = self._postings[term]
            posting.pop(item, None)
            if not posting:
                del self._postings[term]
