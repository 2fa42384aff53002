"""`up --processes 2`: the back role in a child process, on the same NATS and store."""

from __future__ import annotations

import asyncio
import os
import sys

from infra.nats_credentials import NatsCredentials
from infra.nats_server import die_with_parent
from services.runtime.settings import Settings

FLUSH_TIMEOUT = 30.0  # the child flushes its relay before it exits


class BackProcess:
    name = "back"

    def __init__(self, settings: Settings, url: str, credentials: NatsCredentials | None) -> None:
        self.settings, self.url, self.credentials = settings, url, credentials
        self.task: asyncio.Task | None = None

    async def start(self) -> None:
        s = self.settings
        args = [sys.executable, "-m", "services.cli", "up", "--role", "back"]
        args += ["--processes", "1", "--nats-url", self.url, "--store", s.store_url]
        args += ["--data-dir", str(s.data_dir), "--nats-replicas", str(s.replicas)]
        if s.policy_path:
            args += ["--policy", str(s.policy_path)]
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("TICKETFLOW_PROCESSES", "TICKETFLOW_AUTH")
        }
        env.update(self.credentials.env() if self.credentials else {})  # never in argv
        self.process = await asyncio.create_subprocess_exec(
            *args,
            stdout=asyncio.subprocess.PIPE,
            env=env,
            preexec_fn=die_with_parent if sys.platform == "linux" else None,
        )
        assert self.process.stdout is not None
        line = await self.process.stdout.readline()
        if not line.startswith(b"nats: "):
            raise RuntimeError(f"the back process did not start (exit {self.process.returncode})")
        self.task = asyncio.create_task(self.process.wait(), name="back")

    async def stop(self) -> None:
        if self.process.returncode is None:
            self.process.terminate()  # it flushes the relay, then exits
            await asyncio.wait_for(self.process.wait(), FLUSH_TIMEOUT + 10)
