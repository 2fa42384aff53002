"""The console and the HTTP API under load, each figure beside the raw limit it stands on.

    .venv/bin/python -m bench.console [--open 10000] [--runs 30] [--clients 50]

One embedded nats-server, one service in this process (SQLite), `--open` requests
published over NATS and left open (the projections caught up before measuring):

1. board: `GET /` (the first page, signed in) p50/p99 ms, and the same with filters
   (`?priority=normal&unassigned=1&state=on_track`); raw: the `board` query it renders,
   called in-process.
2. ticket page: `GET /tickets/<number>` of a ticket with 100 events; raw: the `ticket`
   and `history` queries it renders, in-process.
3. live: `--clients` browsers' `/live` feeds; a command is sent and the time until each
   feed hears of it is taken, p50/p99 ms over `--runs` commands; raw: a plain JetStream
   subscription to the same stream hearing the same events.
4. HTTP intake: tickets/s from the first `POST /api/v1/intake/<channel>` (32 at a time,
   from a client process of its own) until every ticket is on TICKETS_EVENTS; raw: the
   same requests published straight to JetStream, through the same service.

Prints a table, then one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from asyncio.subprocess import PIPE
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import httpx
import nats
from nats.js.api import DeliverPolicy

from bench.intake import fmt, load_texts, make_requests, pct, publish_all, run_cleanly
from infra.nats_server import EmbeddedNats
from infra.policy_file import load_policy
from services.application import messages as m
from services.bootstrap import build_service
from services.readside.board import BoardQuery
from services.readside.sla import SlaQuery
from services.runtime.settings import Settings

SUPERVISOR = {"id": "S001", "role": "supervisor"}


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


async def timed(call, runs: int) -> list[float]:
    """Milliseconds of each of `runs` calls (after one warm-up)."""
    await call()
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        await call()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def p50_p99(values: Sequence[float]) -> dict[str, float | None]:
    return {"p50": pct(values, 50), "p99": pct(values, 99)}


async def run(args: argparse.Namespace) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="bench-console-"))
    server = EmbeddedNats(tmp / "nats", sync_interval="always")
    url = await asyncio.to_thread(server.start)
    service = build_service(Settings(data_dir=tmp / "data", nats_url=url, policy=load_policy()))
    await service.start()
    nc = await nats.connect(url)
    js = nc.jetstream()
    out: dict[str, Any] = {"open": args.open, "runs": args.runs, "clients": args.clients}
    try:
        texts = load_texts()
        say(f"publishing {args.open} requests and waiting for the projections ...")
        await publish_all(js, make_requests(args.open, texts, "open", 1), lambda r: r.subject)
        await wait_projected(service, js, args.open)
        base = service.parts.http.url
        async with httpx.AsyncClient(base_url=base, timeout=60) as web:
            await web.post("/login", data={"username": "S001", "role": "supervisor"})
            out["board"] = await board(web, service, args.runs)
            out["ticket_page"] = await ticket_page(web, service, args.runs)
            out["live"] = await live(base, web, js, service, args)
            out["intake"] = await intake(web, js, texts, args.open)
    finally:
        await nc.close()
        await service.stop()
        await asyncio.to_thread(server.stop)
    return out


async def wait_projected(service: Any, js: Any, count: int) -> None:
    reply: dict = {}
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        reply = await asyncio.to_thread(service.parts.answers["board"], BoardQuery())
        if reply["counts"]["open"] >= count:
            return
        await asyncio.sleep(1)
    raise TimeoutError(f"only {reply.get('counts')} projected")


async def board(web: httpx.AsyncClient, service: Any, runs: int) -> dict:
    async def page() -> None:
        assert (await web.get("/")).status_code == 200

    async def filtered() -> None:
        url = "/?priority=normal&unassigned=1&state=on_track"
        assert (await web.get(url)).status_code == 200

    answer = service.parts.answers["board"]

    async def raw() -> None:
        await asyncio.to_thread(answer, BoardQuery(actor=SUPERVISOR))

    return {
        "page": p50_p99(await timed(page, runs)),
        "filtered": p50_p99(await timed(filtered, runs)),
        "raw": p50_p99(await timed(raw, runs)),
    }


async def ticket_page(web: httpx.AsyncClient, service: Any, runs: int) -> dict:
    number = await long_ticket(web)
    ticket, history = service.parts.answers["ticket"], service.parts.answers["history"]

    async def page() -> None:
        assert (await web.get(f"/tickets/{number}")).status_code == 200

    async def raw() -> None:
        await asyncio.to_thread(ticket, m.TicketQuery(number=number))
        await asyncio.to_thread(history, m.HistoryQuery(number=number))

    return {"page": p50_p99(await timed(page, runs)), "raw": p50_p99(await timed(raw, runs))}


async def long_ticket(web: httpx.AsyncClient) -> str:
    """A ticket with 100 events, made through the API."""
    body = {"external_id": "long-1", "content": "my refund has not arrived"}
    submitted = await web.post("/api/v1/intake/web", json=body, auth=("web", "channel"))
    path, supervisor = f"/api/v1/tickets/{submitted.json()['ticket_id']}", ("S001", "supervisor")
    while (reply := await web.get(path, auth=supervisor)).is_error:
        await asyncio.sleep(0.05)
    number = reply.json()["ticket"]["number"]
    agent = ("A007", "agent")
    await web.post(f"/api/v1/tickets/{number}/assign", json={"assignee": "A007"}, auth=agent)
    for i in range(97):
        note = {"note": f"step {i}", "visibility": "internal"}
        await web.post(f"/api/v1/tickets/{number}/update", json=note, auth=agent)
    return number


async def live(base: str, web: httpx.AsyncClient, js: Any, service: Any, args) -> dict:
    """The time from a command's reply until each open board hears of its event."""
    heard: dict[int, list[float]] = {}
    connected = 0

    async def browser(i: int) -> None:
        nonlocal connected
        me = httpx.AsyncClient(base_url=base, timeout=None, cookies=web.cookies)
        async with me, me.stream("GET", "/live") as feed:
            connected += 1
            async for line in feed.aiter_lines():
                if line.startswith("data: "):
                    heard.setdefault(i, []).append(time.perf_counter())

    raw_heard: list[float] = []

    async def on_raw(msg: Any) -> None:
        raw_heard.append(time.perf_counter())

    sub = await js.subscribe(
        "tickets.events.>", ordered_consumer=True, deliver_policy=DeliverPolicy.NEW, cb=on_raw
    )
    tasks = [asyncio.create_task(browser(i)) for i in range(args.clients)]
    while connected < args.clients:
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)
    delays, raw_delays = [], []
    agent = ("A007", "agent")
    target = await any_number(service)
    for i in range(args.runs):
        before = {k: len(v) for k, v in heard.items()}
        raw_before = len(raw_heard)
        t0 = time.perf_counter()
        note = {"note": f"live {i}", "visibility": "internal"}
        reply = await web.post(f"/api/v1/tickets/{target}/update", json=note, auth=agent)
        assert reply.status_code == 200, reply.text
        deadline = time.monotonic() + 10
        while (
            sum(1 for k, v in heard.items() if len(v) > before.get(k, 0)) < args.clients
            or len(raw_heard) <= raw_before
        ) and time.monotonic() < deadline:
            await asyncio.sleep(0.002)
        delays += [
            (v[before.get(k, 0)] - t0) * 1000 for k, v in heard.items() if len(v) > before.get(k, 0)
        ]
        raw_delays.append((raw_heard[raw_before] - t0) * 1000)
    for task in tasks:
        task.cancel()
    await sub.unsubscribe()
    return {"feeds": p50_p99(delays), "raw": p50_p99(raw_delays), "heard": len(delays)}


