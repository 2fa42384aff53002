"""Projections fed from TICKETS_EVENTS: a `Projector` applies batches to one projection
(and rebuilds it); a `Feed` is the durable consumer that feeds one or more projectors.

Each fetched batch is applied in one database transaction together with the stream
position it reaches, then acknowledged; an event at or below the recorded position is
skipped, so redelivery after a crash (or a replay) changes nothing. The event's store
`sequence` is recorded too: when the stream lost its tail and the relay re-published
it, the copies of events already applied come at new stream positions, and are
skipped by their store sequence (the stream is in store order). A projection that
fails keeps its place and tries again: it never skips an event.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from infra.pulling import pull_forever
from infra.readdb import ReadDB, Tx
from infra.streams import EVENTS

log = logging.getLogger("ticketflow.projections")
Applied = Callable[[str, Sequence[dict]], None]


class Projection(Protocol):
    """What a projector needs of a read model (`projections.base.Projection` is one)."""

    name: str
    version: int  # raised when the tables change: the projection is built again

    def create(self, tx: Tx) -> None: ...

    def drop(self, tx: Tx) -> None: ...

    def reset(self, tx: Tx) -> None: ...

    def begin(self, tx: Tx, events: Sequence[dict]) -> None: ...

    def apply(self, tx: Tx, event: dict) -> None: ...

    def end(self, tx: Tx) -> None: ...


class Projector:
    def __init__(
        self,
        projection: Projection,
        db: ReadDB,
        js: JetStreamContext,
        on_applied: Applied | None = None,
    ) -> None:
        self.projection, self.db, self.js = projection, db, js
        self.on_applied = on_applied
        self.position = 0
        self._lock = asyncio.Lock()  # a rebuild pauses the feed
        with db.transaction() as tx:
            name, version = projection.name, projection.version
            if tx.version(name) != version:  # tables of another shape: build them again
                projection.drop(tx)
                tx.set_position(name, 0)
                tx.set_version(name, version)
                log.info("projection %s is version %d: built again from the stream", name, version)
            projection.create(tx)
            self.position = tx.position(projection.name)

    def apply_batch(self, batch: Sequence[tuple[int, dict]]) -> list[dict]:
        """Apply what is new in `batch` [(stream seq, event)]; return those events."""
        name, applied = self.projection.name, []
        with self.db.transaction() as tx:
            position, store_seq = tx.positions(name)
            for seq, event in batch:
                if seq <= position:
                    continue
                position = seq
                sequence = int(event.get("sequence") or 0)
                if sequence and sequence <= store_seq:  # a re-published copy
                    continue
                applied.append(event)
                store_seq = max(store_seq, sequence)
            self.projection.begin(tx, applied)
            for event in applied:
                self.projection.apply(tx, event)
            self.projection.end(tx)
            tx.set_position(name, position, store_seq)
        self.position = position
        return applied

    async def rebuild(self, progress: Callable[[int, int], None] | None = None) -> int:
        """Empty the tables and apply the whole stream again; the live loop waits.

        An ordered consumer with a callback (no task per message) parses each event once
        into chunks; a chunk is applied in a worker thread while the next is read. At
        most a few chunks wait: a full queue holds the callback, and the server holds
        the stream behind it (flow control), so memory stays flat on a long stream."""
        async with self._lock:
            total = (await self.js.stream_info(EVENTS)).state.last_seq
            await asyncio.to_thread(self._reset)
            if total == 0:
                return 0
            chunks: asyncio.Queue[list[tuple[int, dict]]] = asyncio.Queue(maxsize=4)
            chunk: list[tuple[int, dict]] = []

            async def on_msg(msg: Any) -> None:
                nonlocal chunk
                seq = msg.metadata.sequence.stream
                if seq > total:
                    return
                chunk.append((seq, json.loads(msg.data)))
                if len(chunk) >= REBUILD_CHUNK or seq >= total:
                    ready, chunk = chunk, []
                    await chunks.put(ready)

            sub = await self.js.subscribe(
                "tickets.events.>",
                cb=on_msg,
                ordered_consumer=True,
                deliver_policy=DeliverPolicy.ALL,
            )
            done = 0
            try:
                while done < total:
                    try:
                        batch = await asyncio.wait_for(chunks.get(), REBUILD_QUIET)
                    except TimeoutError:  # the stream lost its tail: what is there is done
                        if not chunk:
                            break
                        batch, chunk = chunk, []
                    await asyncio.to_thread(self.apply_batch, batch)
                    done = batch[-1][0]
                    if progress:
                        progress(done, total)
            finally:
                await sub.unsubscribe()
            return done

    def _reset(self) -> None:
        with self.db.transaction() as tx:
            self.projection.reset(tx)
            tx.set_position(self.projection.name, 0)
        self.position = 0


REBUILD_CHUNK = 2000  # events applied in one transaction during a rebuild
REBUILD_QUIET = 5.0  # seconds without a message before a rebuild takes what it has


class OutOfOrder(RuntimeError):
    """The consumer delivered past an event the projections have not applied."""


class Feed:
    """One durable consumer feeding several projectors: the stream is read (and parsed)
    once per batch, not once per projection; each projector still applies in its own
    transaction with its own position, so they stay independent and idempotent.

    The projections' positions are the truth, the durable consumer only a cursor: at
    every (re)subscription it is created again to start right after the lowest
    position. A durable alone is not enough: after a crash, the batch the dead process
    had fetched is redelivered only after `ack_wait`, behind newer messages, and an
    acknowledgement (AckPolicy.ALL) of a newer one would even drop it; a fetch that
    timed out on the client may do the same. So a batch that skips past an event still
    on the stream, or that fails to apply, makes the feed subscribe again from its
    position: it never skips an event."""

    def __init__(
        self,
        projectors: list[Projector],
        js: JetStreamContext,
        batch_size: int = 500,
        durable: str = "ticketflow-read-side",
    ) -> None:
        self.projectors, self.js = projectors, js
        self.batch_size, self.durable = batch_size, durable
        self._stopping = asyncio.Event()

    async def run(self) -> None:
        await pull_forever(
            self.js,
            subject="tickets.events.>",
            durable=self.durable,
            stream=EVENTS,
            config=ConsumerConfig(),
            batch=self.batch_size,
            stopping=self._stopping,
            handle=self._handle,
            log=log,
            prepare=self._recreate_consumer,
        )

    def position(self) -> int:
        return min(projector.position for projector in self.projectors)

    async def _recreate_consumer(self) -> ConsumerConfig:
        start = self.position() + 1
        with contextlib.suppress(NotFoundError):
            await self.js.delete_consumer(EVENTS, self.durable)
        log.info("%s: reading from stream sequence %d", self.durable, start)
        return ConsumerConfig(
            durable_name=self.durable,
            ack_policy=AckPolicy.ALL,
            ack_wait=30,
            max_ack_pending=20_000,
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=start,
        )

    async def _skips_an_event(self, first: int) -> bool:
        """Whether the stream still holds an event between our position and `first`
        (a gap of deleted or purged messages is not a skip)."""
        expected = self.position() + 1
        if first <= expected:
            return False
        expected = max(expected, (await self.js.stream_info(EVENTS)).state.first_seq)
        for seq in range(expected, first):
            try:
                await self.js.get_msg(EVENTS, seq=seq)
                return True
            except NotFoundError:
                continue
        return False

    async def _handle(self, msgs: list[Any]) -> None:
        if not msgs:
            return
        batch = [(m.metadata.sequence.stream, json.loads(m.data)) for m in msgs]
        batch.sort(key=lambda pair: pair[0])  # redeliveries may come behind newer ones
        if await self._skips_an_event(batch[0][0]):
            raise OutOfOrder(f"delivered {batch[0][0]} before {self.position() + 1}")
        for projector in self.projectors:  # a rebuild in progress holds its projector
            await projector._lock.acquire()
        try:
            applied = await asyncio.to_thread(self._apply, batch)
        except Exception as error:
            log.error(
                "projections failed on a batch: %s: %s", type(error).__name__, error, exc_info=error
            )
            raise  # subscribe again from the position after a pause: never skip an event
        finally:
            for projector in self.projectors:
                projector._lock.release()
        await msgs[-1].ack()  # AckPolicy.ALL: acknowledges the whole batch
        for projector, events in zip(self.projectors, applied, strict=True):
            if events and projector.on_applied:
                projector.on_applied(projector.projection.name, events)

    def _apply(self, batch: list[tuple[int, dict]]) -> list[list[dict]]:
        return [projector.apply_batch(batch) for projector in self.projectors]

    def stop(self) -> None:
        self._stopping.set()
