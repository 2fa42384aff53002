"""A PostgreSQL server of the test's own (initdb in a temp dir, a free port), so a test
may stop and start it without touching the machine's shared server.

Needs the PostgreSQL server binaries (`initdb`, `pg_ctl`); as root they run as the
`postgres` user. Where they are missing the test skips with the reason (under
CI=true a skip is a failure, as for every PostgreSQL test)."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest


def _binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


def _as_postgres() -> list[str]:
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


@dataclass
class PrivatePostgres:
    directory: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _pg_ctl(self, *args: str) -> None:
        pg_ctl = _binary("pg_ctl")
        assert pg_ctl
        subprocess.run(
            [
                *_as_postgres(),
                pg_ctl,
                "-D",
                str(self.directory / "data"),
                "-l",
                str(self.directory / "server.log"),
                "-w",
                *args,
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )

    def init(self) -> None:
        initdb = _binary("initdb")
        assert initdb
        self.directory.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            os.chmod(self.directory.parent, 0o755)  # the postgres user must get through
            shutil.chown(self.directory, "postgres", "postgres")
        subprocess.run(
            [
                *_as_postgres(),
                initdb,
                "-D",
                str(self.directory / "data"),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )

    def start(self) -> None:
        self._pg_ctl(
            "-o", f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1", "start"
        )

    def stop(self, mode: str = "fast") -> None:
        self._pg_ctl("-m", mode, "stop")


def private_postgres_or_skip(directory: Path, port: int) -> PrivatePostgres:
    missing = [b for b in ("initdb", "pg_ctl") if not _binary(b)]
    reason = ""
    if missing:
        reason = f"no PostgreSQL server binaries ({', '.join(missing)}) for a private server"
    elif os.geteuid() == 0 and not shutil.which("runuser"):
        reason = "running as root without runuser to start PostgreSQL as postgres"
    if reason:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true and {reason}")
        pytest.skip(reason)
    server = PrivatePostgres(directory, port)
    server.init()
    server.start()
    return server
