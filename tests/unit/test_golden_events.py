"""Stored events written by an earlier version still load: topics resolve, fields map,
the hash chain holds. The golden file is never regenerated (see make_golden.py)."""

from __future__ import annotations

import json
from itertools import pairwise
from pathlib import Path

import pytest
from eventsourcing.persistence import StoredEvent

from domain.ticket import event_digest, ticket_id_for
from infra.policy_file import load_policy
from services.desk import TicketDesk

GOLDEN = Path(__file__).parents[1] / "fixtures" / "events"


@pytest.fixture(scope="module")
def mapper():
    return TicketDesk(load_policy(), {"PERSISTENCE_MODULE": "eventsourcing.popo"}).mapper


@pytest.mark.parametrize("golden", sorted(GOLDEN.glob("v*.json")), ids=lambda p: p.stem)
def test_golden_events_replay_to_the_ticket_they_described(mapper, golden: Path) -> None:
    ticket_id = ticket_id_for("email", "golden-1")
    events = [
        mapper.to_domain_event(StoredEvent(
            originator_id=ticket_id, originator_version=record["originator_version"],
            topic=record["topic"], state=json.dumps(record["state"]).encode()))
        for record in json.loads(golden.read_text())
    ]
    ticket = None
    for event in events:
        ticket = event.mutate(ticket)
    assert ticket is not None
    assert (ticket.status, ticket.assignee, ticket.score, ticket.reopen_count) == (
        "assigned", "A007", 2, 1)
    assert ticket.sla["first_response"]["met_at"] is not None
    assert all(after.prev == event_digest(before) for before, after in pairwise(events))
