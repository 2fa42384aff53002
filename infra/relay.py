"""The relay: the store's log -> TICKETS_EVENTS, in store order, each event once.

The store is the truth and the stream is its copy. The relay keeps no checkpoint of
its own: at start (and after any failure) it reads the last event on the stream and
resumes after that event's `sequence` (its position in the store's log), so a crash
anywhere, however long, neither loses nor repeats an event. Two more guards:
`Nats-Msg-Id` (JetStream dedupe) and `Nats-Expected-Last-Sequence`, which makes the
stream refuse a message that would land out of order (after a failed publish, or
from a second relay), instead of storing a gap.

Gaps in the store's ids (PostgreSQL) are skipped, never waited for.

If the stream loses its tail, the relay notices before its next publish: a server that
lost unsynced writes has a lower last sequence, which `Nats-Expected-Last-Sequence`
refuses; messages deleted or a purge leave the last sequence as it was, so each time
it reads the store (while idle, at least every `poll_interval` or `verify_interval`,
whichever is shorter) the relay checks that the last message it published is still
there — one lookup by sequence, asked while the store is read. Then it re-publishes from
the stream's last event on, so the stream stays in store order. JetStream's dedupe
remembers the lost messages' ids for its window and would swallow the copies, so an
event the stream provably lacks is re-sent under a resync id (`<ticket>:<version>:r<stream seq>`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from eventsourcing.application import Application
from eventsourcing.persistence import Notification
from eventsourcing.utils import get_topic
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from domain.article import Article
from domain.event_data import Reveal, event_data, event_name, no_keys
from domain.problem import Problem
from domain.self_service import SelfServiceReport
from domain.ticket import Ticket, event_digest
from infra.cloudevents import build_envelope, event_subject
from infra.streams import EVENTS

log = logging.getLogger("ticketflow.relay")


def _event_topics(aggregate: type) -> frozenset[str]:
    base = aggregate.Event  # type: ignore[attr-defined]
    return frozenset(
        get_topic(cls)
        for cls in vars(aggregate).values()
        if isinstance(cls, type) and issubclass(cls, base) and cls is not base
    )


# What goes to TICKETS_EVENTS: every ticket's, problem's and article's events (not the
# bookkeeping of ticket numbers or personal-data keys, nor snapshots).
TICKET_TOPICS = _event_topics(Ticket)
PROBLEM_TOPICS = _event_topics(Problem)
ARTICLE_TOPICS = _event_topics(Article) | _event_topics(SelfServiceReport)
PUBLISHED_TOPICS = TICKET_TOPICS | PROBLEM_TOPICS | ARTICLE_TOPICS


def kind_of(topic: str) -> str:
    """The aggregate a stored event's topic belongs to, as its CloudEvents type names it."""
    if topic in PROBLEM_TOPICS:
        return "problem"
    return "article" if topic in ARTICLE_TOPICS else "ticket"


ACK_TIMEOUT = 10.0  # publish_async futures never time out by themselves
ATOMIC_MAX = 1000  # nats-server's limit of messages in one atomic batch
# Fewer events than this are pipelined, not sent as an atomic batch: nats-server 2.15
# takes about 3 ms longer to commit an atomic batch however small (with
# `sync_interval: always`: 1 event 3.9 ms atomic, 1.2 ms pipelined; 3 events 4.1 vs
# 1.6 ms; 10 events 3.4-4.5 vs 2.8 ms; 20 events level; 100 events 6 vs 16-25 ms).
ATOMIC_FROM = 10


@dataclass(frozen=True)
class Outgoing:
    sequence: int
    msg_id: str
    subject: str
    payload: bytes


def _revealer(app: Application, events: Sequence[Any]) -> Reveal:
    """The store's key lookup for the sealed personal data of `events`, their keys read
    at once (services.application.desk.TicketDesk); no keys for another application."""
    revealer = getattr(app, "revealer", None)
    if revealer is None:
        return no_keys
    return cast(Reveal, revealer(e.key_id for e in events if getattr(e, "sealed", None)))


def to_outgoing(
    app: Application,
    notification: Notification,
    event: Any | None = None,
    reveal: Reveal | None = None,
) -> Outgoing:
    """The CloudEvent of a stored event (`event`: it decoded already; `reveal`: its
    key lookup, shared by a batch)."""
    event = event if event is not None else cast(Any, app.mapper.to_domain_event(notification))
    if reveal is None:
        reveal = _revealer(app, [event])
    name, ticket_id = event_name(event), str(event.originator_id)
    payload = build_envelope(
        event_name=name,
        ticket_id=ticket_id,
        version=event.originator_version,
        time=event.timestamp,
        number=event.number,
        sequence=notification.id,
        data=event_data(event, reveal, names=True),
        schema_version=getattr(type(event), "class_version", 1),
        kind=kind_of(notification.topic),
        digest=event_digest(event),
    )
    return Outgoing(
        notification.id,
        f"{ticket_id}:{event.originator_version}",
        event_subject(name, routed_under(event)),
        payload,
    )


