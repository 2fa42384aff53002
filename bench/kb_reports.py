"""Self-service reports on one popular article from many threads at once: how many a
second the application records, and that none is lost, beside the raw limit of the
same store measured in the same run.

    .venv/bin/python -m bench.kb_reports [--reports 800] [--threads 16] [--repeat 3]

A fresh SQLite store holds one published article; `--threads` threads send
`--reports` `self_served` commands for it through `KnowledgeBase.execute`, as the
NATS and HTTP edges call it. Each report is an aggregate of its own
(`domain.self_service`), so no report waits for or retries on another. The raw limit:
the same threads saving the same number of one-event aggregates straight into the
store (`desk.save` of a `TicketNumber`), with no command, no check and no article to
read. Rates are medians of `--repeat` runs; `lost` counts reports refused (any
refusal would be a conflict on a shared aggregate).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from uuid import uuid4

from domain.errors import TicketError
from domain.numbers import TicketNumber
from infra.policy_file import load_policy
from infra.store import store_env
from services.application.article_messages import PublishArticle, SelfServed
from services.application.articles import KnowledgeBase
from services.application.desk import TicketDesk

EDITOR = {"id": "S001", "role": "supervisor"}
WEB = {"id": "web", "role": "channel"}


def fresh_desk(folder: Path) -> TicketDesk:
    return TicketDesk(load_policy(), store_env(f"sqlite:///{folder}/tickets.db", folder))


def timed(threads: int, count: int, one: Callable[[int], bool]) -> tuple[float, int]:
    """(calls a second, calls that failed) of `count` calls on `threads` threads."""
    start = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        failed = sum(not ok for ok in pool.map(one, range(count)))
    return count / (time.perf_counter() - start), failed


def reports(folder: Path, count: int, threads: int) -> tuple[float, int]:
    desk = fresh_desk(folder)
    kb = KnowledgeBase(desk)
    article = PublishArticle(
        title="How do I log in?",
        body="Reset your password, then sign in again.",
        language="en",
        categories=["account/login"],
        actor=EDITOR,
    )
    kb.execute("publish_article", article)
    report = SelfServed(article_id="KB0001", channel="web", solved=True, actor=WEB)

    def one(_: int) -> bool:
        try:
            kb.execute("self_served", report)
        except TicketError:
            return False
        return True

    try:
        return timed(threads, count, one)
    finally:
        desk.close()


def raw_saves(folder: Path, count: int, threads: int) -> tuple[float, int]:
    desk = fresh_desk(folder)

    def one(i: int) -> bool:
        desk.save(TicketNumber.register(f"RAW{i:08d}", uuid4()))
        return True

    try:
        return timed(threads, count, one)
    finally:
        desk.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reports", type=int, default=800)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    runs: dict[str, list[float]] = {"reports_per_s": [], "raw_saves_per_s": []}
    lost = 0
    for _ in range(max(args.repeat, 1)):
        with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
            rate, failed = reports(Path(a), args.reports, args.threads)
            raw, _ = raw_saves(Path(b), args.reports, args.threads)
        runs["reports_per_s"].append(rate)
        runs["raw_saves_per_s"].append(raw)
        lost += failed
    found = {name: statistics.median(values) for name, values in runs.items()}
    ratio = found["reports_per_s"] / found["raw_saves_per_s"]
    print(
        f"{args.reports} reports on one article from {args.threads} threads, {args.repeat} runs\n"
    )
    print("| what | per second (median) |")
    print("|---|---|")
    print(f"| self-service reports recorded | {found['reports_per_s']:.0f} |")
    print(f"| raw limit: one-event saves into the same store | {found['raw_saves_per_s']:.0f} |")
    print(f"\nratio {ratio:.2f}; reports lost to conflicts: {lost}")
    out = {**{k: round(v, 1) for k, v in found.items()}, "ratio": round(ratio, 3), "lost": lost}
    print(
        json.dumps({**out, "reports": args.reports, "threads": args.threads, "repeat": args.repeat})
    )


if __name__ == "__main__":
    main()
