"""Shared fixtures: a fixed clock, stores (SQLite and PostgreSQL), a real nats-server.

PostgreSQL tests run against a real server (TICKETFLOW_TEST_POSTGRES, default
postgresql://postgres@127.0.0.1:5432/test), each in a schema of its own. Where none is
reachable they skip with the reason; under CI (CI=true) that is a failure.
"""

from __future__ import annotations

import contextlib
import os
import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from domain.policy import Policy
from infra.nats_server import EmbeddedNats
from infra.policy_file import load_policy
from infra.store import store_env
from services.application.desk import TicketDesk
from services.runtime.settings import CLOCK_OFFSET_ENV

# Every service the tests start runs some whole weeks ahead of today (a new number each
# session, shown in the header; TICKETFLOW_CLOCK_OFFSET_DAYS=N repeats a session). A test
# that expects today's date from a service (a ticket number, a due time, "this week")
# fails the day it is written instead of on some later day.
os.environ.setdefault(CLOCK_OFFSET_ENV, str(7 * random.SystemRandom().randint(1, 52)))

POSTGRES_URL = os.environ.get(
    "TICKETFLOW_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test"
)


def pytest_report_header() -> str:
    return f"services run {os.environ[CLOCK_OFFSET_ENV]} days ahead ({CLOCK_OFFSET_ENV})"


class FixedClock:
    """A clock that moves only when the test says so."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture
def clock() -> FixedClock:
    # Tuesday 2026-11-24 10:00 in Asia/Shanghai: inside working hours.
    return FixedClock(datetime(2026, 11, 24, 2, 0, tzinfo=UTC))


@pytest.fixture(scope="session")
def policy() -> Policy:
    return load_policy()


def postgres_or_skip() -> str:
    import psycopg

    try:
        with psycopg.connect(POSTGRES_URL, connect_timeout=3):
            return POSTGRES_URL
    except psycopg.OperationalError as error:
        reason = f"no PostgreSQL at {POSTGRES_URL}: {error}".strip()
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true and {reason}")
        pytest.skip(reason)


@pytest.fixture
def postgres_schema() -> Iterator[str]:
    import psycopg

    url = postgres_or_skip()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    yield f"{url}?schema={schema}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'tickets.db'}"
    return request.getfixturevalue("postgres_schema")


@pytest.fixture
def desk(store_url: str, policy: Policy, clock: FixedClock, tmp_path: Path) -> Iterator[TicketDesk]:
    app = TicketDesk(policy, store_env(store_url, tmp_path), clock=clock)
    yield app
    app.close()


@pytest.fixture
async def fresh_streams(nats_server: str) -> str:
    """The session's nats-server with the ticketflow streams deleted: each test starts empty."""
    import nats

    from infra.streams import DLQ, EVENTS, INTAKE

    nc = await nats.connect(nats_server)
    js = nc.jetstream()
    for name in (INTAKE, EVENTS, DLQ):
        with contextlib.suppress(nats.js.errors.NotFoundError):
            await js.delete_stream(name)
    await nc.close()
    return nats_server


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real nats-server (JetStream) on a free loopback port, for this test session only."""
    server = EmbeddedNats(tmp_path_factory.mktemp("nats"), sync_interval="always")
    url = server.start()
    yield url
    server.stop()
