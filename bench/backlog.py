"""Intake with a backlog: the rate with N tickets already stored vs an empty store, and
the service's peak memory (RSS) with them.

    .venv/bin/python -m bench.backlog [--stored 100000] [--tickets 3000] [--keep DIR]

For each of (empty store, N tickets stored): seed the SQLite store directly with the
application (Registrar, 500 per transaction), start `ticketflow up` as a subprocess on a
fresh embedded nats-server, wait until the relay and the projections have caught up
with the backlog (their catch-up rate is reported too), then publish `--tickets`
requests and time them to Received + Classified on the stream. Peak RSS is the service
process's VmHWM. A table, then one JSON line.

`--keep DIR` keeps the seeded store and the nats-server's store in DIR: a second run
with the same DIR skips seeding and catch-up (the service restarts on them, as after a
deploy) and measures only the intake, so a 1M backlog is built once (slow, ~30 min) and
measured again on a quiet machine. Each run's new requests get fresh external ids.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import nats
from nats.js.api import DeliverPolicy

from bench.intake import descendants
from domain.actor import Actor
from infra.nats_server import EmbeddedNats, die_with_parent
from infra.policy_file import load_policy
from infra.store import store_env
from services.application.desk import TicketDesk
from services.application.messages import IntakeRequest
from services.application.registration import Registrar, Request


def seed(data_dir: Path, tickets: int) -> float:
    """A history like a real one: tickets received, classified and closed (open ones
    would all breach their targets at once and keep the SLA watcher escalating)."""
    desk = TicketDesk(load_policy(), store_env(f"sqlite:///{data_dir / 'tickets.db'}", data_dir))
    registrar, now, start = Registrar(desk), datetime.now(UTC), time.perf_counter()
    agent = Actor("A001", "agent")
    for first in range(0, tickets, 500):
        requests = [
            Request(
                "web",
                IntakeRequest(
                    external_id=f"old-{i}",
                    content=f"order {i}: where is my refund?",
                    customer={"customer_id": f"C{i % 5000}"},
                ),
                now,
            )
            for i in range(first, min(first + 500, tickets))
        ]
        aggregates = registrar._build([(None, r) for r in requests])  # type: ignore[list-item]
        for ticket in aggregates[::2]:  # (ticket, number) pairs
            ticket.close(resolution="refunded", actor=agent, at=now)
        desk.save(*aggregates)
    desk.close()
    return tickets / max(time.perf_counter() - start, 1e-9)


def peak_rss_mb(pid: int) -> float:
    """The service's peak RSS: the sum of each of its processes' peaks (`--processes 2`
    runs the relay and the read side in a child)."""
    total = 0.0
    for p in [pid, *descendants(pid)]:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1]) / 1024
    return total or float("nan")


class WalWatch:
    """The largest size each SQLite write-ahead log under `data` reached while watched."""

    def __init__(self, data: Path) -> None:
        self.data, self.peak_mb = data, {}
        self._task: asyncio.Task | None = None

    async def _run(self) -> None:
        while True:
            for wal in self.data.glob("*.db-wal"):
                with contextlib.suppress(OSError):
                    mb = wal.stat().st_size / 1e6
                    self.peak_mb[wal.name] = max(self.peak_mb.get(wal.name, 0.0), mb)
            await asyncio.sleep(0.5)

    def __enter__(self) -> WalWatch:
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    def __exit__(self, *_: object) -> None:
        if self._task:
            self._task.cancel()


async def caught_up(js, db: Path, events: int, timeout: float) -> float:
    """Seconds until the stream holds `events` and every projection reached its end."""
    if not events:
        return 0.0  # an empty store: nothing to catch up (and no position written yet)
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        info = await js.stream_info("TICKETS_EVENTS")
        if info.state.messages >= events:
            with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
                rows = conn.execute("SELECT stream_seq FROM projection_positions").fetchall()
            if rows and min(r[0] for r in rows) >= info.state.last_seq:
                return time.perf_counter() - start
        await asyncio.sleep(0.5)
    raise TimeoutError(f"not caught up within {timeout}s")


async def intake_rate(js, count: int, tag: str) -> float:
    seen, done = 0, asyncio.Event()

    async def on_msg(_msg) -> None:
        nonlocal seen
        seen += 1
        if seen >= count:
            done.set()

    sub = await js.subscribe(
        "tickets.events.Classified.>",
        cb=on_msg,
        ordered_consumer=True,
        deliver_policy=DeliverPolicy.NEW,
    )
    start, futures = time.perf_counter(), []
    for i in range(count):
        body = {"external_id": f"new-{tag}-{i}", "content": "the app shows a blank page"}
        futures.append(
            await js.publish_async(
                "tickets.intake.app",
                json.dumps(body).encode(),
                headers={"Nats-Msg-Id": f"app:new-{tag}-{i}"},
            )
        )
    await asyncio.wait_for(asyncio.gather(*futures), 120)
    await asyncio.wait_for(done.wait(), 300)
    await sub.unsubscribe()
    return count / (time.perf_counter() - start)


async def close_open_tickets(nc, db: Path) -> int:
    """A kept backlog must stay a closed history: the requests of an earlier run would
    otherwise breach their targets, and the SLA watcher would be escalating them while
    the next run is measured. Closes them through the service (`tickets.cmd.close`)."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        open_ids = [
            r[0]
            for r in conn.execute(
                "SELECT ticket_id FROM sla_tickets WHERE status <> 'closed'"
            ).fetchall()
        ]
    actor = {"id": "S001", "role": "supervisor"}
    for first in range(0, len(open_ids), 100):
        replies = await asyncio.gather(
            *(
                nc.request(
                    "tickets.cmd.close",
                    json.dumps(
                        {"ticket_id": t, "actor": actor, "resolution": "bench run over"}
                    ).encode(),
                    timeout=30,
                )
                for t in open_ids[first : first + 100]
            )
        )
        for reply in replies:
            answer = json.loads(reply.data)
            if not answer["ok"] and answer["error"]["code"] != "illegal_state":
                raise RuntimeError(f"closing a ticket of an earlier run: {answer}")
    return len(open_ids)


