"""How often the knowledge base suggests the article that answers a customer's
question: top-1 and top-3 hit rates of `domain.article_search.ArticleIndex` on
held-out questions, beside simpler rankings, and the time a suggestion takes.

    .venv/bin/python -m bench.kb_suggest [--repeat 3] [--verbose]

The articles: deploy/kb/*.md, read as `ticketflow kb import` reads them
(`infra.article_files`). The questions: bench/data/kb_questions.json, customers'
questions written apart from the articles, each naming the file of the article that
answers it (bench/data/kb_questions.README.md). Every question is ranked against every
article, with no language filter (as `suggest_articles` ranks a ticket's text); a hit
is the expected article first (top-1) or among the first three (top-3).

Rankings, each overall and per language of the question:
- `index`: ArticleIndex as the service uses it (idf, the title twice, Chinese
  character pairs and single characters);
- `pairs only`: the same without single Chinese characters (`unigram_weight=0`);
- `baseline`: the plain cosine of `domain.similarity.vector` (no idf, the title once),
  the similarity that finds two requests saying the same thing.

Times, medians of `--repeat` runs over all questions: a suggestion (`rank(question,
3)`), beside the raw limit measured in the same runs, `domain.similarity.terms` of
the same question alone (a suggestion cuts the question into terms, then scores every
article); and building the index of all articles. `--verbose` lists the questions
whose article was not among the first three, with what was suggested instead.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from domain.article_search import ArticleIndex, Entry, worth_showing
from domain.similarity import similarity, terms, vector
from infra.article_files import ArticleFile, read_folder

ROOT = Path(__file__).resolve().parent.parent
ARTICLES = ROOT / "deploy/kb"
QUESTIONS = ROOT / "bench/data/kb_questions.json"
LANGUAGES = ("zh", "en")
Ranker = Callable[[str], list[tuple[str, float]]]


def entries(folder: Path = ARTICLES) -> list[Entry]:
    """The folder's articles as index entries, keyed by file name; a file `kb import`
    would refuse stops the bench."""
    found = read_folder(folder)
    refused = [f"{f.name}: {f.reason}" for f in found if not isinstance(f, ArticleFile)]
    if refused:
        raise SystemExit("refused article files:\n" + "\n".join(refused))
    return [
        Entry(f.name, f.title, f.body, f.replies, f.language)
        for f in found
        if isinstance(f, ArticleFile)
    ]


def questions(path: Path = QUESTIONS) -> list[dict]:
    return json.loads(path.read_text("utf-8"))


def baseline(articles: Sequence[Entry]) -> Ranker:
    """The plain cosine of the two requests' term vectors: no idf, the title once."""
    vectors = {e.key: vector("\n".join([e.title, e.body, *e.replies])) for e in articles}

    def rank(question: str, limit: int = 3) -> list[tuple[str, float]]:
        asked = vector(question)
        scored = [(key, similarity(asked, v)) for key, v in vectors.items()]
        return sorted((s for s in scored if s[1] > 0), key=lambda s: (-s[1], s[0]))[:limit]

    return rank


def hits(rank: Ranker, asked: Sequence[dict]) -> dict:
    """Top-1 and top-3 hit rates, overall and per language, and the misses (top-3)."""
    found: dict[str, list[tuple[bool, bool]]] = {"all": [], **{lang: [] for lang in LANGUAGES}}
    misses = []
    for q in asked:
        ranked = rank(q["text"])
        keys = [key for key, _ in ranked[:3]]
        hit = (keys[:1] == [q["expected"]], q["expected"] in keys)
        found["all"].append(hit)
        found[q["language"]].append(hit)
        if not hit[1]:
            misses.append({**q, "suggested": ranked[:3]})
    rates = {
        part: {
            "top1": sum(h[0] for h in got) / len(got),
            "top3": sum(h[1] for h in got) / len(got),
            "questions": len(got),
        }
        for part, got in found.items()
        if got
    }
    return {"rates": rates, "misses": misses}


def timings(articles: Sequence[Entry], asked: Sequence[dict], repeat: int) -> dict:
    """Medians of `repeat` runs: µs a suggestion, µs of `terms` alone, ms an index."""
    texts = [q["text"] for q in asked]
    runs: dict[str, list[float]] = {"suggest_us": [], "terms_us": [], "index_ms": []}
    for _ in range(repeat):
        t0 = time.perf_counter()
        index = ArticleIndex(articles)
        t1 = time.perf_counter()
        for text in texts:
            terms(text)
        t2 = time.perf_counter()
        for text in texts:
            index.rank(text, 3)
        t3 = time.perf_counter()
        runs["index_ms"].append((t1 - t0) * 1e3)
        runs["terms_us"].append((t2 - t1) * 1e6 / len(texts))
        runs["suggest_us"].append((t3 - t2) * 1e6 / len(texts))
    return {name: statistics.median(values) for name, values in runs.items()}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="timed runs (medians; 3)")
    parser.add_argument("--verbose", action="store_true", help="list the top-3 misses")
    args = parser.parse_args(argv)
    articles, asked = entries(), questions()
    index = ArticleIndex(articles)
    rankings: dict[str, Ranker] = {
        "index": index.rank,
        "index, as /help shows it": lambda text, limit=3: worth_showing(
            index.rank(text, limit), score=lambda s: s[1]
        ),
        "pairs only": ArticleIndex(articles, unigram_weight=0).rank,
        "baseline": baseline(articles),
    }
    results = {name: hits(rank, asked) for name, rank in rankings.items()}
    times = timings(articles, asked, max(args.repeat, 1))
    print(f"{len(articles)} articles, {len(asked)} questions\n")
    columns = [f"{k} {part}" for part in ("all", *LANGUAGES) for k in ("top-1", "top-3")]
    print("| ranking | " + " | ".join(columns) + " |")
    print("|---|" + "---|" * len(columns))
    for name, found in results.items():
        rates = found["rates"]
        cells = [f"{rates[p][k]:.3f}" for p in ("all", *LANGUAGES) for k in ("top1", "top3")]
        print(f"| {name} | " + " | ".join(cells) + " |")
    print(
        f"\nsuggestion: {times['suggest_us']:.0f} µs a question (median of {args.repeat}), "
        f"beside `terms` of the question alone {times['terms_us']:.0f} µs "
        f"({times['suggest_us'] / times['terms_us']:.1f}×); "
        f"the index of {len(articles)} articles built in {times['index_ms']:.1f} ms"
    )
    if args.verbose:
        misses = results["index"]["misses"]
        print(f"\nquestions whose article was not among the first three ({len(misses)}):")
        for miss in misses:
            suggested = ", ".join(f"{key} {score:.3f}" for key, score in miss["suggested"])
            print(f"- {miss['text']!r}: expected {miss['expected']}; suggested {suggested or '-'}")
    out = {
        "articles": len(articles),
        "questions": len(asked),
        "repeat": args.repeat,
        "hits": {name: found["rates"] for name, found in results.items()},
        **{name: round(value, 3) for name, value in times.items()},
    }
    print(json.dumps(out, sort_keys=True, ensure_ascii=False))


if __name__ == "__main__":
    main()
