"""The statistics view (docs/process.md): one row of facts per ticket, and its SLA targets.

A ticket's row holds its number (for the lists behind each figure) and what a report
slices and counts: channel, type, category, priority, the last assignee and their
team, when it was received, first answered (first customer-visible update, or the
first close if earlier) and closed (first and last), its status, how often it was
reopened and escalated, and its last rating.
`services.readside.stats` aggregates the rows on read, because SLA compliance depends on
the moment asked.

SLA targets follow the events as `projections.sla` does, with one addition for
counting: a target started again (`update_every` after a customer-visible update,
`acknowledge` on reassignment, `resolution` and `update_every` on reopening) is a new
instance, and the instance it replaces is judged then and there (`judge`) into the
row's `sla_on_time` / `sla_breached`. A customer-visible update meets `update_every`
(docs/contract.md: "update_every by each customer-visible update"), so a kept cadence counts.

Times are stored as UTC text of one fixed form, so text order is time order on both
databases.
"""

from __future__ import annotations

import json

from domain.ticket import ANSWERED_BY_CUSTOMER_UPDATE, department_target
from infra.readdb import Tx
from projections.base import Projection, event_kind, utc_text

TICKETS, TARGETS = "stats_tickets", "stats_sla_targets"
SELF_SERVICE = "stats_self_service"  # one row per self-service report
# Not a service target: the customer's confirmation window after closing.
NOT_COUNTED = frozenset({"confirmation"})
TABLES = (
    f"""CREATE TABLE IF NOT EXISTS {TICKETS} (
        ticket_id TEXT PRIMARY KEY, channel TEXT, type TEXT, category TEXT, priority TEXT,
        assignee TEXT, team TEXT, status TEXT NOT NULL, paused_at TEXT, received_at TEXT NOT NULL,
        first_response_at TEXT, first_closed_at TEXT, last_closed_at TEXT,
        resolution_seconds DOUBLE PRECISION, reopens BIGINT NOT NULL DEFAULT 0,
        escalations BIGINT NOT NULL DEFAULT 0, score BIGINT,
        sla_on_time BIGINT NOT NULL DEFAULT 0, sla_breached BIGINT NOT NULL DEFAULT 0,
        number TEXT, demand TEXT, mood TEXT, contacts BIGINT NOT NULL DEFAULT 0,
        declines BIGINT NOT NULL DEFAULT 0, dimensions TEXT, rated_at TEXT, batch TEXT,
        policy_version TEXT)""",
    f"CREATE INDEX IF NOT EXISTS {TICKETS}_received ON {TICKETS} (received_at)",
    f"""CREATE TABLE IF NOT EXISTS {TARGETS} (
        ticket_id TEXT NOT NULL, target TEXT NOT NULL, started_at TEXT, due TEXT,
        met_at TEXT, PRIMARY KEY (ticket_id, target))""",
    f"""CREATE TABLE IF NOT EXISTS {SELF_SERVICE} (
        report_id TEXT PRIMARY KEY, article_id TEXT NOT NULL, at TEXT NOT NULL,
        channel TEXT, category TEXT, solved BIGINT NOT NULL)""",
    f"CREATE INDEX IF NOT EXISTS {SELF_SERVICE}_at ON {SELF_SERVICE} (at)",
)


def planned_by(targets: dict) -> str | None:
    """The policy version a plan's targets came from (None: recorded before versions)."""
    return next((t["policy"] for t in targets.values() if t.get("policy")), None)


def judge(due: str | None, met_at: str | None, now: str) -> bool | None:
    """One target instance at `now` (all `utc_text`): True met on or before its due,
    False breached (met after its due, or unmet and past its due), None not judged yet
    (unmet and not yet due, or never started)."""
    if due is None:
        return None
    if met_at is not None:
        return met_at <= due
    return False if due < now else None


