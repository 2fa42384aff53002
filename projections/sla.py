"""The SLA view: per ticket, each target with its due time, when it was met, and the
intervals the ticket waited on the customer.

It follows the events exactly as the Ticket aggregate does (the due instants
themselves are worked out by the application and travel in the events' `sla` data),
so the view and the `ticket` query agree. States (`on_track`, `at_risk`, `breached`,
`met`) depend on the moment asked, so `services.readside.sla` computes them on read.
"""

from __future__ import annotations

import json

from infra.readdb import Tx
from projections.base import Projection, event_kind

TABLES = (
    """CREATE TABLE IF NOT EXISTS sla_tickets (
        ticket_id TEXT PRIMARY KEY, number TEXT, status TEXT, type TEXT, priority TEXT,
        assignee TEXT, paused_at TEXT, closed_at TEXT)""",
    """CREATE TABLE IF NOT EXISTS sla_targets (
        ticket_id TEXT NOT NULL, target TEXT NOT NULL, clock TEXT, duration TEXT,
        started_at TEXT, due TEXT, met_at TEXT, escalations TEXT NOT NULL DEFAULT '[]',
        PRIMARY KEY (ticket_id, target))""",
    """CREATE TABLE IF NOT EXISTS sla_pauses (
        ticket_id TEXT NOT NULL, started_at TEXT NOT NULL, ended_at TEXT,
        PRIMARY KEY (ticket_id, started_at))""",
)


