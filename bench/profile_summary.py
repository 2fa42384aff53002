"""Summarise py-spy's collapsed stacks (`py-spy record --format raw`) or a cProfile file.

    .venv/bin/python -m bench.profile_summary PROFILE [--top 25]

Collapsed stacks: self and inclusive share of samples per function, and inclusive share
per area (the first matching rule below, from the leaf up). cProfile (`.prof`): the
top functions by internal and by cumulative time.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

# (area, pattern on "func (file:line)"). For each sample the innermost frame matching any
# rule decides (rules tried in this order on each frame, from the leaf upwards).
AREAS = [
    ("store write: event -> stored record (JSON + AES encrypt)", r"Mapper\.to_stored_event"),
    ("relay: stored record -> event (AES decrypt + JSON)", r"Mapper\.to_domain_event"),
    ("relay: select_notifications (SQL)", r"select_notifications"),
    ("store write: SQLite insert + commit", r"insert_events|\.commit \(|_insert_|executemany"),
    ("relay: CloudEvents envelope (JSON)", r"build_envelope"),
    ("relay: event_data + masking", r"^event_data \("),
    ("relay: JetStream publish (nats-py)", r"Relay\._publish"),
    ("intake: classifier", r"Classifier\.classify"),
    ("intake: SLA plan + business calendar", r"^plan \(|select_rule|BusinessCalendar"),
    ("intake: chain digest (json.dumps + sha)", r"event_digest"),
    (
        "intake: aggregates + events (eventsourcing domain)",
        r"Ticket\.receive|Ticket\.classify|TicketNumber\.register|BaseAggregate|trigger_event",
    ),
    ("intake: numbering", r"NumberSequence"),
    ("intake: registration, other", r"Registrar\."),
    ("intake: parse + validate (pydantic)", r"^parse \(services/intake|model_validate"),
    ("intake: ack after store (nats-py)", r"IntakeConsumer\._store"),
    ("intake: fetch (nats-py)", r"IntakeConsumer\."),
    ("faststream", r"faststream/"),
    ("nats-py, other (reading, parsing, flushing)", r"nats/"),
    ("asyncio event loop", r"asyncio/"),
]
IDLE_LEAVES = re.compile(
    r"^(EpollSelector\.select|_worker \(concurrent/futures/thread\.py|"
    r"Condition\.wait|Event\.wait|Thread\.join|_wait_for_tstate_lock)"
)
STARTUP = re.compile(r"_find_and_load|ensure_streams|Service\.start|build_service|Service\.stop")
_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


def _name(frame: str) -> str:
    """`func (path/to/site-packages/pkg/mod.py:12)` -> `func (pkg/mod.py)`."""
    m = _FRAME.match(frame.strip())
    if not m:
        return frame.strip()
    path = m["file"]
    for marker in ("site-packages/", "/lib/python3.11/", "/work/main/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{m['func']} ({path})"


def collapsed(path: Path, top: int) -> str:
    self_c: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    areas: Counter[str] = Counter()
    total = idle = startup = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [f.strip() for f in stack.split(";") if not f.startswith(("thread (", "process "))]
        if not frames or IDLE_LEAVES.match(frames[-1]):
            idle += n
            continue
        if any(STARTUP.search(f) for f in frames):
            startup += n
            continue
        names = [_name(f) for f in frames]
        self_c[names[-1]] += n
        for name in set(names):
            incl[name] += n
        area = "other"
        for frame in reversed(frames):
            hit = next((a for a, pat in AREAS if re.search(pat, frame)), None)
            if hit:
                area = hit
                break
        areas[area] += n
    busy = max(total - idle - startup, 1)
    out = [
        f"{path.name}: {total} samples; idle (select / thread-pool wait) {idle / total:.1%}, "
        f"start-up + shutdown (imports, streams) {startup / total:.1%}; "
        f"shares below are of the remaining {busy} busy samples",
        "",
        "by area (innermost matching frame):",
    ]
    out += [f"  {c / busy:6.1%}  {name}" for name, c in areas.most_common()]
    out += ["", "self time (leaf function):"]
    out += [f"  {c / busy:6.1%}  {name}" for name, c in self_c.most_common(top)]
    out += ["", "inclusive (function on the stack):"]
    out += [f"  {c / busy:6.1%}  {name}" for name, c in incl.most_common(top)]
    return "\n".join(out)


def cprofile(path: Path, top: int) -> str:
    import io
    import pstats

    buf = io.StringIO()
    stats = pstats.Stats(str(path), stream=buf).strip_dirs()
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    return buf.getvalue()


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.profile_summary")
    p.add_argument("profile", type=Path)
    p.add_argument("--top", type=int, default=25)
    a = p.parse_args()
    print(
        cprofile(a.profile, a.top) if a.profile.suffix == ".prof" else collapsed(a.profile, a.top)
    )


if __name__ == "__main__":
    main()
