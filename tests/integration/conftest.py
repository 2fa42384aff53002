"""A running service (in-process, on the session's nats-server, on each store kind)
and a client connected to it: the fixtures most service tests start from. A test
module that needs other settings defines its own `service`; `client` follows it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import nats
import pytest

from services.bootstrap import build_service
from services.runtime.service import Service
from services.runtime.settings import Settings


@pytest.fixture
async def service(
    fresh_streams: str, tmp_path: Path, policy, store_url: str
) -> AsyncIterator[Service]:
    svc = build_service(
        Settings(data_dir=tmp_path, nats_url=fresh_streams, policy=policy, store=store_url)
    )
    await svc.start()
    yield svc
    await svc.stop()


@pytest.fixture
async def client(service: Service) -> AsyncIterator[nats.NATS]:
    nc = await nats.connect(service.url)
    yield nc
    await nc.close()
