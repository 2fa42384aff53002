"""Every benchmark in one go, one JSON report: `make bench` (or `make bench QUICK=1`).

    .venv/bin/python -m bench.suite [--quick] [--only intake,latency] [--out FILE]

Runs each bench as its own process, in the order below, with the arguments of the
chosen size (`--quick`: sizes that take a few minutes in all, for checking the
machinery and spotting a gross regression; the default: the sizes docs/performance.md
quotes), shows which one runs and how long each took, and keeps the JSON line each
prints last. The report (`--out`, default bench/reports/<UTC time>.json) holds the
machine, the commit, the arguments and each bench's JSON and seconds; a bench that
fails is recorded with its exit status and the tail of its error output, and the
others still run. `python -m bench.compare OLD NEW` prints what changed between two
reports.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# name -> (the full run's arguments, the quick run's)
BENCHES: dict[str, tuple[list[str], list[str]]] = {
    "intake": (["--repeat", "3"], ["--repeat", "1", "--tickets", "1000"]),
    "latency": ([], ["--tickets", "200"]),
    "replay": ([], ["--runs", "50"]),
    "projections": ([], ["--repeat", "1", "--events", "5000"]),
    "console": (
        ["--open", "10000", "--runs", "20", "--clients", "50"],
        ["--open", "500", "--runs", "5", "--clients", "5"],
    ),
    "same_problem": ([], []),
    "kb_suggest": ([], ["--repeat", "1"]),
    "kb_reports": ([], ["--reports", "200", "--repeat", "1"]),
    "backlog": ([], ["--stored", "5000", "--tickets", "500"]),
    "whatif": ([], ["--tickets", "2000", "--repeat", "1"]),
}


def last_json(text: str) -> dict | None:
    """The last line of `text` that is a JSON object (each bench prints one last)."""
    for line in reversed(text.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                found = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(found, dict):
                return found
    return None


def run_one(name: str, args: list[str]) -> dict:
    command = [sys.executable, "-m", f"bench.{name}", *args]
    start = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    seconds = round(time.perf_counter() - start, 1)
    entry: dict = {
        "command": " ".join(["python", "-m", f"bench.{name}", *args]),
        "seconds": seconds,
    }
    found = last_json(done.stdout) if done.returncode == 0 else None
    if found is None:
        entry["failed"] = {"exit": done.returncode, "stderr": done.stderr[-2000:]}
    else:
        entry["result"] = found
    return entry


def commit() -> str | None:
    done = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    )
    return done.stdout.strip() or None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: minutes in all")
    parser.add_argument("--only", help="comma-separated bench names (default: all)")
    parser.add_argument("--out", type=Path, help="the report (default bench/reports/<time>.json)")
    args = parser.parse_args()
    names = args.only.split(",") if args.only else list(BENCHES)
    unknown = sorted(set(names) - set(BENCHES))
    if unknown:
        parser.error(f"no bench {', '.join(unknown)}; known: {', '.join(BENCHES)}")
    started = datetime.now(UTC)
    report: dict = {
        "started": started.isoformat(timespec="seconds"),
        "commit": commit(),
        "size": "quick" if args.quick else "full",
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "benches": {},
    }
    out = args.out or ROOT / "bench" / "reports" / f"{started:%Y%m%dT%H%M%SZ}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names, 1):
        print(f"[{i}/{len(names)}] bench.{name} …", end=" ", flush=True)
        entry = run_one(name, BENCHES[name][1 if args.quick else 0])
        report["benches"][name] = entry
        print(
            f"{'FAILED' if 'failed' in entry else 'done'} in {entry['seconds']:.0f} s", flush=True
        )
        out.write_text(json.dumps(report, indent=1, ensure_ascii=False))  # kept as it goes
    failed = [n for n, e in report["benches"].items() if "failed" in e]
    print(f"report: {out}" + (f"; failed: {', '.join(failed)}" if failed else ""))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
