"""Where a store sequence sits on TICKETS_EVENTS: the stream holds the store's events in
store order, so a binary search over its message numbers finds the first event after a
given store sequence in a few reads (a reader resuming from `Last-Event-ID`)."""

from __future__ import annotations

import json

from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from infra.streams import EVENTS


async def first_after(js: JetStreamContext, sequence: int) -> int:
    """The stream's message number of the first event whose store `sequence` is greater
    than `sequence` (one past the last message when there is none yet)."""
    info = await js.stream_info(EVENTS)
    low, high = max(info.state.first_seq, 1), info.state.last_seq + 1
    while low < high:  # the answer is in [low, high]; deleted messages count as later ones
        middle = (low + high) // 2
        found = await _at_or_after(js, middle, high)
        if found is None or found[1] > sequence:
            high = middle
        else:
            low = found[0] + 1
    return low


async def _at_or_after(js: JetStreamContext, seq: int, end: int) -> tuple[int, int] | None:
    """(message number, store sequence) of the first message at or after `seq` and
    before `end`; deleted messages are skipped."""
    for number in range(seq, end):
        try:
            msg = await js.get_msg(EVENTS, seq=number)
        except NotFoundError:
            continue
        return number, int(json.loads(msg.data or b"{}").get("sequence") or 0)
    return None
