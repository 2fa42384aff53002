"""The three JetStream streams of the contract, created or updated at start, idempotently."""

from __future__ import annotations

import asyncio
from typing import Any

from nats.errors import NoRespondersError
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import BadRequestError, NotFoundError, ServiceUnavailableError

INTAKE, EVENTS, DLQ = "TICKETS_INTAKE", "TICKETS_EVENTS", "TICKETS_DLQ"
INTAKE_DURABLE = "ticketflow-intake"
DUPLICATE_WINDOW = 120.0  # seconds; Nats-Msg-Id dedupe, the second line of defence


def stream_configs(replicas: int = 1) -> list[StreamConfig]:
    common: dict[str, Any] = {
        "storage": StorageType.FILE,
        "num_replicas": replicas,
        "duplicate_window": DUPLICATE_WINDOW,
    }
    return [
        # Work queue: a request stays until intake stored its ticket and acknowledged it.
        StreamConfig(
            name=INTAKE,
            subjects=["tickets.intake.>"],
            retention=RetentionPolicy.WORK_QUEUE,
            max_msg_size=1024 * 1024,
            discard=DiscardPolicy.NEW,
            **common,
        ),
        # Atomic batches let the relay store a batch of events with one disk sync
        # (nats-server 2.12+; an older server ignores the flag and the relay falls back).
        StreamConfig(
            name=EVENTS,
            subjects=["tickets.events.>"],
            retention=RetentionPolicy.LIMITS,
            allow_atomic=True,
            **common,
        ),
        StreamConfig(
            name=DLQ,
            subjects=["tickets.dlq.>"],
            retention=RetentionPolicy.LIMITS,
            max_age=90 * 24 * 3600.0,
            **common,
        ),
    ]


NO_PEERS_YET = 10005  # JetStream's "no suitable peers for placement"


async def ensure_streams(js: JetStreamContext, replicas: int = 1, wait: float = 30.0) -> None:
    """Create or update the streams; a cluster still electing its JetStream leader, or
    whose servers do not all know each other yet ("no suitable peers for placement"),
    gets up to `wait` seconds."""
    deadline = asyncio.get_running_loop().time() + wait
    while True:
        try:
            return await _ensure(js, replicas)
        except (ServiceUnavailableError, TimeoutError, NoRespondersError, BadRequestError) as e:
            forming = not isinstance(e, BadRequestError) or e.err_code == NO_PEERS_YET
            if not forming or asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.5)


async def _ensure(js: JetStreamContext, replicas: int) -> None:
    for config in stream_configs(replicas):
        assert config.name
        try:
            await js.stream_info(config.name)
        except NotFoundError:
            await js.add_stream(config)
        else:
            await js.update_stream(config)