async def all_closed_in_view(db: Path, timeout: float) -> None:
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            [[still_open]] = conn.execute(
                "SELECT COUNT(*) FROM sla_tickets WHERE status <> 'closed'"
            ).fetchall()
        if not still_open:
            return
        await asyncio.sleep(0.5)
    raise TimeoutError(f"{still_open} tickets still open in the SLA view after {timeout}s")


async def one(stored: int, tickets: int, keep: Path | None = None) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        root = keep if keep and stored else Path(tmp)
        data = root / "data"
        marker = root / "seeded.json"
        seeding, reused = None, marker.exists()
        if reused and json.loads(marker.read_text())["stored"] != stored:
            raise SystemExit(f"{root} holds another backlog: {marker.read_text()}")
        if not reused:
            data.mkdir(parents=True, exist_ok=True)
            seeding = seed(data, stored) if stored else None
        server = EmbeddedNats(root / "nats")
        url = server.start()
        service = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "services.cli",
                "up",
                "--nats-url",
                url,
                "--data-dir",
                str(data),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            preexec_fn=die_with_parent,
        )
        try:
            assert service.stdout and service.stdout.readline().startswith("nats: ")
            nc = await nats.connect(url)
            js = nc.jetstream()
            read = data / "tickets-read.db"  # the read models' file
            with WalWatch(data) as wal:
                catch_up = await caught_up(js, read, 3 * stored, timeout=7200)
            if reused and await close_open_tickets(nc, read):
                await all_closed_in_view(read, timeout=600)
            if keep and stored and not reused:
                marker.write_text(json.dumps({"stored": stored}))
            rss_before = peak_rss_mb(service.pid)
            rate = await intake_rate(js, tickets, tag=str(time.time_ns()))
            rss = peak_rss_mb(service.pid)
            await nc.close()
        finally:
            service.terminate()
            service.wait(120)
            server.stop()
    return {
        "stored_tickets": stored,
        "seed_tickets_s": seeding,
        "reused": reused,
        "catch_up_events_s": (3 * stored / catch_up)
        if stored and catch_up and not reused
        else None,
        "intake_tickets_s": rate,
        "peak_rss_mb": rss,
        "peak_rss_before_intake_mb": rss_before,
        "peak_wal_mb_during_catch_up": wal.peak_mb,
    }


async def run(stored: int, tickets: int, keep: Path | None) -> dict:
    empty = await one(0, tickets)
    full = await one(stored, tickets, keep)
    return {
        "empty": empty,
        "backlog": full,
        "ratio": full["intake_tickets_s"] / empty["intake_tickets_s"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stored", type=int, default=100_000)
    parser.add_argument("--tickets", type=int, default=3000)
    parser.add_argument("--keep", type=Path, help="keep (or reuse) the seeded backlog here")
    args = parser.parse_args()
    r = asyncio.run(run(args.stored, args.tickets, args.keep))
    e, b = r["empty"], r["backlog"]
    print(
        f"\nintake with {args.stored:,} closed tickets ({3 * args.stored:,} events) stored"
        f" vs an empty store; {args.tickets:,} new requests; SQLite, sync always\n"
    )
    print("| store | intake tickets/s | peak RSS MB | relay + projections catch-up events/s |")
    print("|---|---|---|---|")
    print(f"| empty | {e['intake_tickets_s']:,.0f} | {e['peak_rss_mb']:,.0f} | - |")
    print(
        f"| {args.stored:,} tickets | {b['intake_tickets_s']:,.0f} | {b['peak_rss_mb']:,.0f} "
        f"| {b['catch_up_events_s'] or 0:,.0f} |"
    )
    wal = ", ".join(f"{name} {mb:,.0f} MB" for name, mb in b["peak_wal_mb_during_catch_up"].items())
    print(f"peak write-ahead logs during the catch-up: {wal or '-'}")
    print(f"\nratio backlog / empty: {r['ratio']:.2f} (target >= 0.9)")
    print(json.dumps(r))


if __name__ == "__main__":
    main()
