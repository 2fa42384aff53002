"""The moving parts of a fault test: the service as a process to kill, and a channel
adapter that keeps publishing through the fault and remembers what was accepted."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nats

from infra.streams import EVENTS


def start_service(nats_url: str, data_dir: Path, *extra: str) -> subprocess.Popen:
    log = open(data_dir / "service.log", "ab")  # noqa: SIM115 - closed with the process
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "services.cli",
            "up",
            "--nats-url",
            nats_url,
            "--data-dir",
            str(data_dir),
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line.startswith("nats: "), f"service did not start: {line!r}; see {log.name}"
    return process


def stop_service(process: subprocess.Popen) -> int:
    process.terminate()
    try:
        return process.wait(60)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def count_events(js: Any) -> int:
    try:
        return (await js.stream_info(EVENTS)).state.messages
    except nats.js.errors.NotFoundError:
        return 0


async def wait_for_events(js: Any, at_least: int, timeout: float = 60) -> int:
    async with asyncio.timeout(timeout):
        while (n := await count_events(js)) < at_least:
            await asyncio.sleep(0.05)
    return n


@dataclass
class Adapter:
    """A channel adapter: publishes requests with `Nats-Msg-Id`, retries each until
    JetStream acknowledges it (as a real adapter must), and records the accepted ones."""

    js: Any
    prefix: str
    accepted: set[str] = field(default_factory=set)
    retries: int = 0

    async def send(self, count: int, window: int = 100, pause: float = 0.0) -> None:
        """`count` requests, `window` at a time, `pause` seconds between windows."""
        for first in range(0, count, window):
            await asyncio.gather(*(self._one(i) for i in range(first, min(first + window, count))))
            await asyncio.sleep(pause)

    async def reply(self, count: int, window: int = 100) -> None:
        """The customers of the first `count` requests write again, quoting their ticket."""
        for first in range(0, count, window):
            await asyncio.gather(
                *(self._one(i, reply=True) for i in range(first, min(first + window, count)))
            )

    async def _one(self, i: int, reply: bool = False) -> None:
        external_id = f"{self.prefix}-{i}" + ("-re" if reply else "")
        body: dict = {"external_id": external_id, "content": f"order {i} never arrived, refund?"}
        if reply:
            body |= {"in_reply_to": f"{self.prefix}-{i}", "content": f"order {i}: any news?"}
        while True:
            try:
                await self.js.publish(
                    "tickets.intake.web",
                    json.dumps(body).encode(),
                    timeout=2,
                    headers={"Nats-Msg-Id": f"web:{external_id}"},
                )
                self.accepted.add(external_id)
                return
            except (nats.errors.Error, TimeoutError, OSError):
                self.retries += 1
                await asyncio.sleep(0.2)
