"""When storing a batch of intake requests fails: who waits, who is retried, who is
dead-lettered. A database that is away is never the request's fault."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from types import SimpleNamespace

from services.edge.nats.intake import MAX_DELIVER, IntakeConsumer


class FakeMsg:
    def __init__(self, external_id: str, delivered: int = 1) -> None:
        self.subject = "tickets.intake.web"
        self.data = json.dumps({"external_id": external_id, "content": "refund please"}).encode()
        self.metadata = SimpleNamespace(
            num_delivered=delivered,
            sequence=SimpleNamespace(stream=hash(external_id)),
            timestamp=datetime(2026, 11, 24, tzinfo=UTC),
        )
        self.outcome = ""

    async def ack(self) -> None:
        self.outcome = "ack"

    async def nak(self, delay: float | None = None) -> None:
        self.outcome = "nak"


class Registrar:
    """Stores requests unless one of them is `poison`, or the database is down."""

    def __init__(self, down: bool = False) -> None:
        self.down, self.stored = down, []

    def register(self, requests):
        if self.down:
            raise sqlite3.OperationalError("database is locked")
        if any(r.body.external_id == "poison" for r in requests):
            raise ValueError("cannot store this one")
        self.stored.extend(r.body.external_id for r in requests)


class JetStream:
    def __init__(self) -> None:
        self.dead = []

    async def publish(self, subject, payload, headers=None):
        self.dead.append(json.loads(payload))


def consumer(registrar: Registrar) -> tuple[IntakeConsumer, JetStream]:
    js = JetStream()
    return IntakeConsumer(None, js, registrar, durable="test"), js  # type: ignore[arg-type]


async def test_one_failing_request_does_not_hold_back_the_rest_of_its_batch() -> None:
    registrar = Registrar()
    intake, js = consumer(registrar)
    msgs = [FakeMsg("a"), FakeMsg("poison"), FakeMsg("b")]
    await intake.handle(msgs)  # type: ignore[arg-type]
    assert registrar.stored == ["a", "b"]
    assert [m.outcome for m in msgs] == ["ack", "nak", "ack"]
    assert js.dead == []  # retried first


async def test_a_request_failing_by_itself_is_dead_lettered_after_max_deliveries() -> None:
    intake, js = consumer(Registrar())
    poison = FakeMsg("poison", delivered=MAX_DELIVER)
    await intake.handle([poison, FakeMsg("c")])  # type: ignore[list-item]
    assert poison.outcome == "ack" and len(js.dead) == 1
    assert "not stored after" in js.dead[0]["reason"]


async def test_while_the_store_is_away_every_request_waits_and_none_is_dead_lettered() -> None:
    intake, js = consumer(Registrar(down=True))
    msgs = [FakeMsg("a", delivered=50), FakeMsg("b", delivered=50)]
    await intake.handle(msgs)  # type: ignore[arg-type]
    assert [m.outcome for m in msgs] == ["nak", "nak"] and js.dead == []
