"""Stored events written by an earlier version still load: topics resolve, fields map,
the hash chain holds. The golden files are never regenerated (see make_golden.py and
make_article_golden.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from eventsourcing.persistence import StoredEvent

from domain.article import article_id_for
from domain.ticket import digest_of, event_digest, ticket_id_for
from infra.policy_file import load_policy
from services.application.desk import TicketDesk

GOLDEN = Path(__file__).parents[1] / "fixtures" / "events"


@pytest.fixture(scope="module")
def mapper():
    return TicketDesk(load_policy(), {"PERSISTENCE_MODULE": "eventsourcing.popo"}).mapper


@pytest.mark.parametrize("golden", sorted(GOLDEN.glob("v*.json")), ids=lambda p: p.stem)
def test_golden_events_replay_to_the_ticket_they_described(mapper, golden: Path) -> None:
    ticket_id = ticket_id_for("email", "golden-1")
    records = json.loads(golden.read_text())
    events = [
        mapper.to_domain_event(
            StoredEvent(
                originator_id=ticket_id,
                originator_version=record["originator_version"],
                topic=record["topic"],
                state=json.dumps(record["state"]).encode(),
            )
        )
        for record in records
    ]
    ticket = None
    for event in events:
        ticket = event.mutate(ticket)
    assert ticket is not None
    assert (ticket.status, ticket.assignee, ticket.score, ticket.reopen_count) == (
        "assigned",
        "A007",
        2,
        1,
    )
    assert ticket.sla["first_response"]["met_at"] is not None
    # The chain holds over the events as recorded (Closed was v1 then; it is upcast now).
    recorded = [
        digest_of(
            type(e).__name__,
            {
                **mapper.transcoder.decode(json.dumps(r["state"]).encode()),
                "originator_id": ticket_id,
                "originator_version": r["originator_version"],
            },
        )
        for e, r in zip(events, records, strict=True)
    ]
    assert [e.prev for e in events[1:]] == recorded[:-1]
    assert type(events[6]).__name__ == "Closed" and events[6].sla == {}  # upcast v1 -> v2


def test_a_golden_article_replays_every_version_and_its_chain_holds(mapper) -> None:
    article_id = article_id_for("KB0001")
    records = json.loads((GOLDEN / "article-v1.json").read_text())
    events = [
        mapper.to_domain_event(
            StoredEvent(
                originator_id=article_id,
                originator_version=r["originator_version"],
                topic=r["topic"],
                state=json.dumps(r["state"]).encode(),
            )
        )
        for r in records
    ]
    article = None
    for event in events:
        article = event.mutate(article)
    assert article is not None and article.status == "retired"
    assert [v["version"] for v in article.versions] == [1, 2]
    assert article.version_of(1)["body"] == "请点击“忘记密码”重置密码后再登录。"
    assert [e.prev for e in events[1:]] == [event_digest(e) for e in events[:-1]]
