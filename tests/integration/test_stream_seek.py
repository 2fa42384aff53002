"""Finding where to resume on TICKETS_EVENTS: the first message after a store sequence,
by binary search, also when messages were deleted from the stream."""

from __future__ import annotations

import json

import nats
import pytest

from infra.stream_seek import first_after
from infra.streams import EVENTS, ensure_streams

pytestmark = pytest.mark.nats


async def test_the_start_splits_the_stream_at_the_sequence_even_with_holes(
    fresh_streams,
) -> None:
    nc = await nats.connect(fresh_streams)
    js = nc.jetstream()
    await ensure_streams(js)
    for k in range(1, 11):  # stream message k holds store sequence 2k
        await js.publish(f"tickets.events.Received.t{k}", json.dumps({"sequence": 2 * k}).encode())
    for gone in (3, 4, 10):
        await js.delete_msg(EVENTS, gone)
    kept = {k: 2 * k for k in range(1, 11) if k not in (3, 4, 10)}
    try:
        for after in range(0, 23):
            start = await first_after(js, after)
            assert all(seq > after for k, seq in kept.items() if k >= start), (after, start)
            assert all(seq <= after for k, seq in kept.items() if k < start), (after, start)
        assert await first_after(js, 0) == 1
        assert await first_after(js, 99) > max(kept)  # after everything: only new ones
    finally:
        await nc.close()
