"""Latency from publishing a request to its ticket on the stream and in the SLA view.

    .venv/bin/python -m bench.latency [--rate 40] [--tickets 400]

Runs `ticketflow up` as a subprocess (SQLite, embedded nats-server, sync always) and
publishes requests at a steady rate. For each request: the time until its Received is
on TICKETS_EVENTS (an ordered consumer), and until its SLA targets are in the SLA view
(the `sla_targets` table, read from the read models' file). Beside them: raw JetStream
publish -> push-consumer delivery at the same rate on the same server. p50/p99 in ms;
a table, then one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nats
from nats.js.api import DeliverPolicy, StreamConfig

from domain.ticket import ticket_id_for


def pct(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[max(int(len(ordered) * p / 100 + 0.5) - 1, 0)] if ordered else float("nan")


async def raw(js, rate: float, count: int) -> list[float]:
    await js.add_stream(StreamConfig(name="RAW_LAT", subjects=["raw.lat"]))
    sent: dict[int, float] = {}
    got: list[float] = []
    done = asyncio.Event()

    async def on_msg(msg) -> None:
        got.append((time.perf_counter() - sent[int(msg.data)]) * 1000)
        if len(got) == count:
            done.set()

    await js.subscribe("raw.lat", cb=on_msg, deliver_policy=DeliverPolicy.NEW)
    for i in range(count):
        sent[i] = time.perf_counter()
        await js.publish("raw.lat", str(i).encode())
        await asyncio.sleep(1 / rate)
    await asyncio.wait_for(done.wait(), 30)
    return got


async def service(url: str, db: Path, rate: float, count: int) -> tuple[list, list]:
    nc = await nats.connect(url)
    js = nc.jetstream()
    sent: dict[str, float] = {}
    on_stream: dict[str, float] = {}

    async def on_msg(msg) -> None:
        event = json.loads(msg.data)
        if event["subject"] in sent and event["subject"] not in on_stream:
            on_stream[event["subject"]] = time.perf_counter()

    await js.subscribe(
        "tickets.events.Received.>",
        cb=on_msg,
        ordered_consumer=True,
        deliver_policy=DeliverPolicy.NEW,
    )
    in_view: dict[str, float] = {}
    reader = sqlite3.connect(f"file:{db}?mode=ro", uri=True, check_same_thread=False)

    async def watch_view() -> None:
        while len(in_view) < count:
            waiting = [t for t in sent if t not in in_view]
            if waiting:
                marks = ",".join("?" * len(waiting))
                rows = reader.execute(
                    f"SELECT DISTINCT ticket_id FROM sla_targets WHERE ticket_id IN ({marks})",
                    waiting,
                ).fetchall()
                now = time.perf_counter()
                for (ticket,) in rows:
                    in_view.setdefault(ticket, now)
            await asyncio.sleep(0.001)

    watcher = asyncio.create_task(watch_view())
    for i in range(count):
        body = {"external_id": f"lat-{i}", "content": "my refund has not arrived"}
        sent[str(ticket_id_for("web", f"lat-{i}"))] = time.perf_counter()
        await js.publish(
            "tickets.intake.web", json.dumps(body).encode(), headers={"Nats-Msg-Id": f"web:lat-{i}"}
        )
        await asyncio.sleep(1 / rate)
    await asyncio.wait_for(watcher, 60)
    await nc.close()
    return (
        [(on_stream[t] - s) * 1000 for t, s in sent.items() if t in on_stream],
        [(in_view[t] - s) * 1000 for t, s in sent.items()],
    )


async def run(rate: float, count: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        process = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "up", "--data-dir", tmp],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        try:
            url = process.stdout.readline().strip().removeprefix("nats: ")  # type: ignore[union-attr]
            nc = await nats.connect(url)
            raw_ms = await raw(nc.jetstream(), rate, min(count, 200))
            await nc.close()
            stream_ms, view_ms = await service(url, Path(tmp) / "tickets-read.db", rate, count)
        finally:
            process.terminate()
            process.wait(60)
    return {
        "rate": rate,
        "tickets": count,
        "raw_p50_ms": statistics.median(raw_ms),
        "raw_p99_ms": pct(raw_ms, 99),
        "stream_p50_ms": statistics.median(stream_ms),
        "stream_p99_ms": pct(stream_ms, 99),
        "sla_view_p50_ms": statistics.median(view_ms),
        "sla_view_p99_ms": pct(view_ms, 99),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=40.0)
    parser.add_argument("--tickets", type=int, default=400)
    args = parser.parse_args()
    r = asyncio.run(run(args.rate, args.tickets))
    print(f"\nlatency at {r['rate']:g} requests/s, {r['tickets']} tickets, SQLite, sync always\n")
    print("| from publish to | p50 ms | p99 ms | raw JetStream p50 / p99 ms |\n|---|---|---|---|")
    raw = f"{r['raw_p50_ms']:.1f} / {r['raw_p99_ms']:.1f}"
    print(
        f"| Received on TICKETS_EVENTS | {r['stream_p50_ms']:.1f} | {r['stream_p99_ms']:.1f} "
        f"| {raw} |"
    )
    print(
        f"| targets in the SLA view | {r['sla_view_p50_ms']:.1f} | {r['sla_view_p99_ms']:.1f} "
        f"| {raw} |"
    )
    print(json.dumps(r))


if __name__ == "__main__":
    main()
