"""Point-in-time replay of a ticket with 100 events, and `history`, beside the raw limit.

    .venv/bin/python -m bench.replay [--events 100] [--runs 300] [--store sqlite|postgresql://...]

Raw limit: the eventsourcing library's own `repository.get` of the same aggregate
(decrypt + decode + mutate, no cache). The figures: the `ticket` query at the latest
version, at a version half-way, at a moment half-way, and `history` (which also
verifies the hash chain), each p50 / p99 in ms. Prints a table, then one JSON line.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from infra.policy_file import load_policy
from infra.store import store_env
from services.application import messages as m
from services.application.commands import CommandService
from services.application.desk import TicketDesk
from services.application.queries import QueryService
from services.application.registration import Registrar, Request

AGENT = {"id": "A007", "role": "agent"}


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 24, 2, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=30)
        return self.now


def build(desk: TicketDesk, events: int) -> str:
    [r] = Registrar(desk).register(
        [
            Request(
                "web",
                m.IntakeRequest(external_id="long-1", content="my refund has not arrived"),
                desk.clock(),
            )
        ]
    )
    commands, tid = CommandService(desk), str(r.ticket_id)
    commands.execute("assign", m.Assign(ticket_id=tid, actor=AGENT, assignee="A007"))
    for i in range(events - 3):
        commands.execute(
            "update",
            m.Update(
                ticket_id=tid,
                actor=AGENT,
                note=f"step {i}",
                visibility="customer" if i % 3 else "internal",
            ),
        )
    return tid


def timed(call: Callable[[], object], runs: int) -> dict[str, float]:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return {"p50_ms": statistics.median(samples), "p99_ms": samples[int(len(samples) * 0.99) - 1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=100)
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--store", default="sqlite")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.store if args.store != "sqlite" else f"sqlite:///{Path(tmp) / 't.db'}"
        desk = TicketDesk(load_policy(), store_env(url, Path(tmp)), clock=Clock())  # no cache
        tid = build(desk, args.events)
        ticket = desk.load(desk.resolve(tid))
        half_time = ticket.received_at + (ticket.modified_on - ticket.received_at) / 2
        queries = QueryService(desk)
        rows = {
            "raw repository.get (library)": timed(
                lambda: desk.repository.get(ticket.id), args.runs
            ),
            "ticket query, latest": timed(
                lambda: queries.ticket(m.TicketQuery(ticket_id=tid)), args.runs
            ),
            "ticket query, as_of version": timed(
                lambda: queries.ticket(m.TicketQuery(ticket_id=tid, as_of=args.events // 2)),
                args.runs,
            ),
            "ticket query, as_of time": timed(
                lambda: queries.ticket(m.TicketQuery(ticket_id=tid, as_of=half_time)), args.runs
            ),
            "history (verifies the chain)": timed(
                lambda: queries.history(m.HistoryQuery(ticket_id=tid)), args.runs
            ),
        }
        desk.close()
    raw = rows["raw repository.get (library)"]["p50_ms"]
    print(
        f"\nreplay of a ticket with {ticket.version} events, {args.runs} runs, store={args.store}\n"
    )
    print("| what | p50 ms | p99 ms | p50 / raw |\n|---|---|---|---|")
    for name, r in rows.items():
        print(f"| {name} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['p50_ms'] / raw:.1f} |")
    print(
        json.dumps(
            {
                "events": ticket.version,
                "runs": args.runs,
                "store": args.store,
                **{k.split(" (")[0].replace(" ", "_").replace(",", ""): v for k, v in rows.items()},
            }
        )
    )


if __name__ == "__main__":
    main()