class SlaView(Projection):
    name = "sla"
    tables = TABLES
    table_names = ("sla_tickets", "sla_targets", "sla_pauses")

    def apply(self, tx: Tx, event: dict) -> None:
        kind, ticket, data, at = event_kind(event), event["subject"], event["data"], event["time"]
        if kind == "Received":
            tx.execute(
                "INSERT INTO sla_tickets (ticket_id, number, status) VALUES (?, ?, ?) "
                "ON CONFLICT (ticket_id) DO NOTHING",
                (ticket, event.get("ticketnumber"), "open"),
            )
            return
        handler = getattr(self, f"_{kind}", None)
        if handler:
            handler(tx, ticket, data, at)

    # ---- one method per event type that changes targets -------------------------------

    def _Classified(self, tx: Tx, ticket: str, data: dict, at: str) -> None:
        kept = {
            row[0]: row[1]
            for row in tx.execute(
                "SELECT target, met_at FROM sla_targets WHERE ticket_id=? AND met_at IS NOT NULL",
                (ticket,),
            ).fetchall()
        }
        tx.execute("DELETE FROM sla_targets WHERE ticket_id=?", (ticket,))
        self._start(tx, ticket, data["sla"])
        for target, met_at in kept.items():
            tx.execute(
                "UPDATE sla_targets SET met_at=? WHERE ticket_id=? AND target=?",
                (met_at, ticket, target),
            )
        tx.execute(
            "UPDATE sla_tickets SET type=COALESCE(?, type), priority=? WHERE ticket_id=?",
            (data["type"], data["priority"], ticket),
        )

    def _ImpactRaised(self, tx: Tx, ticket: str, data: dict, at: str) -> None:
        self._Classified(tx, ticket, {**data, "type": None}, at)

    def _Assigned(self, tx: Tx, ticket: str, data: dict, at: str) -> None:
        self._meet(tx, ticket, "assignment", at)
        self._start(tx, ticket, data["sla"])
        tx.execute(
            "UPDATE sla_tickets SET assignee=?, status=CASE WHEN status="
            "'waiting_on_customer' THEN status ELSE 'assigned' END WHERE ticket_id=?",
            (data["assignee"], ticket),
        )

    def _Acknowledged(self, tx: Tx, ticket: str, data: dict, at: str) -> None:
        self._meet(tx, ticket, "acknowledge", at)
        tx.execute(
            "UPDATE sla_tickets SET status='in_progress' WHERE ticket_id=? AND status='assigned'",
            (ticket,),
        )

    def _ProgressUpdated(self, tx: Tx, ticket: str, data: dict, at: str) -> None:
        if data["visibility"] == "customer":
            self._meet(tx, ticket, "first_response", at)
        self._start(tx, ticket, data["sla"])
        if data["waiting_on_customer"]:  # a pause begins with the first waiting update
            tx.execute(
                "UPDATE sla_tickets SET paused_at=COALESCE(paused_at, ?), "
                "status='waiting_on_customer' WHERE ticket_id=?",
                (at, ticket),
            )
            tx.execute(
                "INSERT INTO sla_pauses (ticket_id, started_at) SELECT ?, ? WHERE NOT "
                "EXISTS (SELECT 1 FROM sla_pauses WHERE ticket_id=? AND ended_at IS NULL)",
                (ticket, at, ticket),
            )
        else:
            tx.execute(
                "UPDATE sla_pauses SET ended_at=? WHERE ticket_id=? AND ended_at IS NULL",
                (at, ticket),
            )
            tx.execute(
                "UPDATE sla_tickets SET paused_at=NULL, status=CASE WHEN assignee IS NULL "
                "THEN 'open' ELSE 'in_progress' END WHERE ticket_id=?",
                (ticket,),
            )

    def _Escalated(self, tx: Tx, ticket: str, data: dict, at: str) -> None:
        if not data.get("target"):
            return
        row = tx.execute(
            "SELECT escalations FROM sla_targets WHERE ticket_id=? AND target=?",
            (ticket, data["target"]),
        ).fetchone()
        if row:
            done = [*json.loads(row[0]), {"level": data["level"], "at": at}]
            tx.execute(
                "UPDATE sla_targets SET escalations=? WHERE ticket_id=? AND target=?",
                (json.dumps(done), ticket, data["target"]),
            )

    def _Closed(self, tx: Tx, ticket: str, data: dict, at: str) -> None:
        tx.execute(
            "UPDATE sla_targets SET met_at=? WHERE ticket_id=? AND met_at IS NULL", (at, ticket)
        )
        tx.execute(
            "UPDATE sla_pauses SET ended_at=? WHERE ticket_id=? AND ended_at IS NULL", (at, ticket)
        )
        tx.execute(
            "UPDATE sla_tickets SET status='closed', closed_at=?, paused_at=NULL WHERE ticket_id=?",
            (at, ticket),
        )
        self._start(tx, ticket, data.get("sla") or {})

    def _Reopened(self, tx: Tx, ticket: str, data: dict, at: str) -> None:
        tx.execute("DELETE FROM sla_targets WHERE ticket_id=? AND target='follow_up'", (ticket,))
        self._start(tx, ticket, data["sla"])
        tx.execute(
            "UPDATE sla_tickets SET closed_at=NULL, status=CASE WHEN assignee IS NULL "
            "THEN 'open' ELSE 'assigned' END WHERE ticket_id=?",
            (ticket,),
        )

    def _FollowedUp(self, tx: Tx, ticket: str, data: dict, at: str) -> None:
        self._meet(tx, ticket, "follow_up", at)

    # ---- helpers -----------------------------------------------------------------------

    @staticmethod
    def _meet(tx: Tx, ticket: str, target: str, at: str) -> None:
        tx.execute(
            "UPDATE sla_targets SET met_at=? WHERE ticket_id=? AND target=? AND met_at IS NULL",
            (at, ticket, target),
        )

    @staticmethod
    def _start(tx: Tx, ticket: str, targets: dict) -> None:
        for name, t in targets.items():
            tx.execute(
                "INSERT INTO sla_targets (ticket_id, target, clock, duration, started_at, due, "
                "met_at) VALUES (?, ?, ?, ?, ?, ?, NULL) ON CONFLICT (ticket_id, target) DO "
                "UPDATE SET clock=excluded.clock, duration=excluded.duration, "
                "started_at=excluded.started_at, due=excluded.due, met_at=NULL, escalations='[]'",
                (ticket, name, t["clock"], t["duration"], t.get("started_at"), t.get("due")),
            )
