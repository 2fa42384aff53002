"""The SLA view: per ticket, each target with its due time, when it was met, and the
intervals the ticket waited on the customer.

It follows the events exactly as the Ticket aggregate does (the due instants
themselves are worked out by the application and travel in the events' `sla` data),
so the view and the `ticket` query agree. States (`on_track`, `at_risk`, `breached`,
`met`) depend on the moment asked, so `services.readside.sla` computes them on read.

The view is also the queue board's read model: per ticket its channel, the first line
of its request (masked, as the stream carries it), classification, impact, the teams
whose queue holds it, and its next due target. So that the board can count and filter
10,000 open tickets in SQL, each target keeps the instant it becomes at risk
(`at_risk_at`, on the policy's calendar) and each ticket the soonest of its open
targets' due and at-risk instants (`next_due`, `next_at_risk`) and whether a target
was met late (`late`). These are `utc_text` so that text order is time order.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from domain.calendar import BusinessCalendar, CalendarConfig
from domain.sla import AT_RISK_SHARE, at_risk_from
from domain.team_scope import Member, ticket_teams
from domain.ticket import AFTER_CLOSING, ANSWERED_BY_CUSTOMER_UPDATE, department_target
from infra.readdb import Tx
from projections.base import Projection, event_kind, parse_time, utc_text

SUMMARY_CHARS = 120  # the board shows the first line of a request, up to this long
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # PostgreSQL refuses NUL in TEXT

TABLES = (
    """CREATE TABLE IF NOT EXISTS sla_tickets (
        ticket_id TEXT PRIMARY KEY, number TEXT, status TEXT, type TEXT, priority TEXT,
        assignee TEXT, paused_at TEXT, closed_at TEXT, channel TEXT, summary TEXT,
        category TEXT, impact TEXT, teams TEXT NOT NULL DEFAULT '', received_at TEXT,
        next_target TEXT, next_due TEXT, next_at_risk TEXT, paused_utc TEXT,
        late BIGINT NOT NULL DEFAULT 0)""",
    """CREATE TABLE IF NOT EXISTS sla_targets (
        ticket_id TEXT NOT NULL, target TEXT NOT NULL, clock TEXT, duration TEXT,
        started_at TEXT, due TEXT, met_at TEXT, escalations TEXT NOT NULL DEFAULT '[]',
        at_risk_at TEXT, PRIMARY KEY (ticket_id, target))""",
    """CREATE TABLE IF NOT EXISTS sla_pauses (
        ticket_id TEXT NOT NULL, started_at TEXT NOT NULL, ended_at TEXT,
        PRIMARY KEY (ticket_id, started_at))""",
    "CREATE INDEX IF NOT EXISTS sla_tickets_board ON sla_tickets (closed_at, next_due)",
)


def summary_of(subject: str | None, content: str | None) -> str:
    """The first line of a request: its subject, else the first non-empty line."""
    text = subject or content or ""
    lines = [CONTROL.sub(" ", line).strip() for line in text.splitlines()]
    first = next((line for line in lines if line), "")
    return first if len(first) <= SUMMARY_CHARS else first[: SUMMARY_CHARS - 1] + "…"


class SlaView(Projection):
    name = "sla"
    version = 3  # 2: the board's columns; 3: replies, departments, confirmation
    tables = TABLES
    table_names = ("sla_tickets", "sla_targets", "sla_pauses")

    def __init__(
        self,
        calendar: BusinessCalendar | None = None,
        agents: Sequence[Member] = (),
        at_risk_share: float = AT_RISK_SHARE,
    ) -> None:
        self.calendar = calendar or BusinessCalendar.from_config(CalendarConfig())
        self.agents = agents
        self.share = at_risk_share
        # Each target's at-risk instant is stored: another share rebuilds the view.
        self.version = 3 if at_risk_share == AT_RISK_SHARE else 3000 + round(at_risk_share * 1000)

    def apply(self, tx: Tx, event: dict) -> None:
        kind, ticket, data, at = event_kind(event), event["subject"], event["data"], event["time"]
        if kind == "Received":
            summary = summary_of(data.get("subject"), data.get("content"))
            tx.execute(
                "INSERT INTO sla_tickets (ticket_id, number, status, channel, summary, "
                "received_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (ticket_id) DO NOTHING",
                (ticket, event.get("ticketnumber"), "open", data.get("channel"), summary, at),
            )
            self._teams(tx, ticket)
            return
        handler = getattr(self, f"_{kind}", None)
        if handler:
            handler(tx, ticket, data, at)
            self._refresh(tx, ticket)

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
            "UPDATE sla_tickets SET type=COALESCE(?, type), category=COALESCE(?, category), "
            "priority=?, impact=? WHERE ticket_id=?",
            (data["type"], data.get("category"), data["priority"], data.get("impact"), ticket),
        )
        self._teams(tx, ticket)

    def _ImpactRaised(self, tx: Tx, ticket: str, data: dict, at: str) -> None:
        self._Classified(tx, ticket, {**data, "type": None}, at)

    def _SlaReplanned(self, tx: Tx, ticket: str, data: dict, at: str) -> None:
        """The running policy applied: dropped targets go (their escalations with them),
        the replanned ones run on; settled targets were not touched."""
        for name in data["dropped"]:
            tx.execute("DELETE FROM sla_targets WHERE ticket_id=? AND target=?", (ticket, name))
        self._start(tx, ticket, data["new"])

    def _Assigned(self, tx: Tx, ticket: str, data: dict, at: str) -> None:
        self._meet(tx, ticket, "assignment", at)
        self._start(tx, ticket, data["sla"])
        tx.execute(
            "UPDATE sla_tickets SET assignee=?, status=CASE WHEN status="
            "'waiting_on_customer' THEN status ELSE 'assigned' END WHERE ticket_id=?",
            (data["assignee"], ticket),
        )
        self._teams(tx, ticket)

    def _Acknowledged(self, tx: Tx, ticket: str, data: dict, at: str) -> None:
        self._meet(tx, ticket, "acknowledge", at)
        tx.execute(
            "UPDATE sla_tickets SET status='in_progress' WHERE ticket_id=? AND status='assigned'",
            (ticket,),
        )

    def _ProgressUpdated(self, tx: Tx, ticket: str, data: dict, at: str) -> None:
        if data["visibility"] == "customer":
            for target in ANSWERED_BY_CUSTOMER_UPDATE:
                self._meet(tx, ticket, target, at, running=True)
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
            self._end_pause(tx, ticket, at)

    def _CustomerReplied(self, tx: Tx, ticket: str, data: dict, at: str) -> None:
        self._start(tx, ticket, data["sla"])
        paused = tx.execute(
            "SELECT 1 FROM sla_tickets WHERE ticket_id=? AND status='waiting_on_customer'",
            (ticket,),
        ).fetchone()
        if paused:
            self._end_pause(tx, ticket, at)

    @staticmethod
    def _end_pause(tx: Tx, ticket: str, at: str) -> None:
        tx.execute(
            "UPDATE sla_pauses SET ended_at=? WHERE ticket_id=? AND ended_at IS NULL", (at, ticket)
        )
        tx.execute(
            "UPDATE sla_tickets SET paused_at=NULL, status=CASE WHEN assignee IS NULL "
            "THEN 'open' ELSE 'in_progress' END WHERE ticket_id=?",
            (ticket,),
        )

    def _Declined(self, tx: Tx, ticket: str, data: dict, at: str) -> None:
        self._start(tx, ticket, data["sla"])
        tx.execute(
            "UPDATE sla_tickets SET assignee=NULL, status=CASE WHEN status="
            "'waiting_on_customer' THEN status ELSE 'open' END WHERE ticket_id=?",
            (ticket,),
        )
        self._teams(tx, ticket)

    def _DepartmentRequested(self, tx: Tx, ticket: str, data: dict, at: str) -> None:
        self._start(tx, ticket, data["sla"])

    def _DepartmentAnswered(self, tx: Tx, ticket: str, data: dict, at: str) -> None:
        self._meet(tx, ticket, department_target(data["request_id"]), at)

    def _SuggestionBatched(self, tx: Tx, ticket: str, data: dict, at: str) -> None:
        self._start(tx, ticket, data["sla"])

    def _Analysed(self, tx: Tx, ticket: str, data: dict, at: str) -> None:
        self._meet(tx, ticket, "analysis", at)

    def _Confirmed(self, tx: Tx, ticket: str, data: dict, at: str) -> None:
        self._meet(tx, ticket, "confirmation", at)

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
        for target in AFTER_CLOSING:
            tx.execute("DELETE FROM sla_targets WHERE ticket_id=? AND target=?", (ticket, target))
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
    def _meet(tx: Tx, ticket: str, target: str, at: str, running: bool = False) -> None:
        """`running`: only a target that has started (a planned one waits)."""
        started = " AND started_at IS NOT NULL" if running else ""
        tx.execute(
            "UPDATE sla_targets SET met_at=? WHERE ticket_id=? AND target=? AND met_at IS NULL"
            + started,
            (at, ticket, target),
        )

    def _start(self, tx: Tx, ticket: str, targets: dict) -> None:
        for name, t in targets.items():
            at_risk = at_risk_from(
                {
                    "clock": t["clock"],
                    "started_at": parse_time(t.get("started_at")),
                    "due": parse_time(t.get("due")),
                },
                self.calendar,
                self.share,
            )
            tx.execute(
                "INSERT INTO sla_targets (ticket_id, target, clock, duration, started_at, due, "
                "met_at, at_risk_at) VALUES (?, ?, ?, ?, ?, ?, NULL, ?) ON CONFLICT "
                "(ticket_id, target) DO UPDATE SET clock=excluded.clock, "
                "duration=excluded.duration, started_at=excluded.started_at, due=excluded.due, "
                "met_at=NULL, escalations='[]', at_risk_at=excluded.at_risk_at",
                (
                    ticket,
                    name,
                    t["clock"],
                    t["duration"],
                    t.get("started_at"),
                    t.get("due"),
                    utc_text(at_risk),
                ),
            )

    def _teams(self, tx: Tx, ticket: str) -> None:
        """The teams whose queue holds the ticket, as `,a,b,` ('' for the shared queue)."""
        row = tx.execute(
            "SELECT assignee, type, category FROM sla_tickets WHERE ticket_id=?", (ticket,)
        ).fetchone()
        if row is None:
            return
        teams = ticket_teams(self.agents, assignee=row[0], type=row[1], category=row[2])
        text = "," + ",".join(sorted(teams)) + "," if teams else ""
        tx.execute("UPDATE sla_tickets SET teams=? WHERE ticket_id=?", (text, ticket))

    @staticmethod
    def _refresh(tx: Tx, ticket: str) -> None:
        """The ticket's next due target, its soonest at-risk instant, and lateness."""
        targets = tx.execute(
            "SELECT target, due, at_risk_at, met_at FROM sla_targets WHERE ticket_id=? "
            "AND due IS NOT NULL",
            (ticket,),
        ).fetchall()
        running = sorted(
            (utc_text(due), target, risk) for target, due, risk, met in targets if not met
        )
        late = any(met and utc_text(met) > utc_text(due) for _, due, _, met in targets)
        paused = tx.execute(
            "SELECT paused_at FROM sla_tickets WHERE ticket_id=?", (ticket,)
        ).fetchone()
        risks = [risk for _, _, risk in running if risk]
        tx.execute(
            "UPDATE sla_tickets SET next_target=?, next_due=?, next_at_risk=?, late=?, "
            "paused_utc=? WHERE ticket_id=?",
            (
                running[0][1] if running else None,
                running[0][0] if running else None,
                min(risks) if risks else None,
                int(late),
                utc_text(paused[0]) if paused else None,
                ticket,
            ),
        )
