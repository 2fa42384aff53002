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

A batch is applied in memory (`TicketRows`): `begin` reads, in a few statements, what
the events of the batch's tickets need (their targets, and of their rows the columns that
decide what an event does: status, paused_at, assignee), each event changes these as
plain Python values, and `end` writes back only what changed, a few statements in all
(a column not read is changed as the statements per event did: `SET`, `COALESCE`,
`+ 1`). As before, a ticket without a row has none until `Received` (an update of no
row changes nothing), while its targets are kept all the same.

Times are stored as UTC text of one fixed form, so text order is time order on both
databases.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any, overload

from domain.ticket import ANSWERED_BY_CUSTOMER_UPDATE, department_target
from infra.readdb import Tx
from projections.base import Projection, event_kind, utc_text_remembered

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


# ---- a batch's rows in memory -----------------------------------------------------------

TICKET_COLUMNS = (  # of `stats_tickets`, in the table's order
    "ticket_id", "channel", "type", "category", "priority", "assignee", "team", "status",
    "paused_at", "received_at", "first_response_at", "first_closed_at", "last_closed_at",
    "resolution_seconds", "reopens", "escalations", "score", "sla_on_time", "sla_breached",
    "number", "demand", "mood", "contacts", "declines", "dimensions", "rated_at", "batch",
    "policy_version",
)  # fmt: skip
COUNTERS = ("reopens", "escalations", "sla_on_time", "sla_breached", "contacts", "declines")
# What an event reads of a ticket's row: read at `begin`, the rest is only written.
DECIDING = ("status", "paused_at", "assignee")
WAITING = "waiting_on_customer"

# A target's running instance: its row of `stats_sla_targets`,
# (ticket_id, target, started_at, due, met_at).
TargetRow = tuple[str, str, str | None, str | None, str | None]
# What `end` does to a stored row: the columns it sets, fills and adds to.
Shape = tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]


@overload
def utc_form(moment: str) -> str: ...
@overload
def utc_form(moment: None) -> None: ...
@overload
def utc_form(moment: str | None) -> str | None: ...
def utc_form(moment: str | None) -> str | None:
    """`utc_text`, remembered: the same texts come again and again (an event's time is
    the start of the targets it starts)."""
    return utc_text_remembered(moment)


