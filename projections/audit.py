"""The audit trail: every event with who, what, when, and the ticket's status after it.

Auditors page through it by ticket, by actor and by time (the `audit` query). The
data is the stream's, so contact data is masked here as everywhere outside the store.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from domain.personal_data import erased_customer
from infra.readdb import Tx
from projections.base import Projection, event_kind

TABLES = (
    """CREATE TABLE IF NOT EXISTS audit_events (
        sequence BIGINT PRIMARY KEY, ticket_id TEXT NOT NULL, number TEXT,
        version BIGINT NOT NULL, event_type TEXT NOT NULL, actor_id TEXT, actor_role TEXT,
        time TEXT NOT NULL, status_after TEXT, data TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS audit_by_ticket ON audit_events (ticket_id, version)",
    "CREATE INDEX IF NOT EXISTS audit_by_actor ON audit_events (actor_id, time)",
    "CREATE INDEX IF NOT EXISTS audit_by_time ON audit_events (time)",
    """CREATE TABLE IF NOT EXISTS audit_status (
        ticket_id TEXT PRIMARY KEY, status TEXT NOT NULL, assignee TEXT)""",
)


def status_after(status: str, assignee: str | None, kind: str, data: dict) -> str:
    """The ticket's status after an event (docs/contract.md vocabulary), as the aggregate has it."""
    if kind in ("Assigned",):
        return status if status == "waiting_on_customer" else "assigned"
    if kind == "Acknowledged" and status == "assigned":
        return "in_progress"
    if kind == "ProgressUpdated":
        if data.get("waiting_on_customer"):
            return "waiting_on_customer"
        return "in_progress" if assignee else "open"
    if kind == "Closed":
        return "closed"
    if kind == "Reopened":
        return "assigned" if assignee else "open"
    if kind == "Declined":
        return status if status == "waiting_on_customer" else "open"
    if kind == "CustomerReplied" and status == "waiting_on_customer":
        return "in_progress" if assignee else "open"
    return status


class AuditTrail(Projection):
    """A batch's statuses are read at once and kept in memory; its rows are written at
    its end, a few statements a batch."""

    name = "audit"
    tables = TABLES
    table_names = ("audit_events", "audit_status")

    def __init__(self) -> None:
        self._status: dict[str, tuple[str, str | None]] = {}  # ticket -> (status, assignee)
        self._changed: set[str] = set()
        self._rows: list[tuple] = []  # audit_events rows not written yet

    def begin(self, tx: Tx, events: Sequence[dict]) -> None:
        tickets = list({event["subject"] for event in events})
        rows = tx.select_in(
            "SELECT ticket_id, status, assignee FROM audit_status WHERE ticket_id IN", tickets
        )
        self._status = {row[0]: (row[1], row[2]) for row in rows}
        self._changed, self._rows = set(), []

    def apply(self, tx: Tx, event: dict) -> None:
        kind, ticket, data = event_kind(event), event["subject"], event["data"]
        status, assignee = self._status.get(ticket, ("open", None))
        if kind == "Assigned":
            assignee = data["assignee"]
        if kind == "Declined":
            assignee = None
        status = status_after(status, assignee, kind, data)
        self._status[ticket] = (status, assignee)
        self._changed.add(ticket)
        if kind == "PersonalDataErased":
            self._write_events(tx)  # the Received row may be in this batch
            _erase_received(tx, ticket)
        actor = data.get("actor") or {}
        version = int(event["id"].rsplit(":", 1)[1])
        self._rows.append(
            (
                event["sequence"],
                ticket,
                event.get("ticketnumber"),
                version,
                kind,
                actor.get("id"),
                actor.get("role"),
                event["time"],
                status,
                json.dumps({k: v for k, v in data.items() if k != "actor"}, ensure_ascii=False),
            )
        )

    def end(self, tx: Tx) -> None:
        self._write_events(tx)
        tx.executemany(
            "INSERT INTO audit_status (ticket_id, status, assignee) VALUES (?, ?, ?) "
            "ON CONFLICT (ticket_id) DO UPDATE SET status=excluded.status, "
            "assignee=excluded.assignee",
            [(t, *self._status[t]) for t in sorted(self._changed)],
        )
        self._changed.clear()

    def _write_events(self, tx: Tx) -> None:
        if self._rows:
            tx.executemany(
                "INSERT INTO audit_events (sequence, ticket_id, number, version, event_type, "
                "actor_id, actor_role, time, status_after, data) VALUES (?, ?, ?, ?, ?, ?, ?, "
                "?, ?, ?) ON CONFLICT (sequence) DO NOTHING",
                self._rows,
            )
            self._rows = []


def _erase_received(tx: Tx, ticket: str) -> None:
    """The trail keeps the Received event's facts; its personal data reads as erased, as
    in the `history` query."""
    rows = tx.execute(
        "SELECT sequence, data FROM audit_events WHERE ticket_id=? AND event_type='Received'",
        (ticket,),
    ).fetchall()
    for sequence, text in rows:
        data = json.loads(text)
        data.update(
            customer=erased_customer((data.get("customer") or {}).get("customer_id")),
            attachments=[],
        )
        tx.execute(
            "UPDATE audit_events SET data=? WHERE sequence=?",
            (json.dumps(data, ensure_ascii=False), sequence),
        )
