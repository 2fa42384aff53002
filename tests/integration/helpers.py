"""Small clients for integration tests: publish intake, read the event stream, ask."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, tzinfo
from typing import Any

from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import DeliverPolicy

from services.runtime.settings import clock_offset_from_env


def service_now(tz: tzinfo) -> datetime:
    """Now on the services' clock: the suite runs them some weeks ahead of the wall
    clock (TICKETFLOW_CLOCK_OFFSET_DAYS), so a request stamped with the test's own
    "now" would arrive weeks late and breach its targets."""
    return datetime.now(tz) + clock_offset_from_env()


async def publish_request(
    js: JetStreamContext, channel: str, body: dict | bytes, msg_id: str | None = None
) -> None:
    payload = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
    ext = msg_id or (f"{channel}:{body['external_id']}" if isinstance(body, dict) else None)
    headers = {"Nats-Msg-Id": ext} if ext else None
    await js.publish(f"tickets.intake.{channel}", payload, headers=headers)


async def read_stream(
    js: JetStreamContext, subject: str, count: int, timeout: float = 15.0
) -> list[Any]:
    """The first `count` messages on a stream subject (waits until they are there)."""
    sub = await js.subscribe(subject, ordered_consumer=True, deliver_policy=DeliverPolicy.ALL)
    messages: list[Any] = []
    try:
        async with asyncio.timeout(timeout):
            while len(messages) < count:
                messages.append(await sub.next_msg(timeout=timeout))
    except TimeoutError:
        pass
    finally:
        await sub.unsubscribe()
    return messages


async def ask(nc: Client, subject: str, body: dict | bytes, timeout: float = 10.0) -> dict:
    payload = body if isinstance(body, bytes) else json.dumps(body).encode()
    reply = await nc.request(subject, payload, timeout=timeout)
    return json.loads(reply.data)


def envelope(msg: Any) -> dict:
    return json.loads(msg.data)


def assert_every_request_once(events: list[dict], external_ids: set[str]) -> None:
    """The stream after a fault: no event twice, store order kept, each request one
    ticket with a number of its own."""
    ids = [e["id"] for e in events]
    assert len(ids) == len(set(ids)), "an event is on the stream twice"
    sequences = [e["sequence"] for e in events]
    assert sequences == sorted(sequences), "the stream is out of store order"
    received = [e for e in events if e["type"].startswith("ticketflow.ticket.received.")]
    assert {e["data"]["external_id"] for e in received} == external_ids
    assert len(received) == len(external_ids), "a request became two tickets"
    assert len({e["ticketnumber"] for e in received}) == len(external_ids)
