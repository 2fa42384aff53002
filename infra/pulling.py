"""A durable pull consumer that keeps going: through NATS restarts, a stream leader
election, or its consumer being deleted (it is created again and resumes), it backs
off, subscribes again and goes on. Only a stop ends it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig


async def pull_forever(
    js: JetStreamContext,
    *,
    subject: str,
    durable: str,
    stream: str,
    config: ConsumerConfig,
    batch: int,
    stopping: asyncio.Event,
    handle: Callable[[list[Any]], Awaitable[None]],
    log: logging.Logger,
    prepare: Callable[[], Awaitable[ConsumerConfig]] | None = None,
) -> None:
    """`prepare`, if given, runs before every (re)subscription and returns the consumer's
    config (e.g. a new start sequence after the durable was deleted on purpose)."""
    sub: Any = None
    backoff = 0.2
    try:
        while not stopping.is_set():
            try:
                if sub is None:
                    if prepare is not None:
                        config = await prepare()
                    sub = await js.pull_subscribe(
                        subject, durable=durable, stream=stream, config=config
                    )
                try:
                    msgs = await sub.fetch(batch, timeout=0.5)
                except TimeoutError:
                    continue
                await handle(msgs)
                backoff = 0.2
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning(
                    "%s: %s: %s; subscribing again in %.1fs",
                    durable,
                    type(error).__name__,
                    error,
                    backoff,
                )
                if sub is not None:
                    with contextlib.suppress(Exception):
                        await sub.unsubscribe()
                    sub = None
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
    finally:
        if sub is not None:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
