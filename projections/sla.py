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

A batch of events is applied in memory: `begin` reads the rows of the batch's tickets
(their ticket row, targets and open pauses) in a few statements, each event changes
those rows as plain Python objects, and `end` writes back only the rows that changed,
a few `executemany` statements a batch instead of several statements an event.
"""

from __future__ import annotations

import json
import operator
import re
from collections.abc import Sequence
from typing import NamedTuple

from domain.calendar import BusinessCalendar, CalendarConfig
from domain.sla import AT_RISK_SHARE, at_risk_from
from domain.team_scope import Member, ticket_teams
from domain.ticket import AFTER_CLOSING, ANSWERED_BY_CUSTOMER_UPDATE, department_target
from infra.readdb import Tx
from projections.base import Projection, event_kind, parse_time, utc_text, utc_text_remembered

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


# ---- the rows a batch holds in memory ----------------------------------------------------

_TICKET_COLUMNS = (
    "ticket_id", "number", "status", "type", "priority", "assignee", "paused_at", "closed_at",
    "channel", "summary", "category", "impact", "teams", "received_at", "next_target",
    "next_due", "next_at_risk", "paused_utc", "late",
)  # fmt: skip


class _TicketRow:
    """One `sla_tickets` row, changed in place."""

    __slots__ = _TICKET_COLUMNS

    def __init__(self, row: Sequence) -> None:
        (
            self.ticket_id, self.number, self.status, self.type, self.priority, self.assignee,
            self.paused_at, self.closed_at, self.channel, self.summary, self.category,
            self.impact, self.teams, self.received_at, self.next_target, self.next_due,
            self.next_at_risk, self.paused_utc, self.late,
        ) = row  # fmt: skip

    @classmethod
    def received(
        cls, ticket: str, number: str | None, channel: str | None, summary: str, at: str
    ) -> _TicketRow:
        """The row a first `Received` inserts (the other columns at their defaults)."""
        row = dict.fromkeys(_TICKET_COLUMNS)
        row.update(
            ticket_id=ticket, number=number, status="open", channel=channel,
            summary=summary, received_at=at, teams="", late=0,
        )  # fmt: skip
        return cls(tuple(row.values()))

    def values(self) -> tuple:
        """The row in column order."""
        return _ticket_values(self)


_ticket_values = operator.attrgetter(*_TICKET_COLUMNS)


class _Target(NamedTuple):
    """One `sla_targets` row; a change makes a new one (`_replace`)."""

    ticket_id: str
    target: str
    clock: str | None
    duration: str | None
    started_at: str | None
    due: str | None
    met_at: str | None
    escalations: str
    at_risk_at: str | None


class _Pause:
    """One `sla_pauses` row; `stored`: it was in the table when the batch began."""

    __slots__ = ("ended_at", "started_at", "stored", "ticket_id")

    def __init__(self, ticket_id: str, started_at: str, stored: bool) -> None:
        self.ticket_id, self.started_at, self.stored = ticket_id, started_at, stored
        self.ended_at: str | None = None


class _Held:
    """What a batch holds of one ticket: its row (None while it has none), its targets
    by name and its open pauses, and its rows as stored when the batch began (to write
    back only what changed). `stale`: an event changed it since its board columns (next
    target, lateness, ...) were worked out."""

    __slots__ = (
        "open_pauses", "row", "stale", "stored_row", "stored_targets", "targets", "ticket_id",
    )  # fmt: skip

    def __init__(self, ticket_id: str) -> None:
        self.ticket_id = ticket_id
        self.row: _TicketRow | None = None
        self.stored_row: tuple | None = None
        self.targets: dict[str, _Target] = {}
        self.stored_targets: dict[str, _Target] = {}
        self.open_pauses: tuple[_Pause, ...] = ()  # one at most, as the events go
        self.stale = False


_utc = utc_text_remembered


def _placeholders(count: int) -> str:
    return ", ".join("?" * count)


_SELECT_TICKETS = f"SELECT {', '.join(_TICKET_COLUMNS)} FROM sla_tickets WHERE ticket_id IN"
_SELECT_TARGETS = f"SELECT {', '.join(_Target._fields)} FROM sla_targets WHERE ticket_id IN"
_SELECT_OPEN_PAUSES = (
    "SELECT ticket_id, started_at FROM sla_pauses WHERE ended_at IS NULL AND ticket_id IN"
)
_UPSERT_TICKET = (
    f"INSERT INTO sla_tickets ({', '.join(_TICKET_COLUMNS)}) VALUES "
    f"({_placeholders(len(_TICKET_COLUMNS))}) ON CONFLICT (ticket_id) DO UPDATE SET "
    + ", ".join(f"{column}=excluded.{column}" for column in _TICKET_COLUMNS[1:])
)
_UPSERT_TARGET = (
    f"INSERT INTO sla_targets ({', '.join(_Target._fields)}) VALUES "
    f"({_placeholders(len(_Target._fields))}) ON CONFLICT (ticket_id, target) DO UPDATE SET "
    + ", ".join(f"{column}=excluded.{column}" for column in _Target._fields[2:])
)
_DELETE_TARGET = "DELETE FROM sla_targets WHERE ticket_id=? AND target=?"
_END_PAUSE = "UPDATE sla_pauses SET ended_at=? WHERE ticket_id=? AND started_at=?"
_INSERT_PAUSE = "INSERT INTO sla_pauses (ticket_id, started_at, ended_at) VALUES (?, ?, ?)"


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
        self._held: dict[str, _Held] = {}  # the batch's tickets, by id
        self._new_pauses: list[_Pause] = []  # begun in this batch, in order
        self._ended_pauses: list[_Pause] = []  # stored open, ended in this batch

    # ---- a batch: read its tickets, apply in memory, write back what changed ---------------

    def begin(self, tx: Tx, events: Sequence[dict]) -> None:
        """Read the batch's tickets (what an earlier batch left in memory is gone)."""
        self._forget()
        self._load(tx, list(dict.fromkeys(event["subject"] for event in events)))

    def end(self, tx: Tx) -> None:
        """Work out the changed tickets' board columns; write back the rows that changed."""
        removed_targets: list[tuple] = []
        targets: list[tuple] = []
        tickets: list[tuple] = []
        for ticket, held in self._held.items():
            if held.row is not None:
                if held.stale:
                    self._refresh(held.row, held.targets)
                row = held.row.values()
                if row != held.stored_row:
                    tickets.append(row)
            stored = held.stored_targets
            for name in stored.keys() - held.targets.keys():
                removed_targets.append((ticket, name))
            for name, target in held.targets.items():
                if target != stored.get(name):
                    targets.append(target)
        ended = [(p.ended_at, p.ticket_id, p.started_at) for p in self._ended_pauses]
        begun = [(p.ticket_id, p.started_at, p.ended_at) for p in self._new_pauses]
        for sql, rows in (
            (_DELETE_TARGET, removed_targets),
            (_UPSERT_TARGET, targets),
            (_UPSERT_TICKET, tickets),
            (_END_PAUSE, ended),
            (_INSERT_PAUSE, begun),
        ):
            if rows:
                tx.executemany(sql, rows)
        self._forget()

    def _forget(self) -> None:
        self._held, self._new_pauses, self._ended_pauses = {}, [], []

    def _load(self, tx: Tx, tickets: list[str]) -> None:
        """Read the tickets' rows as stored into memory."""
        for ticket in tickets:
            self._held[ticket] = _Held(ticket)
        for row in tx.select_in(_SELECT_TICKETS, tickets):
            held = self._held[row[0]]
            held.row, held.stored_row = _TicketRow(row), tuple(row)
        for row in tx.select_in(_SELECT_TARGETS, tickets):
            target = _Target._make(row)
            held = self._held[target.ticket_id]
            held.targets[target.target] = held.stored_targets[target.target] = target
        for ticket, started_at in tx.select_in(_SELECT_OPEN_PAUSES, tickets):
            held = self._held[ticket]
            held.open_pauses = (*held.open_pauses, _Pause(ticket, started_at, stored=True))

    def _ticket(self, tx: Tx, ticket: str) -> _Held:
        """The ticket as the batch holds it (read now if `begin` was not told of it)."""
        held = self._held.get(ticket)
        if held is None:
            self._load(tx, [ticket])
            held = self._held[ticket]
        return held

    def apply(self, tx: Tx, event: dict) -> None:
        kind, data, at = event_kind(event), event["data"], event["time"]
        held = self._ticket(tx, event["subject"])
        if kind == "Received":
            summary = summary_of(data.get("subject"), data.get("content"))
            if held.row is None:  # a repeated Received changes nothing (but the teams)
                held.row = _TicketRow.received(
                    held.ticket_id, event.get("ticketnumber"), data.get("channel"), summary, at
                )
                held.stale = False  # its board columns wait for the next event
            self._teams(held)
            return
        handler = getattr(self, f"_{kind}", None)
        if handler:
            handler(held, data, at)
            held.stale = True

    # ---- one method per event type that changes targets -------------------------------

    def _Classified(self, held: _Held, data: dict, at: str) -> None:
        kept = {name: t.met_at for name, t in held.targets.items() if t.met_at is not None}
        held.targets.clear()
        self._start(held, data["sla"])
        for name, met_at in kept.items():
            if name in held.targets:
                held.targets[name] = held.targets[name]._replace(met_at=met_at)
        type_, category = data["type"], data.get("category")
        priority, impact = data["priority"], data.get("impact")
        if row := held.row:
            row.type = row.type if type_ is None else type_
            row.category = row.category if category is None else category
            row.priority, row.impact = priority, impact
        self._teams(held)

    def _ImpactRaised(self, held: _Held, data: dict, at: str) -> None:
        self._Classified(held, {**data, "type": None}, at)

    def _SlaReplanned(self, held: _Held, data: dict, at: str) -> None:
        """The running policy applied: dropped targets go (their escalations with them),
        the replanned ones run on; settled targets were not touched."""
        for name in data["dropped"]:
            held.targets.pop(name, None)
        self._start(held, data["new"])

    def _Assigned(self, held: _Held, data: dict, at: str) -> None:
        self._meet(held, "assignment", at)
        self._start(held, data["sla"])
        assignee = data["assignee"]
        if row := held.row:
            row.assignee = assignee
            if row.status != "waiting_on_customer":
                row.status = "assigned"
        self._teams(held)

    def _Acknowledged(self, held: _Held, data: dict, at: str) -> None:
        self._meet(held, "acknowledge", at)
        if (row := held.row) and row.status == "assigned":
            row.status = "in_progress"

    def _ProgressUpdated(self, held: _Held, data: dict, at: str) -> None:
        if data["visibility"] == "customer":
            for target in ANSWERED_BY_CUSTOMER_UPDATE:
                self._meet(held, target, at, running=True)
        self._start(held, data["sla"])
        if data["waiting_on_customer"]:  # a pause begins with the first waiting update
            if row := held.row:
                row.paused_at = at if row.paused_at is None else row.paused_at
                row.status = "waiting_on_customer"
            if not held.open_pauses:
                pause = _Pause(held.ticket_id, at, stored=False)
                held.open_pauses = (pause,)
                self._new_pauses.append(pause)
        else:
            self._end_pause(held, at)

    def _CustomerReplied(self, held: _Held, data: dict, at: str) -> None:
        self._start(held, data["sla"])
        if (row := held.row) and row.status == "waiting_on_customer":
            self._end_pause(held, at)

    def _end_pause(self, held: _Held, at: str) -> None:
        self._end_open_pauses(held, at)
        if row := held.row:
            row.paused_at = None
            row.status = "open" if row.assignee is None else "in_progress"

    def _Declined(self, held: _Held, data: dict, at: str) -> None:
        self._start(held, data["sla"])
        if row := held.row:
            row.assignee = None
            if row.status != "waiting_on_customer":
                row.status = "open"
        self._teams(held)

    def _DepartmentRequested(self, held: _Held, data: dict, at: str) -> None:
        self._start(held, data["sla"])

    def _DepartmentAnswered(self, held: _Held, data: dict, at: str) -> None:
        self._meet(held, department_target(data["request_id"]), at)

    def _SuggestionBatched(self, held: _Held, data: dict, at: str) -> None:
        self._start(held, data["sla"])

    def _Analysed(self, held: _Held, data: dict, at: str) -> None:
        self._meet(held, "analysis", at)

    def _Confirmed(self, held: _Held, data: dict, at: str) -> None:
        self._meet(held, "confirmation", at)

    def _Escalated(self, held: _Held, data: dict, at: str) -> None:
        if not data.get("target"):
            return
        name = data["target"]
        target = held.targets.get(name)
        if target is not None:
            done = [*json.loads(target.escalations), {"level": data["level"], "at": at}]
            held.targets[name] = target._replace(escalations=json.dumps(done))

    def _Closed(self, held: _Held, data: dict, at: str) -> None:
        for name, target in list(held.targets.items()):
            if target.met_at is None:
                held.targets[name] = target._replace(met_at=at)
        self._end_open_pauses(held, at)
        if row := held.row:
            row.status, row.closed_at, row.paused_at = "closed", at, None
        self._start(held, data.get("sla") or {})

    def _Reopened(self, held: _Held, data: dict, at: str) -> None:
        for target in AFTER_CLOSING:
            held.targets.pop(target, None)
        self._start(held, data["sla"])
        if row := held.row:
            row.closed_at = None
            row.status = "open" if row.assignee is None else "assigned"

    def _FollowedUp(self, held: _Held, data: dict, at: str) -> None:
        self._meet(held, "follow_up", at)

    # ---- helpers -----------------------------------------------------------------------

    @staticmethod
    def _meet(held: _Held, name: str, at: str, running: bool = False) -> None:
        """`running`: only a target that has started (a planned one waits)."""
        target = held.targets.get(name)
        if target is None or target.met_at is not None:
            return
        if not running or target.started_at is not None:
            held.targets[name] = target._replace(met_at=at)

    def _start(self, held: _Held, targets: dict) -> None:
        """Each target (re)starts: its timing anew, not met, no escalations."""
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
            held.targets[name] = _Target(
                held.ticket_id, name, t["clock"], t["duration"], t.get("started_at"),
                t.get("due"), None, "[]", utc_text(at_risk),
            )  # fmt: skip

    def _end_open_pauses(self, held: _Held, at: str) -> None:
        for pause in held.open_pauses:
            pause.ended_at = at
            if pause.stored:
                self._ended_pauses.append(pause)
        held.open_pauses = ()

    def _teams(self, held: _Held) -> None:
        """The teams whose queue holds the ticket, as `,a,b,` ('' for the shared queue)."""
        if (row := held.row) is None:
            return
        teams = ticket_teams(
            self.agents, assignee=row.assignee, type=row.type, category=row.category
        )
        row.teams = "," + ",".join(sorted(teams)) + "," if teams else ""

    @staticmethod
    def _refresh(row: _TicketRow, targets: dict[str, _Target]) -> None:
        """The ticket's next due target, its soonest at-risk instant, and lateness."""
        running = []  # (due, name, at-risk instant) of each target with a due still to meet
        late = False
        for t in targets.values():
            if t.due is None:
                continue
            if not t.met_at:
                running.append((_utc(t.due), t.target, t.at_risk_at))
            elif not late and _utc(t.met_at) > _utc(t.due):
                late = True
        soonest = min(running, default=None)
        row.next_target = soonest[1] if soonest else None
        row.next_due = soonest[0] if soonest else None
        row.next_at_risk = min((risk for _, _, risk in running if risk), default=None)
        row.late = int(late)
        row.paused_utc = utc_text(row.paused_at)
