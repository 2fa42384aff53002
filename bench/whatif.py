"""The SLA what-if over N recorded tickets, beside the raw read and replay of the same events.

    .venv/bin/python -m bench.whatif [--tickets 100000] [--seed 7] [--repeat 3] [--rebuild]
                                     [--cache-dir /tmp/ticketflow-bench] [--per-transaction 100]
                                     [--profile DIR]

The store: N realistic ticket lives (`bench.lives.record`: intake through the
Registrar, then assign, acknowledge, updates, waits on the customer, escalations,
departments, closing, ratings, reopenings through the CommandService), one arriving
every 7 minutes from a Thursday 09:00 in Shanghai, under the shipped policy, in an
SQLite file of the cache dir (`whatif-<N>-<seed>.db`). It is built when missing (or with
`--rebuild`) under a temporary name and renamed when complete, so an interrupted build
is never reused; building 100,000 takes about 10 minutes (progress on stderr), the
lives of `--per-transaction` tickets stored per transaction (`bench.lives.Batch`).

Then, `--repeat` times each, interleaved, medians:
- raw read: the store's notification log read page by page
  (`recorder.select_notifications`, the what-if's page size), every event of the log;
- raw replay: the same read, then each ticket's events decoded by the library
  (`mapper.to_domain_event`) and applied in order (`event.mutate(aggregate)`, as
  `repository.get` does);
- the what-if (`WhatIf.run`) over the whole period under the running policy (it must
  change nothing: `changed == []`, or the bench exits 1) and under a stricter candidate.
All of them run with the cyclic garbage collector paused, as the what-if pauses it
(`collector_paused`): the raw figures are the library's best. The what-if's peak RSS
(`getrusage`, beside `VmHWM`) is measured in a fresh process that opens the store and
runs the candidate's what-if once. `--profile DIR` adds one cProfile'd what-if (not in the
medians). A table, then one JSON line.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import json
import os
import resource
import sqlite3
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.lives import SteppingClock, record
from infra.policy_file import load_policy, policy_from_text
from infra.store import store_env
from services.application.desk import TICKET_TOPIC_PREFIX, TicketDesk
from services.application.whatif import PAGE, WhatIf, collector_paused

START = datetime(2026, 1, 1, 1, tzinfo=UTC)  # a Thursday, 09:00 in Asia/Shanghai
EVERY = timedelta(minutes=7)  # one ticket arriving every 7 minutes
SETTLE = timedelta(days=30)  # the period ends 30 days after the last arrival
GOAL_SECONDS = 60.0
# Shorter targets than the shipped rules, on a similar set of rules.
STRICT = """
[[sla]]
when = { priority = "urgent" }
clock = "wall"
first_response = "15m"
assignment = "5m"
acknowledge = "10m"
update_every = "30m"
resolution = "4h"

[[sla]]
when = { type = "technical" }
clock = "wall"
clocks = { assignment = "business", acknowledge = "business" }
first_response = "1h"
assignment = "5m"
acknowledge = "10m"
update_every = "2h"
analysis = "1h"
resolution = "8h"

[[sla]]
when = { type = "suggestion" }
clock = "wall"
batched = "5wd"

