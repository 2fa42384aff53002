"""Server-sent events as the HTTP edge streams them: what there is to send, a comment
every 15 s of quiet (so proxies keep the connection), and an end within a second of the
server closing (the client reconnects; an API client resumes with Last-Event-ID)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

KEEP_ALIVE = 15.0
TICK = 1.0  # how often an open stream looks whether the server is closing

Next = Callable[[float], Awaitable[str | None]]  # text to send, None for nothing; may time out


async def server_sent(first: str, next_text: Next, closing: asyncio.Event) -> AsyncIterator[str]:
    quiet = 0.0
    yield first
    while not closing.is_set():
        try:
            text = await next_text(TICK)
        except TimeoutError:
            quiet += TICK
            if quiet >= KEEP_ALIVE:
                quiet = 0.0
                yield ": still here\n\n"
            continue
        quiet = 0.0
        if text is not None:
            yield text
