"""What `ticketflow up` was asked to run: the settings, and the role of this process."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from pathlib import Path

from domain.policy import Policy
from infra.auth_file import AuthFile
from infra.store import default_store_url, read_models_url

CLOCK_OFFSET_ENV = "TICKETFLOW_CLOCK_OFFSET_DAYS"


def clock_offset_from_env() -> timedelta:
    return timedelta(days=int(os.environ.get(CLOCK_OFFSET_ENV) or 0))


class Role(StrEnum):
    """Which parts run in this process.

    `all`: everything. `front`: intake, commands and queries (and the metrics server).
    `back`: the leader's work: the relay, the projections, the SLA watcher, group
    impact, rebuilds and the retention purge. `up --processes 2` runs a front and a back.
    """

    ALL = "all"
    FRONT = "front"
    BACK = "back"

    @property
    def serves(self) -> bool:
        return self in (Role.ALL, Role.FRONT)

    @property
    def leads(self) -> bool:
        return self in (Role.ALL, Role.BACK)


@dataclass
class Settings:
    data_dir: Path = Path(".ticketflow")
    nats_url: str | None = None
    store: str | None = None
    policy: Policy | None = None
    nats_sync: str = "always"
    replicas: int = 1  # stream replicas on a NATS cluster (3 for a 3-node cluster)
    role: Role = Role.ALL
    processes: int = 1
    policy_path: Path | None = None
    intake_batch: int = 500
    auth: AuthFile | None = None  # --auth: the embedded server's users per role
    metrics_port: int | None = None  # HTTP /metrics, /healthz, /readyz; None: off
    metrics_host: str = "127.0.0.1"
    http_port: int | None = 0  # the HTTP API; 0: a free port; None: off
    http_host: str = "127.0.0.1"
    # The TLS proxy's addresses: their X-Forwarded-Proto/-For name the scheme and client.
    http_forwarded_allow_ips: str = "127.0.0.1"
    # Run as if the calendar were this far ahead: rehearse a holiday or a month end on a
    # copy of the data. The test suite runs every service shifted, so a test that
    # depends on today's date fails on the day it is written, not weeks later.
    clock_offset: timedelta = field(default_factory=lambda: clock_offset_from_env())

    def __post_init__(self) -> None:
        self.role = Role(self.role)  # "front" from a caller is Role.FRONT; a typo fails here
        if self.processes > 1 and self.role is Role.ALL:
            self.role = Role.FRONT  # and a back process beside it

    @property
    def store_url(self) -> str:
        return self.store or default_store_url(self.data_dir)

    @property
    def read_url(self) -> str:
        """The read models' database (a file of its own beside a SQLite store)."""
        return read_models_url(self.store_url)