def routed_under(event: Any) -> str:
    """The id a subject names: the aggregate's, but a self-service report's article's
    (`tickets.events.ArticleSelfServed.<article_id>`: readers follow an article)."""
    return getattr(event, "article_id", None) or str(event.originator_id)


async def stream_position(js: JetStreamContext) -> tuple[int, int]:
    """(store sequence of the stream's last event, the stream's last message number)."""
    info = await js.stream_info(EVENTS)
    last, first = info.state.last_seq, info.state.first_seq
    for seq in range(last, max(first, 1) - 1, -1):  # the tail may have been deleted
        try:
            msg = await js.get_msg(EVENTS, seq=seq)
        except NotFoundError:
            continue
        return int(json.loads(msg.data or b"{}")["sequence"]), last
    return 0, last


class Relay:
    def __init__(
        self,
        app: Application,
        js: JetStreamContext,
        batch_size: int = 500,
        poll_interval: float = 1.0,
        verify_interval: float = 5.0,
    ) -> None:
        self.app, self.js = app, js
        self.batch_size, self.poll_interval = batch_size, poll_interval
        self.verify_interval = verify_interval  # while idle, its tail is checked this often
        self.republished = 0  # events re-sent because the stream had lost them
        self.position = 0  # store sequence of the last record read (ticket event or not)
        self.on_stream = 0  # store sequence of the last ticket event known on the stream
        self.stream_seq = 0  # the stream's last message number
        self.published = 0
        self.atomic = False  # set by `run` when the stream allows atomic batches
        self._resynced = True  # the position was just read from the stream (start, lost tail)
        self._wake = asyncio.Event()
        self._loop = asyncio.get_running_loop()  # saves in worker threads wake us through it
        self._stopping = False

    def wake(self) -> None:
        """Thread-safe nudge after a save (SQLite has no notifications; polling is the fallback)."""
        self._loop.call_soon_threadsafe(self._wake.set)

    async def run(self) -> None:
        backoff = 0.1
        while True:
            try:
                self.position, self.stream_seq = await stream_position(self.js)
                self.on_stream = self.position
                self.atomic = bool((await self.js.stream_info(EVENTS)).config.allow_atomic)
                self._resynced = True
                log.info("relay resumes after store sequence %d", self.position)
                await self._pump()
                return
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("relay: %s: %s; resyncing from the stream", type(error).__name__, error)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    async def _pump(self) -> None:
        idle_wait = min(self.poll_interval, self.verify_interval)
        while True:
            # Cleared before reading, not after: a save the read does not see wakes the
            # wait below at once (cleared after, its nudge was lost until the next one).
            self._wake.clear()
            # Whether the stream still holds its tail is asked while the store is read
            # (a round trip to the server, off the path of a request's events).
            lost_tail = asyncio.ensure_future(self._stream_lost_tail())
            try:
                outgoing, last_id = await asyncio.to_thread(self._read)
            finally:
                lost = await lost_tail
            if lost:
                continue  # moved back: read again from the stream's last event
            if last_id is not None:
                await self._publish(outgoing)
                self.position = last_id  # also past records that are not ticket events
                continue
            if self._stopping:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), idle_wait)

    async def _stream_lost_tail(self) -> bool:
        """True (and the position moved back) if the stream no longer holds every event
        the relay published: its tail was deleted or the stream purged."""
        if self.stream_seq:
            try:
                await self.js.get_msg(EVENTS, seq=self.stream_seq)
                return False  # the last message published is still there
            except NotFoundError:
                pass
        on_stream, last = await stream_position(self.js)
        self.stream_seq = last
        if on_stream >= self.on_stream:
            return False
        log.warning(
            "relay: the stream lost its tail (its last event is store sequence "
            "%d, published up to %d); re-publishing from the store",
            on_stream,
            self.on_stream,
        )
        self.position = self.on_stream = on_stream
        self._resynced = True
        return True

    def _read(self) -> tuple[list[Outgoing], int | None]:
        """The next ticket events after `position`, and the last store id looked at."""
        notifications = self.app.recorder.select_notifications(
            start=self.position, limit=self.batch_size, inclusive_of_start=False
        )
        published = [n for n in notifications if n.topic in PUBLISHED_TOPICS]
        events = [self.app.mapper.to_domain_event(n) for n in published]
        reveal = _revealer(self.app, events)
        pairs = zip(published, events, strict=True)
        outgoing = [to_outgoing(self.app, n, e, reveal) for n, e in pairs]
        return outgoing, (notifications[-1].id if notifications else None)

    async def _publish(self, batch: Sequence[Outgoing]) -> None:
        if not batch:
            return
        resynced, self._resynced = self._resynced, False
        if self.atomic and len(batch) >= ATOMIC_FROM:
            for start in range(0, len(batch), ATOMIC_MAX):
                part = batch[start : start + ATOMIC_MAX]
                if part and not await self._publish_atomic(part):
                    await self._publish_serially(part)
        elif resynced:  # the stream may remember ids of messages it lost: see each outcome
            await self._publish_serially(batch)
        else:
            await self._publish_pipelined(batch)

    async def _publish_atomic(self, batch: Sequence[Outgoing]) -> bool:
        """One JetStream atomic batch (nats-server 2.12+): all land or none, with one
        disk sync for the whole batch instead of one per event. False: refused whole
        (e.g. a message id seen before); nothing of it was stored."""
        batch_id = uuid.uuid4().hex
        nc = self.js._nc
        for i, out in enumerate(batch, start=1):
            headers = {
                "Nats-Batch-Id": batch_id,
                "Nats-Batch-Sequence": str(i),
                "Nats-Msg-Id": out.msg_id,
            }
            if i == 1:
                headers["Nats-Expected-Last-Sequence"] = str(self.stream_seq)
            if i < len(batch):
                await nc.publish(out.subject, out.payload, headers=headers)
                continue
            headers["Nats-Batch-Commit"] = "1"
            reply = await nc.request(out.subject, out.payload, timeout=ACK_TIMEOUT, headers=headers)
        ack = json.loads(reply.data)
        if "error" in ack:
            log.warning(
                "relay: atomic batch refused (%s); publishing one by one",
                ack["error"].get("description"),
            )
            return False
        self.position, self.stream_seq = batch[-1].sequence, int(ack["seq"])
        self.on_stream = self.position
        self.published += len(batch)
        return True

    async def _publish_pipelined(self, batch: Sequence[Outgoing]) -> None:
        """Many publishes in flight; from the first that did not land as planned (a
        duplicate, an error), the rest go one at a time so each outcome is known.
        Never the first batch after a resync: a message the stream lost but whose id
        it remembers would be refused while the ones after it landed, out of order.

        Only the first message states the expected last sequence: nats-py 2.16 never
        resolves a `publish_async` future whose reply is an API error (its
        `_handle_async_reply` raises instead), so a refused later message would only
        show as a timeout. Order within the batch is the connection's order."""
        futures = []
        for i, out in enumerate(batch):
            headers = self._headers(out, self.stream_seq) if i == 0 else {"Nats-Msg-Id": out.msg_id}
            futures.append(await self.js.publish_async(out.subject, out.payload, headers=headers))
        results = await asyncio.wait_for(
            asyncio.gather(*futures, return_exceptions=True), ACK_TIMEOUT
        )
        done = 0
        for out, result in zip(batch, results, strict=True):
            if isinstance(result, BaseException) or result.duplicate:
                break
            self._landed(out, result.seq)
            done += 1
        await self._publish_serially(batch[done:])

    async def _publish_serially(self, batch: Sequence[Outgoing]) -> None:
        for out in batch:
            ack = await self.js.publish(
                out.subject,
                out.payload,
                timeout=ACK_TIMEOUT,
                headers=self._headers(out, self.stream_seq),
            )
            if not ack.duplicate:
                self._landed(out, ack.seq)
                continue
            on_stream, self.stream_seq = await stream_position(self.js)
            if on_stream >= out.sequence:  # published before, within the dedupe window
                log.warning("relay: %s was published already; not repeated", out.msg_id)
                self.position = self.on_stream = out.sequence
                continue
            # The stream lost it, but dedupe still remembers its id: resend under a new one.
            ack = await self.js.publish(
                out.subject,
                out.payload,
                timeout=ACK_TIMEOUT,
                headers=self._headers(
                    out, self.stream_seq, msg_id=f"{out.msg_id}:r{self.stream_seq}"
                ),
            )
            self._landed(out, ack.seq)
            self.republished += 1

    @staticmethod
    def _headers(out: Outgoing, expected_last: int, msg_id: str | None = None) -> dict[str, str]:
        return {
            "Nats-Msg-Id": msg_id or out.msg_id,
            "Nats-Expected-Last-Sequence": str(expected_last),
        }

    def _landed(self, out: Outgoing, stream_seq: int) -> None:
        self.position, self.stream_seq = out.sequence, stream_seq
        self.on_stream = out.sequence
        self.published += 1

    async def flush(self) -> None:
        """Publish everything stored so far, then stop."""
        self._stopping = True
        self._wake.set()

    def lag(self) -> int:
        return max((self.app.recorder.max_notification_id() or 0) - self.position, 0)
