"""What changed between two reports of `bench.suite`, figure by figure.

    .venv/bin/python -m bench.compare OLD.json NEW.json [--all] [--threshold 5]

Each bench's JSON is flattened to its numeric figures (`intake.service.tickets_per_s`);
a figure in both reports is printed with its old and new value and the change in
percent, those that moved by at least `--threshold` percent (default 5) marked, and
with `--all` every figure. Figures named like a time (`_ms`, `_us`, `_s`, `seconds`,
`p50`, `p99`, `rss`, `mb`) are better lower; the rest (rates, ratios, hit rates)
better higher: a change the wrong way is marked `worse`. Figures only in one report
are listed by name. Reports of different sizes (`quick` and `full`) are compared, but
said to be so.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

LOWER_IS_BETTER = re.compile(r"(_ms|_us|_s|seconds|p50|p90|p99|rss|_mb|mb_|bytes|lost)($|_|\b)")
RATE = re.compile(r"per_s|_per_|/s|rate|ratio|hit|top")


def figures(value: Any, prefix: str = "") -> Iterator[tuple[str, float]]:
    """Every number below `value`, named by its path (booleans are not figures)."""
    if isinstance(value, bool):
        return
    if isinstance(value, int | float):
        yield prefix, float(value)
    elif isinstance(value, dict):
        for key, inner in value.items():
            yield from figures(inner, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            yield from figures(inner, f"{prefix}[{i}]")


def of_report(report: dict) -> dict[str, float]:
    found: dict[str, float] = {}
    for name, entry in report.get("benches", {}).items():
        found.update(figures(entry.get("result", {}), name))
    return found


def better_lower(name: str) -> bool:
    leaf = name.rsplit(".", 1)[-1].lower()
    return bool(LOWER_IS_BETTER.search(leaf)) and not RATE.search(leaf)


def verdict(name: str, old: float, new: float, threshold: float) -> tuple[float | None, str]:
    """The change in percent (None from 0), and `better`, `worse` or ``."""
    if old == 0:
        return None, "" if new == 0 else "new"
    change = (new - old) / abs(old) * 100
    if abs(change) < threshold:
        return change, ""
    improved = change < 0 if better_lower(name) else change > 0
    return change, "better" if improved else "worse"


def compare(old: dict, new: dict, threshold: float, every: bool) -> list[str]:
    a, b = of_report(old), of_report(new)
    lines = []
    if old.get("size") != new.get("size"):
        lines.append(f"note: sizes differ ({old.get('size')} → {new.get('size')})")
    lines.append(f"{old.get('commit')} → {new.get('commit')}")
    lines.append("| figure | old | new | change | |")
    lines.append("|---|---|---|---|---|")
    for name in sorted(set(a) & set(b)):
        change, mark = verdict(name, a[name], b[name], threshold)
        if every or mark:
            shown = "—" if change is None else f"{change:+.1f} %"
            lines.append(f"| {name} | {a[name]:g} | {b[name]:g} | {shown} | {mark} |")
    for label, names in (
        ("only in the old", set(a) - set(b)),
        ("only in the new", set(b) - set(a)),
    ):
        if names:
            lines.append(f"{label}: {', '.join(sorted(names))}")
    for side, report in (("old", old), ("new", new)):
        broken = [n for n, e in report.get("benches", {}).items() if "failed" in e]
        if broken:
            lines.append(f"failed in the {side}: {', '.join(broken)}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("old", type=Path)
    parser.add_argument("new", type=Path)
    parser.add_argument("--threshold", type=float, default=5.0, help="percent (5)")
    parser.add_argument("--all", action="store_true", help="every figure, changed or not")
    args = parser.parse_args()
    old, new = (json.loads(p.read_text("utf-8")) for p in (args.old, args.new))
    print("\n".join(compare(old, new, args.threshold, args.all)))


if __name__ == "__main__":
    main()