[[sla]]
when = {}
clock = "wall"
clocks = { assignment = "business", acknowledge = "business" }
first_response = "2h"
assignment = "5m"
acknowledge = "10m"
update_every = "8h"
resolution = "24h"
"""


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def period(tickets: int) -> tuple[datetime, datetime]:
    return START, START + EVERY * tickets + SETTLE


def open_desk(db: Path, cache: Path, clock: SteppingClock | None = None) -> TicketDesk:
    env = store_env(f"sqlite:///{db}", cache)
    return TicketDesk(load_policy(), env, clock=clock or SteppingClock(START))


# ---- the store -------------------------------------------------------------------------


def build(db: Path, cache: Path, tickets: int, seed: int, per_transaction: int) -> dict:
    """N tickets recorded into `db` (under a temporary name, renamed when complete)."""
    partial = db.with_name(f"{db.name}.building-{os.getpid()}")
    for leftover in cache.glob(f"{db.name}.building-*"):
        leftover.unlink()
    clock = SteppingClock(START)
    desk = open_desk(partial, cache, clock)
    began = time.perf_counter()
    last = [0, began]  # tickets and time at the last report

    def progress(done: int) -> None:
        if done % max(tickets // 50, 1000) and done != tickets:
            return
        now = time.perf_counter()
        rate = (done - last[0]) / (now - last[1])  # the first interval includes the stories
        last[:] = [done, now]
        say(
            f"  recorded {done:,}/{tickets:,} tickets, {rate:,.0f}/s lately,"
            f" about {(tickets - done) / rate / 60:.1f} min to go"
        )

    events = record(
        desk,
        clock,
        tickets,
        seed=seed,
        start=START,
        every=EVERY,
        progress=progress,
        per_transaction=per_transaction,
    )
    seconds = time.perf_counter() - began
    desk.close()
    with sqlite3.connect(partial) as conn:  # nothing left in a WAL beside the file
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    for suffix in ("-wal", "-shm"):
        Path(f"{partial}{suffix}").unlink(missing_ok=True)
    meta = {
        "tickets": tickets,
        "seed": seed,
        "events": events,
        "seconds": round(seconds, 1),
        "tickets_s": tickets / seconds,
        "per_transaction": per_transaction,
        "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    db.with_suffix(".json").write_text(json.dumps(meta))
    partial.rename(db)
    return meta


def store(args: argparse.Namespace) -> tuple[Path, dict, bool]:
    cache: Path = args.cache_dir
    cache.mkdir(parents=True, exist_ok=True)
    db = cache / f"whatif-{args.tickets}-{args.seed}.db"
    key = cache / "keys" / "store.key"
    meta = db.with_suffix(".json")
    if db.exists() and key.exists() and meta.exists() and not args.rebuild:
        return db, json.loads(meta.read_text()), True
    for stale in (db, meta):
        stale.unlink(missing_ok=True)
    say(f"building {db} ({args.tickets:,} tickets through the application) ...")
    return db, build(db, cache, args.tickets, args.seed, args.per_transaction), False


# ---- the raw limits ----------------------------------------------------------------------


def read_log(desk: TicketDesk, keep: Callable[[Any], None] | None = None) -> int:
    """Every notification of the log, page by page, as the what-if reads it."""
    count, position = 0, None
    while True:
        page = desk.recorder.select_notifications(
            position, PAGE, inclusive_of_start=position is None
        )
        if not page:
            return count
        count += len(page)
        if keep:
            for notification in page:
                keep(notification)
        position = page[-1].id


def raw_read(desk: TicketDesk) -> dict:
    began = time.perf_counter()
    with collector_paused():
        events = read_log(desk)
    seconds = time.perf_counter() - began
    return {"seconds": seconds, "events": events, "events_s": events / seconds}


def raw_replay(desk: TicketDesk) -> dict:
    """The log read, each ticket's events decoded and applied in order by the library."""
    with collector_paused():  # as the what-if runs: the limit, not the collector's walks
        return _raw_replay(desk)


def _raw_replay(desk: TicketDesk) -> dict:
    began = time.perf_counter()
    per_ticket: dict[Any, list[Any]] = defaultdict(list)

    def keep(notification: Any) -> None:
        if notification.topic.startswith(TICKET_TOPIC_PREFIX):
            per_ticket[notification.originator_id].append(notification)

    read_log(desk, keep)
    read = time.perf_counter()
    to_event, events = desk.mapper.to_domain_event, 0
    for notifications in per_ticket.values():
        aggregate = None
        for notification in notifications:
            aggregate = to_event(notification).mutate(aggregate)
        events += len(notifications)
    done = time.perf_counter()
    return {
        "seconds": done - began,
        "decode_apply_seconds": done - read,
        "tickets": len(per_ticket),
        "events": events,
        "events_s": events / (done - began),
        "tickets_s": len(per_ticket) / (done - began),
    }