async def any_number(service: Any) -> str:
    reply = await asyncio.to_thread(service.parts.answers["sla"], SlaQuery(limit=1))
    return reply["targets"][0]["number"]


async def intake(web: httpx.AsyncClient, js: Any, texts: list[str], n: int) -> dict:
    """Tickets/s from the first request until all are on the stream, over HTTP and over
    NATS (the same service does the same work behind both). The HTTP requests come from
    a client process of its own (`bench.http_load`, 32 keep-alive connections), as an
    adapter's would; the NATS ones are published from this process, as `bench.intake`
    does."""
    n = min(n, 3000)
    url = httpx.URL(str(web.base_url))

    async def over_http(reqs: Sequence[Any]) -> Callable[[], Awaitable[None]]:
        args = [url.host, str(url.port), "web:channel", "32"]
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.http_load", *args, stdin=PIPE, stdout=PIPE
        )
        assert proc.stdin and proc.stdout
        for i, r in enumerate(reqs):
            item = {"path": f"/api/v1/intake/{r.channel}", "body": r.payload.decode()}
            proc.stdin.write((json.dumps({**item, "last": i == len(reqs) - 1}) + "\n").encode())
        await proc.stdin.drain()
        assert (await proc.stdout.readline()).strip() == b"ready"

        async def go() -> None:
            assert proc.stdin and proc.stdout
            proc.stdin.write(b"go\n")
            await proc.stdin.drain()
            done = json.loads(await proc.stdout.readline())
            assert done["statuses"] == {"202": len(reqs)}, done
            await proc.wait()

        return go

    async def over_nats(reqs: Sequence[Any]) -> Callable[[], Awaitable[None]]:
        async def go() -> None:
            await publish_all(js, reqs, lambda r: r.subject)

        return go

    rates = {}
    for name, prepare, seed in (("http", over_http, 2), ("nats", over_nats, 3)):
        reqs = make_requests(n, texts, name, seed)
        go = await prepare(reqs)
        before = (await js.stream_info("TICKETS_EVENTS")).state.messages
        t0 = time.perf_counter()
        await go()
        while (await js.stream_info("TICKETS_EVENTS")).state.messages < before + 2 * n:
            await asyncio.sleep(0.01)  # Received and Classified of every ticket
        rates[name] = n / (time.perf_counter() - t0)
    return {
        "http_per_s": rates["http"],
        "nats_per_s": rates["nats"],
        "ratio": rates["http"] / rates["nats"],
    }


