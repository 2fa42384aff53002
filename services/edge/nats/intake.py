"""The intake consumer: TICKETS_INTAKE -> tickets, one store transaction per fetched batch.

A request is acknowledged only after its ticket is stored, so a crash loses nothing
(JetStream redelivers; intake is idempotent). Input that can never succeed goes to
`tickets.dlq.intake` with the reason, is acknowledged, and changes nothing else.

Raw JetStream pull requests (`infra.pulling`), not faststream: faststream 0.7.8's batch
pull keeps fetching until the batch is full or its timeout passes, so at a gentle rate
every request would wait the whole timeout.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from eventsourcing.persistence import InterfaceError, OperationalError
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig
from pydantic import ValidationError

from infra.pulling import pull_forever
from services.application.messages import CHANNELS, MAX_MESSAGE_BYTES, IntakeRequest, reason_of
from services.application.registration import Registrar, Request

log = logging.getLogger("ticketflow.intake")
DLQ_SUBJECT = "tickets.dlq.intake"
MAX_DELIVER = 5  # a valid-looking request that failed this often is dead-lettered
ACK_WAIT = 10.0  # seconds before JetStream redelivers what a crashed instance had fetched


class Rejected(ValueError):
    pass


def parse(msg: Msg, clock_offset: timedelta = timedelta(0)) -> Request:
    """One intake message -> a validated request, or `Rejected` with the reason. The
    arrival time is the stream's, on the service's clock (`up`'s clock offset)."""
    return parse_intake(msg.subject, msg.data, lambda: _arrival(msg) + clock_offset)


def parse_intake(subject: str, data: bytes, arrived_at: Callable[[], datetime]) -> Request:
    """The edge: a subject and raw bytes -> a validated request, or `Rejected` with the
    reason. Pure (tests/fuzz drives it with hostile input); `arrived_at` is asked only
    for a request that validates."""
    channel = subject.removeprefix("tickets.intake.")
    if channel not in CHANNELS:
        raise Rejected(f"unknown channel {channel!r}; use one of {', '.join(CHANNELS)}")
    if len(data) > MAX_MESSAGE_BYTES:
        raise Rejected(f"message is {len(data)} bytes, over {MAX_MESSAGE_BYTES}")
    try:
        document = json.loads(data, object_pairs_hook=_unique_members)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise Rejected(f"bad JSON: {error}") from None
    except RecursionError:
        raise Rejected("bad JSON: nested too deeply") from None
    if not isinstance(document, dict):
        raise Rejected("the message must be a JSON object")
    try:
        body = IntakeRequest.model_validate(document)
    except ValidationError as error:
        raise Rejected(reason_of(error)) from None
    return Request(channel, body, arrived_at())


def _unique_members(pairs: list[tuple[str, object]]) -> dict:
    """A member given twice is ambiguous (JSON parsers differ on which one wins)."""
    document = dict(pairs)
    if len(document) != len(pairs):
        twice = next(key for key, n in Counter(key for key, _ in pairs).items() if n > 1)
        raise Rejected(f"bad JSON: member {twice!r} is given twice")
    return document


def dead_letter_record(subject: str, data: bytes, reason: str) -> bytes:
    """The `tickets.dlq.intake` message: `{"reason", "subject", "payload"}` as UTF-8 JSON.
    The payload is the original text (bytes that are not UTF-8 become U+FFFD)."""
    record = {
        "reason": reason,
        "subject": subject,
        "payload": data.decode("utf-8", errors="replace"),
    }
    return json.dumps(record, ensure_ascii=False).encode("utf-8", errors="backslashreplace")


def _arrival(msg: Msg) -> datetime:
    try:
        stamp = msg.metadata.timestamp
    except (AttributeError, ValueError):
        return datetime.now(UTC)
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


@dataclass
class IntakeStats:
    accepted: int = 0
    rejected: int = 0
    batches: int = 0


class IntakeConsumer:
    def __init__(
        self,
        nc: Client,
        js: JetStreamContext,
        registrar: Registrar,
        durable: str,
        batch_size: int = 500,
        clock_offset: timedelta = timedelta(0),
    ) -> None:
        self.nc, self.js, self.registrar = nc, js, registrar
        self.durable, self.batch_size, self.clock_offset = durable, batch_size, clock_offset
        self.stats = IntakeStats()
        self._stopping = asyncio.Event()

    async def run(self) -> None:
        config = ConsumerConfig(
            ack_policy=AckPolicy.EXPLICIT, ack_wait=ACK_WAIT, max_ack_pending=20_000
        )
        await pull_forever(
            self.js,
            subject="tickets.intake.>",
            durable=self.durable,
            stream="TICKETS_INTAKE",
            config=config,
            batch=self.batch_size,
            stopping=self._stopping,
            handle=self.handle,
            log=log,
        )

    def stop(self) -> None:
        """Finish the batch in hand, then stop consuming."""
        self._stopping.set()

    async def handle(self, msgs: list[Msg]) -> None:
        good: list[tuple[Msg, Request]] = []
        for msg in msgs:
            try:
                good.append((msg, parse(msg, self.clock_offset)))
            except Rejected as error:
                await self._dead_letter(msg, str(error))
        if good:
            await self._store(good)
        self.stats.batches += 1

    async def _store(self, good: list[tuple[Msg, Request]]) -> None:
        """One transaction for the batch. If it fails: while the store is unavailable
        every request waits in the stream (negatively acknowledged, redelivered, never
        dead-lettered for it); otherwise the requests are stored one by one, so only one
        that fails by itself is retried and, after MAX_DELIVER deliveries, dead-lettered."""
        try:
            await asyncio.to_thread(self.registrar.register, [r for _, r in good])
        except Exception as error:
            if store_unavailable(error):
                log.error(
                    "intake: the store is unavailable (%s: %s); %d requests wait",
                    type(error).__name__,
                    error,
                    len(good),
                )
                for msg, _ in good:
                    await msg.nak(delay=2.0)
                return
            if len(good) > 1:
                log.warning(
                    "intake: a batch of %d failed (%s: %s); storing one by one",
                    len(good),
                    type(error).__name__,
                    error,
                )
                for pair in good:
                    await self._store([pair])
                return
            msg = good[0][0]
            log.error("intake: storing %s failed: %s: %s", msg.subject, type(error).__name__, error)
            if _deliveries(msg) >= MAX_DELIVER:
                await self._dead_letter(
                    msg,
                    f"not stored after {MAX_DELIVER} deliveries: {type(error).__name__}: {error}",
                )
            else:
                await msg.nak(delay=1.0)
            return
        for msg, _ in good:
            await msg.ack()
        self.stats.accepted += len(good)
        log.debug("intake: stored a batch of %d", len(good), extra={"batch": len(good)})

    async def _dead_letter(self, msg: Msg, reason: str) -> None:
        await self.js.publish(
            DLQ_SUBJECT,
            dead_letter_record(msg.subject, msg.data, reason),
            headers={"Nats-Msg-Id": f"dlq:{_stream_seq(msg)}"},
        )
        await msg.ack()
        self.stats.rejected += 1
        log.info(
            "intake: rejected %s: %s",
            msg.subject,
            reason,
            extra={"subject": msg.subject, "reason": reason, "stream_seq": _stream_seq(msg)},
        )


def store_unavailable(error: BaseException) -> bool:
    """The database is away or busy (a restart, a lost connection, a lock timeout): the
    request is not at fault."""
    import psycopg  # a dependency; imported here only on this error path

    return isinstance(
        error,
        (
            OperationalError,
            InterfaceError,
            sqlite3.OperationalError,
            ConnectionError,
            psycopg.OperationalError,
            psycopg.InterfaceError,
        ),
    )


def _deliveries(msg: Msg) -> int:
    try:
        return msg.metadata.num_delivered
    except (AttributeError, ValueError):
        return 1


def _stream_seq(msg: Msg) -> str:
    try:
        return str(msg.metadata.sequence.stream)
    except (AttributeError, ValueError):
        return msg.subject + ":" + str(hash(msg.data))