class TicketRows:
    """One ticket's rows in a batch.

    Its row of facts: `known` holds the columns whose values the batch knows (the
    deciding ones as stored, `stored_facts`, those it set, and all of a row it inserts),
    None while the ticket has no row. A column it does not know is changed at `end` as
    SQL does: `filled` (COALESCE(column, value): first_response_at, ...) and `added`
    (column + n: the counters); a column is filled or added to, never both.
    Its targets: `targets` as the batch leaves them, `stored_targets` as it found them."""

    __slots__ = (
        "added",
        "filled",
        "inserted",
        "known",
        "stored_facts",
        "stored_targets",
        "targets",
        "ticket_id",
    )

    def __init__(
        self,
        ticket_id: str,
        stored_facts: dict[str, Any] | None,
        stored_targets: dict[str, TargetRow],
    ) -> None:
        self.ticket_id = ticket_id
        self.stored_facts = stored_facts  # the deciding columns (None: no row)
        self.known = None if stored_facts is None else dict(stored_facts)
        self.inserted = False  # the row is new: `Received` in this batch
        self.filled: dict[str, Any] = {}
        self.added: dict[str, int] = {}
        self.stored_targets = stored_targets
        self.targets = dict(stored_targets)

    # ---- the row: changes as an UPDATE makes them (none without a row) -----------------

    def get(self, column: str) -> Any:
        """A deciding column's value (None without a row)."""
        return None if self.known is None else self.known[column]

    def receive(self, **columns: Any) -> None:
        """The row, with these columns, unless there is one (ON CONFLICT DO NOTHING)."""
        if self.known is not None:
            return
        self.known = {**dict.fromkeys(TICKET_COLUMNS), **dict.fromkeys(COUNTERS, 0)}
        self.known.update(columns, ticket_id=self.ticket_id, status="open")
        self.inserted = True

    def set(self, **columns: Any) -> None:
        """SET column=value."""
        known = self.known
        if known is None:
            return
        for column, value in columns.items():
            if column not in known:  # what it would have filled or added to is overwritten
                self.filled.pop(column, None)
                self.added.pop(column, None)
            known[column] = value

    def set_given(self, **columns: Any) -> None:
        """SET column=COALESCE(value, column): the values given."""
        self.set(**{column: value for column, value in columns.items() if value is not None})

    def fill(self, **columns: Any) -> None:
        """SET column=COALESCE(column, value): a value where there is none yet."""
        known = self.known
        if known is None:
            return
        for column, value in columns.items():
            if value is None:  # COALESCE(column, NULL): as it is
                continue
            if column in known:
                if known[column] is None:
                    known[column] = value
            elif column not in self.filled:
                self.filled[column] = value

    def add(self, column: str, n: int = 1) -> None:
        """SET column=column+n."""
        known = self.known
        if known is None:
            return
        if column in known:
            known[column] += n
        else:
            self.added[column] = self.added.get(column, 0) + n

    # ---- its targets --------------------------------------------------------------------
    # While a ticket waits on the customer its SLA clock stands still (as in the `sla`
    # query): a target met or replaced then is judged as of the moment the wait began.

    def clock(self, at: str) -> str:
        known = self.known
        return known["paused_at"] if known is not None and known["paused_at"] else at

    def meet(self, target: str | None, at: str, running: bool = False) -> None:
        """Meet the unmet instance of `target` (None: of every target); `running`: only
        one that has started (a planned one waits)."""
        met_at = self.clock(at)
        names = self.targets if target is None else (target,) if target in self.targets else ()
        for name in names:
            ticket_id, _, started_at, due, old_met_at = self.targets[name]
            if old_met_at is None and (started_at is not None or not running):
                self.targets[name] = (ticket_id, name, started_at, due, met_at)

    def start(self, targets: dict, at: str) -> None:
        """(Re)start targets; a started instance that is replaced is judged now.
        Same start and unmet means the same instance with its due moved (a resumed
        pause, `domain.sla.resume`): nothing to judge yet."""
        at = self.clock(at)
        for name, target in targets.items():
            if name in NOT_COUNTED:
                continue
            started = utc_form(target.get("started_at"))
            old = self.targets.get(name)
            if old is not None:
                _, _, old_started, old_due, old_met_at = old
                if old_started is not None and (old_met_at is not None or old_started != started):
                    self.count(judge(old_due, old_met_at, at))
            self.targets[name] = (self.ticket_id, name, started, utc_form(target.get("due")), None)

    def plan(self, targets: dict) -> None:
        """The plan replaces the targets; running ones keep their start (domain.sla.plan)
        and a met one its `met_at`."""
        met = {name: row[4] for name, row in self.targets.items() if row[4] is not None}
        self.targets = {
            name: (
                self.ticket_id,
                name,
                utc_form(target.get("started_at")),
                utc_form(target.get("due")),
                met.get(name),
            )
            for name, target in targets.items()
        }

    def drop(self, name: str, at: str) -> None:
        """A target no longer planned: its started instance is judged now, and goes."""
        old = self.targets.pop(name, None)
        if old is not None and old[2] is not None:
            self.count(judge(old[3], old[4], at))

    def count(self, outcome: bool | None) -> None:
        if outcome is not None:
            self.add("sla_on_time" if outcome else "sla_breached")

    # ---- what the batch changed ---------------------------------------------------------

    def row_update(self) -> tuple[Shape, tuple] | None:
        """How a stored row changes (its shape, and the values with the ticket id last);
        None: it does not (or it is none, or new)."""
        if self.known is None or self.inserted:
            return None
        stored = self.stored_facts or {}
        sets = {c: v for c, v in self.known.items() if c not in stored or stored[c] != v}
        if not (sets or self.filled or self.added):
            return None
        shape = (tuple(sets), tuple(self.filled), tuple(self.added))
        return shape, (*sets.values(), *self.filled.values(), *self.added.values(), self.ticket_id)

    def new_row(self) -> tuple | None:
        """The row `Received` made in this batch, as the batch leaves it (None: none)."""
        if not self.inserted or self.known is None:
            return None
        return tuple(self.known[c] for c in TICKET_COLUMNS)

    def dropped_targets(self) -> list[tuple[str, str]]:
        return [(self.ticket_id, name) for name in self.stored_targets if name not in self.targets]

    def changed_targets(self) -> list[TargetRow]:
        stored = self.stored_targets
        return [row for name, row in self.targets.items() if stored.get(name) != row]


