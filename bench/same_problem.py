"""How well "the same problem" is recognised: pairwise precision and recall of the
clusters group impact uses, beside the rule it replaced (the same category).

    .venv/bin/python -m bench.same_problem [--window 200] [--json]

Two sets, each fed in a fixed shuffled order, one request a second:
- `banking77`: the BANKING77 test split (3,080 English banking requests, 77 intents;
  tests/fixtures/data/banking77). Same intent = same problem. The window holds the last
  `--window` requests, as group impact's window would on a busy day.
- `zh`: bench/data/same_problem_zh.csv, Chinese requests written for this project:
  several phrasings of each of 11 faults, several faults per category (front-end,
  payment, logistics ...). Same fault = same problem. The window holds them all.

Pairs are the pairs of requests within one window. Precision: of the pairs put in one
cluster, the share that are one problem; recall: of the pairs that are one problem,
the share put in one cluster. Beside each: the same figures for "same category" (the
classifier's category, the rule group impact used before), and for the pairwise
similarity alone (two requests at or above the threshold, no clustering).
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from domain.similarity import Clusters, similarity, vector
from infra.policy_file import load_policy

ROOT = Path(__file__).resolve().parent.parent
BANKING77 = ROOT / "tests/fixtures/data/banking77/test.csv"
ZH = ROOT / "bench/data/same_problem_zh.csv"
THRESHOLDS = (0.1, 0.15, 0.2, 0.25, 0.3, 0.4)


@dataclass(frozen=True)
class Scores:
    precision: float
    recall: float
    pairs: int  # the pairs that are one problem


def load(path: Path, text: str, label: str, seed: int = 20261203) -> list[tuple[str, str]]:
    with path.open(encoding="utf-8") as f:
        rows = [(r[text], r[label]) for r in csv.DictReader(f)]
    random.Random(seed).shuffle(rows)
    return rows


def scores(labels: Sequence[str], together: Callable[[int, int], bool], window: int) -> Scores:
    tp = fp = fn = 0
    for j in range(len(labels)):
        for i in range(max(0, j - window), j):
            same, joined = labels[i] == labels[j], together(i, j)
            tp += same and joined
            fp += joined and not same
            fn += same and not joined
    return Scores(tp / max(tp + fp, 1), tp / max(tp + fn, 1), tp + fn)


def evaluate(rows: Sequence[tuple[str, str]], threshold: float, window: int) -> dict[str, Scores]:
    """The clusters, the category rule and the pairwise similarity, on one set."""
    labels = [label for _, label in rows]
    vectors = [vector(text) for text, _ in rows]
    groups = Clusters(threshold, window=float(window))
    clusters = [groups.add(str(i), float(i), v)[0] for i, v in enumerate(vectors)]
    classifier = load_policy().classifier
    categories = [classifier.classify(text).category for text, _ in rows]
    return {
        "clusters": scores(labels, lambda i, j: clusters[i] == clusters[j], window),
        "category": scores(labels, lambda i, j: categories[i] == categories[j], window),
        "pairwise": scores(
            labels, lambda i, j: similarity(vectors[i], vectors[j]) >= threshold, window
        ),
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--window", type=int, default=200, help="banking77's window (200)")
    args = parser.parse_args(argv)
    default = load_policy().group_impact.similarity
    sets = {
        "banking77": (load(BANKING77, "text", "category"), args.window),
        "zh": (load(ZH, "text", "problem"), 10_000),
    }
    out: dict = {"default_threshold": default, "window": args.window, "sets": {}}
    print("| set | threshold | clusters P / R | same category P / R | pairwise only P / R |")
    print("|---|---|---|---|---|")
    for name, (rows, window) in sets.items():
        out["sets"][name] = {}
        for threshold in sorted({*THRESHOLDS, default}):
            found = evaluate(rows, threshold, window)
            out["sets"][name][str(threshold)] = {
                k: {"precision": v.precision, "recall": v.recall} for k, v in found.items()
            }
            mark = " (default)" if threshold == default else ""
            cells = [f"{found[k].precision:.2f} / {found[k].recall:.2f}" for k in found]
            print(f"| {name} | {threshold}{mark} | " + " | ".join(cells) + " |")
    out["ms_per_request"] = per = cost(sets["banking77"][0] * 4)
    print(
        f"\nclustering: {per['add']:.2f} ms a request against a window of up to "
        f"{per['window']:,} requests; making its terms: {per['terms']:.2f} ms"
    )
    print(json.dumps(out, sort_keys=True))


def cost(rows: Sequence[tuple[str, str]]) -> dict:
    """Milliseconds a request: its terms, and its place among all earlier ones (one window
    holding every request, as on a day with this many)."""
    t0 = time.perf_counter()
    vectors = [vector(text) for text, _ in rows]
    t1 = time.perf_counter()
    groups = Clusters(load_policy().group_impact.similarity, window=float(len(rows)))
    for i, v in enumerate(vectors):
        groups.add(str(i), float(i), v)
    t2 = time.perf_counter()
    n = len(rows)
    return {"terms": (t1 - t0) * 1e3 / n, "add": (t2 - t1) * 1e3 / n, "window": n}


if __name__ == "__main__":
    main()