def table(out: dict) -> str:
    def ms(d: dict) -> str:
        return f"{fmt(d['p50'], ' ms', 1)} / {fmt(d['p99'], ' ms', 1)}"

    b, t, lv, i = out["board"], out["ticket_page"], out["live"], out["intake"]
    rows = [
        ("what", "p50 / p99, or rate", "raw limit beside it"),
        ("---", "---", "---"),
        (f"board, first page, {out['open']:,} open", ms(b["page"]), f"`board` {ms(b['raw'])}"),
        ("board, three filters", ms(b["filtered"]), f"`board` {ms(b['raw'])}"),
        ("ticket page, 100 events", ms(t["page"]), f"`ticket` + `history` {ms(t['raw'])}"),
        (f"live: reply → {out['clients']} boards", ms(lv["feeds"]), f"JetStream {ms(lv['raw'])}"),
        (
            "intake over HTTP, 32 at a time, to the stream",
            fmt(i["http_per_s"], " tickets/s"),
            f"over NATS {fmt(i['nats_per_s'], ' tickets/s')} (ratio {i['ratio']:.2f})",
        ),
    ]
    return "\n".join("| " + " | ".join(row) + " |" for row in rows)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--open", type=int, default=10_000, help="open tickets (10000)")
    parser.add_argument("--runs", type=int, default=30, help="samples per figure (30)")
    parser.add_argument("--clients", type=int, default=50, help="open boards (50)")
    args = parser.parse_args(argv)
    out = run_cleanly(run(args))
    print(table(out))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