# ---- the what-if -------------------------------------------------------------------------


def whatif(desk: TicketDesk, policy: Any, start: datetime, end: datetime) -> dict:
    began = time.perf_counter()
    report = WhatIf(desk).run(policy, start, end)
    return {"seconds": time.perf_counter() - began, "report": report}


def status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def rss_probe(args: argparse.Namespace) -> None:
    """In a fresh process: the what-if under the candidate once, and the peak RSS."""
    desk = open_desk(args.probe, args.cache_dir)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    whatif(desk, policy_from_text(STRICT), *period(args.tickets))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    desk.close()
    print(
        json.dumps({"peak_rss_mb": peak, "rss_before_mb": before, "vmhwm_mb": status_mb("VmHWM")})
    )


def peak_rss(db: Path, args: argparse.Namespace) -> dict:
    """The probe, forked by a shell rather than by this process: on Linux `ru_maxrss`
    keeps the peak of the process that forked (it survives fork and exec), and this
    one has held the whole log by now."""
    command = [sys.executable, "-m", "bench.whatif", "--probe", str(db)]
    command += ["--tickets", str(args.tickets), "--cache-dir", str(args.cache_dir)]
    forked = ["sh", "-c", '"$@"; exit $?', "sh", *command]  # not the shell's exec
    out = subprocess.run(forked, check=True, capture_output=True, text=True).stdout
    result: dict = json.loads(out.strip().splitlines()[-1])
    return result