INSERT_ROW = (
    f"INSERT INTO {TICKETS} ({', '.join(TICKET_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(TICKET_COLUMNS))})"
)
UPSERT_TARGET = (
    f"INSERT INTO {TARGETS} (ticket_id, target, started_at, due, met_at) "
    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (ticket_id, target) DO UPDATE SET "
    "started_at=excluded.started_at, due=excluded.due, met_at=excluded.met_at"
)
DELETE_TARGET = f"DELETE FROM {TARGETS} WHERE ticket_id=? AND target=?"
INSERT_SELF_SERVICE = (
    f"INSERT INTO {SELF_SERVICE} (report_id, article_id, at, channel, category, solved) "
    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (report_id) DO NOTHING"
)


@lru_cache(maxsize=256)
def update_row(shape: Shape) -> str:
    """The UPDATE of a stored row of this shape (`TicketRows.row_update`)."""
    sets, fills, adds = shape
    assignments = (
        [f"{c}=?" for c in sets]
        + [f"{c}=COALESCE({c}, ?)" for c in fills]
        + [f"{c}={c}+?" for c in adds]
    )
    return f"UPDATE {TICKETS} SET {', '.join(assignments)} WHERE ticket_id=?"


Handler = Callable[[TicketRows, dict, str], None]


class Statistics(Projection):
    name = "stats"
    # 2: the ticket's number (the console's ticket lists); 3: demand, mood, ...;
    # 4: the policy version that set the ticket's targets; 5: self-service reports
    version = 5
    tables = TABLES
    table_names = (TICKETS, TARGETS, SELF_SERVICE)

    def __init__(self, agent_teams: dict[str, str]) -> None:
        self.agent_teams = dict(agent_teams)  # agent id -> team; others have no team
        self._handlers: dict[str, Handler | None] = {}  # event kind -> its method
        self._tickets: dict[str, TicketRows] = {}  # the batch's tickets, by id
        self._self_served: list[tuple] = []  # the batch's self-service report rows

    # ---- a batch: read what its tickets need, change it in memory, write it back --------

    def begin(self, tx: Tx, events: Sequence[dict]) -> None:
        """What the batch's tickets need, read afresh (a failed batch left nothing)."""
        self._tickets, self._self_served = {}, []
        ticket_ids = {
            event["subject"]: None
            for event in events
            if self._handler(event_kind(event)) is not None
        }
        self._read(tx, list(ticket_ids))

    def end(self, tx: Tx) -> None:
        """What the batch changed: a statement for each kind of change, of many rows."""
        new_rows, updates = [], defaultdict(list)
        dropped, targets = [], []
        for ticket in self._tickets.values():
            if (row := ticket.new_row()) is not None:
                new_rows.append(row)
            elif (update := ticket.row_update()) is not None:
                updates[update[0]].append(update[1])
            dropped += ticket.dropped_targets()
            targets += ticket.changed_targets()
        if dropped:
            tx.executemany(DELETE_TARGET, dropped)
        if targets:
            tx.executemany(UPSERT_TARGET, targets)
        if new_rows:
            tx.executemany(INSERT_ROW, new_rows)
        for shape, rows in updates.items():
            tx.executemany(update_row(shape), rows)
        if self._self_served:
            tx.executemany(INSERT_SELF_SERVICE, self._self_served)
        self._tickets, self._self_served = {}, []

    def _read(self, tx: Tx, ticket_ids: list[str]) -> None:
        """What the events of `ticket_ids` need (each gets its `TicketRows`, row or not)."""
        if not ticket_ids:
            return
        rows = {
            ticket_id: dict(zip(DECIDING, deciding, strict=True))
            for ticket_id, *deciding in tx.select_in(
                f"SELECT ticket_id, {', '.join(DECIDING)} FROM {TICKETS} WHERE ticket_id IN",
                ticket_ids,
            )
        }
        targets: dict[str, dict[str, TargetRow]] = {ticket_id: {} for ticket_id in ticket_ids}
        for row in tx.select_in(
            f"SELECT ticket_id, target, started_at, due, met_at FROM {TARGETS} WHERE ticket_id IN",
            ticket_ids,
        ):
            targets[row[0]][row[1]] = row
        for ticket_id in ticket_ids:
            self._tickets[ticket_id] = TicketRows(
                ticket_id, rows.get(ticket_id), targets[ticket_id]
            )

    def _ticket(self, tx: Tx, ticket_id: str) -> TicketRows:
        """The ticket's rows in memory; read now if `begin` was not told of it."""
        ticket = self._tickets.get(ticket_id)
        if ticket is None:
            self._read(tx, [ticket_id])
            ticket = self._tickets[ticket_id]
        return ticket

    def _handler(self, kind: str) -> Handler | None:
        """The method that applies an event of `kind` to a ticket (None: none does)."""
        if kind not in self._handlers:
            self._handlers[kind] = (
                None if kind == "ArticleSelfServed" else getattr(self, f"_{kind}", None)
            )
        return self._handlers[kind]

    def apply(self, tx: Tx, event: dict) -> None:
        kind, at = event_kind(event), utc_form(event["time"])
        if kind == "ArticleSelfServed":  # a consultation answered without a ticket
            self._self_served.append(self_service_row(event, at))
            return
        handler = self._handler(kind)
        if handler is None:
            return
        ticket = self._ticket(tx, event["subject"])
        if kind == "Received":  # the number travels in the envelope, beside the data
            self._Received(ticket, event["data"], at, event.get("ticketnumber"))
            return
        handler(ticket, event["data"], at)

    # ---- one method per event type that changes the facts ------------------------------

    @staticmethod
    def _Received(ticket: TicketRows, data: dict, at: str, number: str | None = None) -> None:
        ticket.receive(
            number=number,
            channel=data.get("channel"),
            received_at=utc_form(data.get("received_at")) or at,
        )

    def _ImpactRaised(self, ticket: TicketRows, data: dict, at: str) -> None:
        """Group impact: a new priority and a new plan, type and category unchanged."""
        self._Classified(ticket, {**data, "type": None, "category": None}, at)

    @staticmethod
    def _Classified(ticket: TicketRows, data: dict, at: str) -> None:
        ticket.set_given(
            type=data["type"],
            category=data["category"],
            demand=data.get("demand"),
            mood=data.get("mood"),
        )
        ticket.set(priority=data["priority"], policy_version=planned_by(data["sla"]))
        ticket.plan(data["sla"])

    @staticmethod
    def _SlaReplanned(ticket: TicketRows, data: dict, at: str) -> None:
        """The running policy applied to an open ticket: a dropped target's instance is
        judged now and goes; the replanned ones start (or run on) under `to_version`."""
        clock = ticket.clock(at)
        for name in data["dropped"]:
            ticket.drop(name, clock)
        ticket.start(data["new"], at)
        ticket.set(policy_version=data["to_version"])

    def _Assigned(self, ticket: TicketRows, data: dict, at: str) -> None:
        status = ticket.get("status")
        ticket.set(
            assignee=data["assignee"],
            team=self.agent_teams.get(data["assignee"]),
            status=status if status == WAITING else "assigned",
        )
        ticket.meet("assignment", at)
        ticket.start(data["sla"], at)

    @staticmethod
    def _Acknowledged(ticket: TicketRows, data: dict, at: str) -> None:
        ticket.meet("acknowledge", at)
        if ticket.get("status") == "assigned":
            ticket.set(status="in_progress")

    def _ProgressUpdated(self, ticket: TicketRows, data: dict, at: str) -> None:
        if data["visibility"] == "customer":
            ticket.fill(first_response_at=at)
            for target in (*ANSWERED_BY_CUSTOMER_UPDATE, "update_every"):
                ticket.meet(target, at, running=True)
        ticket.start(data["sla"], at)
        if data["waiting_on_customer"]:
            ticket.set(status=WAITING)
            ticket.fill(paused_at=at)
            return
        self._resume(ticket)

    @staticmethod
    def _resume(ticket: TicketRows) -> None:
        status = "open" if ticket.get("assignee") is None else "in_progress"
        ticket.set(paused_at=None, status=status)

    def _CustomerReplied(self, ticket: TicketRows, data: dict, at: str) -> None:
        ticket.add("contacts")
        ticket.start(data["sla"], at)
        if ticket.get("status") == WAITING:
            self._resume(ticket)

    @staticmethod
    def _Declined(ticket: TicketRows, data: dict, at: str) -> None:
        status = ticket.get("status")
        ticket.set(assignee=None, team=None, status=status if status == WAITING else "open")
        ticket.add("declines")
        ticket.start(data["sla"], at)

    @staticmethod
    def _SuggestionBatched(ticket: TicketRows, data: dict, at: str) -> None:
        ticket.set(batch=data["batch"])
        ticket.start(data["sla"], at)

    @staticmethod
    def _Analysed(ticket: TicketRows, data: dict, at: str) -> None:
        ticket.meet("analysis", at)

    @staticmethod
    def _DepartmentRequested(ticket: TicketRows, data: dict, at: str) -> None:
        ticket.start(data["sla"], at)

    @staticmethod
    def _DepartmentAnswered(ticket: TicketRows, data: dict, at: str) -> None:
        ticket.meet(department_target(data["request_id"]), at)

    @staticmethod
    def _Escalated(ticket: TicketRows, data: dict, at: str) -> None:
        ticket.add("escalations")

    @staticmethod
    def _Closed(ticket: TicketRows, data: dict, at: str) -> None:
        ticket.set(status="closed", last_closed_at=at)
        ticket.fill(
            first_response_at=at,
            first_closed_at=at,
            resolution_seconds=seconds(data.get("handling_seconds")),
        )
        ticket.meet(None, at)  # the final result answers every open target
        ticket.start(data.get("sla") or {}, at)
        ticket.set(paused_at=None)

    @staticmethod
    def _Rated(ticket: TicketRows, data: dict, at: str) -> None:
        dimensions = json.dumps(data.get("dimensions") or {}, sort_keys=True)
        ticket.set(score=data["score"], dimensions=dimensions, rated_at=at)

    @staticmethod
    def _Reopened(ticket: TicketRows, data: dict, at: str) -> None:
        ticket.add("reopens")
        ticket.set(status="open" if ticket.get("assignee") is None else "assigned")
        ticket.start(data["sla"], at)

    @staticmethod
    def _FollowedUp(ticket: TicketRows, data: dict, at: str) -> None:
        ticket.meet("follow_up", at)


def seconds(value: Any) -> Any:
    """A number of seconds as a DOUBLE PRECISION column holds it (an int as a float)."""
    return float(value) if isinstance(value, int) else value


def self_service_row(event: dict, at: str) -> tuple:
    """A self-service report's row of `stats_self_service`, keyed by the report's id."""
    data = event["data"]
    return (
        event["id"],
        data["article_id"],
        at,
        data["channel"],
        data["category"],
        int(bool(data["solved"])),
    )
