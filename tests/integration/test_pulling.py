"""The pull loop under the intake consumer and the read side (infra.pulling), against a
real nats-server: no pull request outlives its answer, so a message published while a
batch is being handled is not caught by a request left open and held back until the
message after it arrives."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid

import nats
import pytest
from nats.js.api import AckPolicy, ConsumerConfig, StreamConfig

from infra.pulling import pull_forever

log = logging.getLogger("test.pulling")


@pytest.fixture
async def js(nats_server: str):
    nc = await nats.connect(nats_server)
    stream = f"PULL_{uuid.uuid4().hex[:8].upper()}"
    js = nc.jetstream()
    await js.add_stream(StreamConfig(name=stream, subjects=[f"{stream.lower()}.>"]))
    yield js, stream
    with contextlib.suppress(Exception):
        await js.delete_stream(stream)
    await nc.close()


async def run_pull(js, stream: str, handle, stopping: asyncio.Event) -> asyncio.Task:
    return asyncio.create_task(
        pull_forever(
            js,
            subject=f"{stream.lower()}.>",
            durable="reader",
            stream=stream,
            config=ConsumerConfig(durable_name="reader", ack_policy=AckPolicy.EXPLICIT),
            batch=500,
            stopping=stopping,
            handle=handle,
            log=log,
        )
    )


async def test_no_pull_request_is_left_open_while_a_batch_is_handled(js) -> None:
    js, stream = js
    stopping, waiting, got = asyncio.Event(), [], []

    async def handle(msgs) -> None:
        info = await js.consumer_info(stream, "reader")
        waiting.append(info.num_waiting)  # requests the server still holds for us
        got.extend(m.data for m in msgs)
        for m in msgs:
            await m.ack()
        if len(got) >= 5:
            stopping.set()

    task = await run_pull(js, stream, handle, stopping)
    for i in range(5):
        await js.publish(f"{stream.lower()}.a", str(i).encode())
        await asyncio.sleep(0.05)  # a gentle rate: each message alone
    await asyncio.wait_for(task, 10)
    assert got == [b"0", b"1", b"2", b"3", b"4"]
    assert set(waiting) == {0}


async def test_what_arrives_while_a_batch_is_handled_is_the_next_batch_at_once(js) -> None:
    js, stream = js
    stopping, batches = asyncio.Event(), []
    loop = asyncio.get_running_loop()

    async def handle(msgs) -> None:
        batches.append((loop.time(), [m.data for m in msgs]))
        if len(batches) == 1:  # while the first is handled, three more arrive
            for i in (1, 2, 3):
                await js.publish(f"{stream.lower()}.a", str(i).encode())
            await asyncio.sleep(0.05)
        for m in msgs:
            await m.ack()
        if sum(len(b) for _, b in batches) >= 4:
            stopping.set()

    task = await run_pull(js, stream, handle, stopping)
    await js.publish(f"{stream.lower()}.a", b"0")
    await asyncio.wait_for(task, 10)
    assert [b for _, b in batches] == [[b"0"], [b"1", b"2", b"3"]]
    assert batches[1][0] - batches[0][0] < 0.3  # not after a pull request's half second