class Statistics(Projection):
    name = "stats"
    # 2: the ticket's number (the console's ticket lists); 3: demand, mood, ...;
    # 4: the policy version that set the ticket's targets; 5: self-service reports
    version = 5
    tables = TABLES
    table_names = (TICKETS, TARGETS, SELF_SERVICE)

    def __init__(self, agent_teams: dict[str, str]) -> None:
        self.agent_teams = dict(agent_teams)  # agent id -> team; others have no team

    def apply(self, tx: Tx, event: dict) -> None:
        kind, at = event_kind(event), utc_text(event["time"])
        if kind == "Received":  # the number travels in the envelope, beside the data
            self._Received(tx, event["subject"], event["data"], at, event.get("ticketnumber"))
            return
        if kind == "ArticleSelfServed":  # a consultation answered without a ticket
            data = event["data"]
            tx.execute(
                f"INSERT INTO {SELF_SERVICE} (report_id, article_id, at, channel, category, "
                "solved) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (report_id) DO NOTHING",
                (
                    event["id"],  # the report's own
                    data["article_id"],
                    at,
                    data["channel"],
                    data["category"],
                    int(bool(data["solved"])),
                ),
            )
            return
        handler = getattr(self, f"_{kind}", None)
        if handler:
            handler(tx, event["subject"], event["data"], at)

    # ---- one method per event type that changes the facts ------------------------------

    def _Received(
        self, tx: Tx, ticket: str, data: dict, at: str, number: str | None = None
    ) -> None:
        tx.execute(
            f"INSERT INTO {TICKETS} (ticket_id, number, channel, status, received_at) "
            "VALUES (?, ?, ?, 'open', ?) ON CONFLICT (ticket_id) DO NOTHING",
            (ticket, number, data.get("channel"), utc_text(data.get("received_at")) or at),
        )

    def _ImpactRaised(self, tx: Tx, ticket: str, data: dict, at: str) -> None:
        """Group impact: a new priority and a new plan, type and category unchanged."""
        self._Classified(tx, ticket, {**data, "type": None, "category": None}, at)

    def _Classified(self, tx: Tx, ticket: str, data: dict, at: str) -> None:
        tx.execute(
            f"UPDATE {TICKETS} SET type=COALESCE(?, type), category=COALESCE(?, category), "
            "priority=?, demand=COALESCE(?, demand), mood=COALESCE(?, mood) WHERE ticket_id=?",
            (
                data["type"],
                data["category"],
                data["priority"],
                data.get("demand"),
                data.get("mood"),
                ticket,
            ),
        )
        met = dict(
            tx.execute(
                f"SELECT target, met_at FROM {TARGETS} WHERE ticket_id=? AND met_at IS NOT NULL",
                (ticket,),
            ).fetchall()
        )
        tx.execute(
            f"UPDATE {TICKETS} SET policy_version=? WHERE ticket_id=?",
            (planned_by(data["sla"]), ticket),
        )
        # The plan replaces the targets; running ones keep their start (domain.sla.plan).
        tx.execute(f"DELETE FROM {TARGETS} WHERE ticket_id=?", (ticket,))
        for name, target in data["sla"].items():
            self._put(tx, ticket, name, target, met.get(name))

    def _SlaReplanned(self, tx: Tx, ticket: str, data: dict, at: str) -> None:
        """The running policy applied to an open ticket: a dropped target's instance is
        judged now and goes; the replanned ones start (or run on) under `to_version`."""
        clock = self._clock(tx, ticket, at)
        for name in data["dropped"]:
            old = tx.execute(
                f"SELECT due, met_at, started_at FROM {TARGETS} WHERE ticket_id=? AND target=?",
                (ticket, name),
            ).fetchone()
            if old and old[2] is not None:
                self._count(tx, ticket, judge(old[0], old[1], clock))
            tx.execute(f"DELETE FROM {TARGETS} WHERE ticket_id=? AND target=?", (ticket, name))
        self._start(tx, ticket, data["new"], at)
        tx.execute(
            f"UPDATE {TICKETS} SET policy_version=? WHERE ticket_id=?",
            (data["to_version"], ticket),
        )

    def _Assigned(self, tx: Tx, ticket: str, data: dict, at: str) -> None:
        tx.execute(
            f"UPDATE {TICKETS} SET assignee=?, team=?, status=CASE WHEN "
            "status='waiting_on_customer' THEN status ELSE 'assigned' END "
            "WHERE ticket_id=?",
            (data["assignee"], self.agent_teams.get(data["assignee"]), ticket),
        )
        self._meet(tx, ticket, "assignment", at)
        self._start(tx, ticket, data["sla"], at)

    def _Acknowledged(self, tx: Tx, ticket: str, data: dict, at: str) -> None:
        self._meet(tx, ticket, "acknowledge", at)
        tx.execute(
            f"UPDATE {TICKETS} SET status='in_progress' WHERE ticket_id=? AND status='assigned'",
            (ticket,),
        )

    def _ProgressUpdated(self, tx: Tx, ticket: str, data: dict, at: str) -> None:
        if data["visibility"] == "customer":
            tx.execute(
                f"UPDATE {TICKETS} SET first_response_at=COALESCE(first_response_at, ?) "
                "WHERE ticket_id=?",
                (at, ticket),
            )
            for target in (*ANSWERED_BY_CUSTOMER_UPDATE, "update_every"):
                self._meet(tx, ticket, target, at, running=True)
        self._start(tx, ticket, data["sla"], at)
        if data["waiting_on_customer"]:
            tx.execute(
                f"UPDATE {TICKETS} SET status='waiting_on_customer', "
                "paused_at=COALESCE(paused_at, ?) WHERE ticket_id=?",
                (at, ticket),
            )
            return
        self._resume(tx, ticket)

    @staticmethod
    def _resume(tx: Tx, ticket: str) -> None:
        tx.execute(
            f"UPDATE {TICKETS} SET paused_at=NULL, status=CASE WHEN assignee IS NULL "
            "THEN 'open' ELSE 'in_progress' END WHERE ticket_id=?",
            (ticket,),
        )

    def _CustomerReplied(self, tx: Tx, ticket: str, data: dict, at: str) -> None:
        tx.execute(f"UPDATE {TICKETS} SET contacts=contacts+1 WHERE ticket_id=?", (ticket,))
        self._start(tx, ticket, data["sla"], at)
        waiting = tx.execute(
            f"SELECT 1 FROM {TICKETS} WHERE ticket_id=? AND status='waiting_on_customer'",
            (ticket,),
        ).fetchone()
        if waiting:
            self._resume(tx, ticket)

    def _Declined(self, tx: Tx, ticket: str, data: dict, at: str) -> None:
        tx.execute(
            f"UPDATE {TICKETS} SET assignee=NULL, team=NULL, declines=declines+1, "
            "status=CASE WHEN status='waiting_on_customer' THEN status ELSE 'open' END "
            "WHERE ticket_id=?",
            (ticket,),
        )
        self._start(tx, ticket, data["sla"], at)

    def _SuggestionBatched(self, tx: Tx, ticket: str, data: dict, at: str) -> None:
        tx.execute(f"UPDATE {TICKETS} SET batch=? WHERE ticket_id=?", (data["batch"], ticket))
        self._start(tx, ticket, data["sla"], at)

    def _Analysed(self, tx: Tx, ticket: str, data: dict, at: str) -> None:
        self._meet(tx, ticket, "analysis", at)

    def _DepartmentRequested(self, tx: Tx, ticket: str, data: dict, at: str) -> None:
        self._start(tx, ticket, data["sla"], at)

    def _DepartmentAnswered(self, tx: Tx, ticket: str, data: dict, at: str) -> None:
        self._meet(tx, ticket, department_target(data["request_id"]), at)

    def _Escalated(self, tx: Tx, ticket: str, data: dict, at: str) -> None:
        tx.execute(f"UPDATE {TICKETS} SET escalations=escalations+1 WHERE ticket_id=?", (ticket,))

    def _Closed(self, tx: Tx, ticket: str, data: dict, at: str) -> None:
        tx.execute(
            f"UPDATE {TICKETS} SET status='closed', last_closed_at=?, "
            "first_response_at=COALESCE(first_response_at, ?), "
            "first_closed_at=COALESCE(first_closed_at, ?), "
            "resolution_seconds=COALESCE(resolution_seconds, ?) WHERE ticket_id=?",
            (at, at, at, data.get("handling_seconds"), ticket),
        )
        self._meet(tx, ticket, None, at)  # the final result answers every open target
        self._start(tx, ticket, data.get("sla") or {}, at)
        tx.execute(f"UPDATE {TICKETS} SET paused_at=NULL WHERE ticket_id=?", (ticket,))

    def _Rated(self, tx: Tx, ticket: str, data: dict, at: str) -> None:
        dimensions = json.dumps(data.get("dimensions") or {}, sort_keys=True)
        tx.execute(
            f"UPDATE {TICKETS} SET score=?, dimensions=?, rated_at=? WHERE ticket_id=?",
            (data["score"], dimensions, at, ticket),
        )

    def _Reopened(self, tx: Tx, ticket: str, data: dict, at: str) -> None:
        tx.execute(
            f"UPDATE {TICKETS} SET reopens=reopens+1, status=CASE WHEN assignee IS "
            "NULL THEN 'open' ELSE 'assigned' END WHERE ticket_id=?",
            (ticket,),
        )
        self._start(tx, ticket, data["sla"], at)

    def _FollowedUp(self, tx: Tx, ticket: str, data: dict, at: str) -> None:
        self._meet(tx, ticket, "follow_up", at)

    # ---- targets ----------------------------------------------------------------------
    # While a ticket waits on the customer its SLA clock stands still (as in the `sla`
    # query): a target met or replaced then is judged as of the moment the wait began.

    @staticmethod
    def _clock(tx: Tx, ticket: str, at: str) -> str:
        row = tx.execute(f"SELECT paused_at FROM {TICKETS} WHERE ticket_id=?", (ticket,)).fetchone()
        return row[0] if row and row[0] else at

    def _meet(
        self, tx: Tx, ticket: str, target: str | None, at: str, running: bool = False
    ) -> None:
        """`running`: only a target that has started (a planned one waits)."""
        which = "" if target is None else " AND target=?"
        which += " AND started_at IS NOT NULL" if running else ""
        tx.execute(
            f"UPDATE {TARGETS} SET met_at=? WHERE ticket_id=? AND met_at IS NULL{which}",
            (self._clock(tx, ticket, at), ticket, *([] if target is None else [target])),
        )

    def _start(self, tx: Tx, ticket: str, targets: dict, at: str) -> None:
        """(Re)start targets; a started instance that is replaced is judged now.
        Same start and unmet means the same instance with its due moved (a resumed
        pause, `domain.sla.resume`): nothing to judge yet."""
        at = self._clock(tx, ticket, at)
        for name, target in targets.items():
            if name in NOT_COUNTED:
                continue
            old = tx.execute(
                f"SELECT started_at, due, met_at FROM {TARGETS} WHERE ticket_id=? AND target=?",
                (ticket, name),
            ).fetchone()
            started = utc_text(target.get("started_at"))
            if old and old[0] is not None and (old[2] is not None or old[0] != started):
                self._count(tx, ticket, judge(old[1], old[2], at))
            self._put(tx, ticket, name, target, None)

    @staticmethod
    def _count(tx: Tx, ticket: str, outcome: bool | None) -> None:
        if outcome is None:
            return
        column = "sla_on_time" if outcome else "sla_breached"
        tx.execute(f"UPDATE {TICKETS} SET {column}={column}+1 WHERE ticket_id=?", (ticket,))

    @staticmethod
    def _put(tx: Tx, ticket: str, name: str, target: dict, met_at: str | None) -> None:
        tx.execute(
            f"INSERT INTO {TARGETS} (ticket_id, target, started_at, due, met_at) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (ticket_id, target) DO UPDATE SET "
            "started_at=excluded.started_at, due=excluded.due, met_at=excluded.met_at",
            (ticket, name, utc_text(target.get("started_at")), utc_text(target.get("due")), met_at),
        )
