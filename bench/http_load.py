"""A small HTTP/1.1 load client, run as its own process so that the client's work does
not compete with the service's event loop (as an adapter on another machine would not).

    python -m bench.http_load HOST PORT AUTH CONCURRENCY < requests.jsonl

Each stdin line is `{"path": ..., "body": ...}`. The process reads them all, prints
`ready`, waits for a line `go`, then POSTs them over CONCURRENCY keep-alive
connections and prints one JSON line: `{"sent", "seconds", "statuses"}`.
"""

from __future__ import annotations

import asyncio
import base64
import json
import sys
import time
from collections import Counter


async def worker(host: str, port: int, auth: str, queue: asyncio.Queue, seen: Counter) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while not queue.empty():
            path, body = queue.get_nowait()
            head = (
                f"POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Basic {auth}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
            )
            writer.write(head.encode() + body)
            status_line = await reader.readline()
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode().partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            await reader.readexactly(length)
            seen[status_line.split()[1].decode()] += 1
    finally:
        writer.close()


async def main(host: str, port: int, user: str, concurrency: int) -> None:
    queue: asyncio.Queue = asyncio.Queue()
    for line in sys.stdin:
        if line.strip() == "go":
            break
        item = json.loads(line)
        queue.put_nowait((item["path"], item["body"].encode()))
        if item.get("last"):
            print("ready", flush=True)
    auth = base64.b64encode(user.encode()).decode()
    seen: Counter = Counter()
    sent = queue.qsize()
    t0 = time.perf_counter()
    await asyncio.gather(*(worker(host, port, auth, queue, seen) for _ in range(concurrency)))
    elapsed = time.perf_counter() - t0
    print(json.dumps({"sent": sent, "seconds": elapsed, "statuses": dict(seen)}), flush=True)


if __name__ == "__main__":
    host, port, user, concurrency = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    asyncio.run(main(host, port, user, concurrency))