def profile(desk: TicketDesk, start: datetime, end: datetime, out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = out / "whatif-candidate.prof"
    profiler = cProfile.Profile()
    profiler.enable()
    WhatIf(desk).run(policy_from_text(STRICT), start, end)
    profiler.disable()
    profiler.dump_stats(path)
    return path


# ---- the run -----------------------------------------------------------------------------


def median(runs: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def summary(runs: list[dict], raw: dict, events: int) -> dict:
    seconds = median(runs, "seconds")
    report = runs[0]["report"]
    return {
        "seconds": seconds,
        "runs_seconds": [round(r["seconds"], 3) for r in runs],
        "tickets": report["tickets"],
        "events": events,
        "tickets_s": report["tickets"] / seconds,
        "events_s": events / seconds,
        "ratio_to_raw_replay": seconds / raw["seconds"],
        "changed": len(report["changed"]),
        "compliance_recorded": report["recorded"]["sla_compliance"],
        "compliance_whatif": report["whatif"]["sla_compliance"],
        "targets_recorded": report["recorded"]["sla_targets"],
        "targets_whatif": report["whatif"]["sla_targets"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cache-dir", type=Path, default=Path("/tmp/ticketflow-bench"))
    parser.add_argument("--rebuild", action="store_true", help="record the store again")
    parser.add_argument(
        "--per-transaction", type=int, default=100, help="ticket lives per store transaction"
    )
    parser.add_argument("--profile", type=Path, metavar="DIR", help="one cProfile'd what-if")
    parser.add_argument("--probe", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.probe:
        return rss_probe(args)
    db, built, reused = store(args)
    start, end = period(args.tickets)
    candidate = policy_from_text(STRICT)
    desk = open_desk(db, args.cache_dir)
    rows: dict[str, list[dict]] = defaultdict(list)
    steps: list[tuple[str, Callable[[], dict]]] = [
        ("raw_read", lambda: raw_read(desk)),
        ("raw_replay", lambda: raw_replay(desk)),
        ("whatif_running", lambda: whatif(desk, desk.policy, start, end)),
        ("whatif_candidate", lambda: whatif(desk, candidate, start, end)),
    ]
    for run in range(args.repeat):
        for name, step in steps:
            gc.collect()
            rows[name].append(step())
            say(f"  run {run + 1}/{args.repeat}: {name} {rows[name][-1]['seconds']:.1f} s")
    running = [r["report"] for r in rows["whatif_running"]]
    reproduces = all(r["changed"] == [] and r["whatif"] == r["recorded"] for r in running)
    profiled = profile(desk, start, end, args.profile) if args.profile else None
    desk.close()
    say("  peak RSS: a fresh process, one what-if under the candidate ...")
    rss = peak_rss(db, args)

    read = {k: median(rows["raw_read"], k) for k in ("seconds", "events_s")}
    read["events"] = rows["raw_read"][0]["events"]
    replay_keys = ("seconds", "decode_apply_seconds", "events_s", "tickets_s")
    replay = {k: median(rows["raw_replay"], k) for k in replay_keys}
    replay |= {k: rows["raw_replay"][0][k] for k in ("tickets", "events")}
    events = replay["events"]
    same = summary(rows["whatif_running"], replay, events)
    strict = summary(rows["whatif_candidate"], replay, events)
    slowest = max(same["seconds"], strict["seconds"])
    result = {
        "tickets": args.tickets,
        "seed": args.seed,
        "repeat": args.repeat,
        "period": {"from": start.isoformat(), "to": end.isoformat()},
        "store": {"path": str(db), "reused": reused, **built},
        "log_events": read["events"],
        "raw_read": read,
        "raw_replay": replay,
        "whatif_running": same,
        "whatif_candidate": strict,
        "reproduces_running_policy": reproduces,
        "peak_rss_mb": rss["peak_rss_mb"],
        "rss_before_whatif_mb": rss["rss_before_mb"],
        "peak_rss_vmhwm_mb": rss["vmhwm_mb"],
        "goal_seconds": GOAL_SECONDS,
        "meets_goal": slowest <= GOAL_SECONDS,
        "profile": str(profiled) if profiled else None,
    }
    report(result)
    print(json.dumps(result))
    if not reproduces:
        sys.exit(1)


def report(r: dict) -> None:
    read, replay = r["raw_read"], r["raw_replay"]
    store_line = (
        f"reused (built at {r['store']['tickets_s']:,.0f} tickets/s)"
        if r["store"]["reused"]
        else f"built in {r['store']['seconds']:,.0f} s ({r['store']['tickets_s']:,.0f} tickets/s)"
    )
    print(
        f"\nSLA what-if over {r['tickets']:,} recorded tickets ({replay['events']:,} ticket"
        f" events; {r['log_events']:,} in the log), SQLite, store {store_line};"
        f" medians of {r['repeat']}\n"
    )
    print("| what | seconds | tickets/s | events/s | / raw replay |")
    print("|---|---|---|---|---|")
    print(
        f"| raw read of the log (select_notifications) | {read['seconds']:.2f} | - "
        f"| {read['events_s']:,.0f} | {read['seconds'] / replay['seconds']:.2f} |"
    )
    print(
        f"| raw replay: read + decode + mutate (library) | {replay['seconds']:.2f} "
        f"| {replay['tickets_s']:,.0f} | {replay['events_s']:,.0f} | 1.00 |"
    )
    for key, name in (("whatif_running", "running policy"), ("whatif_candidate", "candidate")):
        w = r[key]
        print(
            f"| what-if, {name} ({w['changed']:,} changed) | {w['seconds']:.2f} "
            f"| {w['tickets_s']:,.0f} | {w['events_s']:,.0f} | {w['ratio_to_raw_replay']:.2f} |"
        )
    same, strict = r["whatif_running"], r["whatif_candidate"]
    print(
        f"\nunder the running policy: changed == [] and what-if == recorded:"
        f" {'yes' if r['reproduces_running_policy'] else 'NO'}"
    )
    print(
        f"compliance recorded {same['compliance_recorded']:.3f}; under the candidate"
        f" {strict['compliance_whatif']:.3f}"
    )
    print(
        f"peak RSS of the what-if: {r['peak_rss_mb']:,.0f} MB"
        f" ({r['rss_before_whatif_mb']:,.0f} MB before it)"
    )
    verdict = "met" if r["meets_goal"] else "missed"
    print(f"goal: what-if over {r['tickets']:,} tickets <= {GOAL_SECONDS:.0f} s: {verdict}")


if __name__ == "__main__":
    main()
