"""Who reported what, and when: per ticket its reporter, arrival, category, impact,
whether it is closed, and the cluster of requests that say the same thing.

Group impact counts the customers of a cluster within its window here. The cluster is
decided when the request arrives (domain.similarity.Clusters: the request's words,
masked as the stream carries them, against the requests of the window before it), in
stream order, so a restart or a rebuild gives the same clusters. Each request's terms
are kept, so that a restarted projection takes up its window where it was. The window
is the last 24 hours, but at most the latest `WINDOW_MOST` requests: on a day of more,
memory and the cost of comparing stay bounded.

A batch is written at its end, a few statements a batch: its new rows at once, then
the changes to rows in stream order (each kind of change sets its own columns).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from domain.similarity import Clusters, vector
from infra.readdb import Tx
from projections.base import Projection, event_kind

WINDOW_MOST = 20_000  # requests compared against at most (about 2 KB each in memory)
SET_IMPACT = "UPDATE reports SET category=COALESCE(?, category), impact=? WHERE ticket_id=?"
SET_CLOSED = "UPDATE reports SET closed=? WHERE ticket_id=?"
SET_ERASED = (  # a masked contact or a name no longer stays; the pattern is a parameter
    "UPDATE reports SET customer=? WHERE ticket_id=? AND customer NOT LIKE ?"  # (no % in SQL)
)

TABLES = (
    """CREATE TABLE IF NOT EXISTS reports (
    ticket_id TEXT PRIMARY KEY, customer TEXT, received_at TEXT, category TEXT,
    impact TEXT, closed INTEGER NOT NULL DEFAULT 0, cluster TEXT,
    similarity DOUBLE PRECISION)""",
    "CREATE INDEX IF NOT EXISTS reports_by_cluster ON reports (cluster, received_at)",
    """CREATE TABLE IF NOT EXISTS report_terms (
    ticket_id TEXT PRIMARY KEY, arrived DOUBLE PRECISION NOT NULL, terms TEXT NOT NULL,
    added BIGINT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS report_terms_by_arrival ON report_terms (arrived)",
    "CREATE INDEX IF NOT EXISTS report_terms_by_order ON report_terms (added)",
)


class ReportsByProblem(Projection):
    name = "reports"
    version = 3  # 2: clusters of requests that say the same thing; 3: their order
    tables = TABLES
    table_names = ("reports", "report_terms")

    def __init__(
        self,
        threshold: float = 0.15,
        window_seconds: float = 86_400.0,
        window_most: int = WINDOW_MOST,
    ) -> None:
        self.threshold, self.window, self.window_most = threshold, window_seconds, window_most
        self._clusters: Clusters | None = None  # the window, loaded at the first event
        self._added = 0  # how many requests the tables held when the window was last in step
        self._reported: set[str] = set()  # the batch's Received tickets already in `reports`
        self._new: list[tuple] = []  # the batch's `reports` rows
        self._terms: list[tuple] = []  # and their `report_terms` rows
        self._changes: dict[str, list[tuple]] = {}  # UPDATE -> its rows, in stream order

    def begin(self, tx: Tx, events: Sequence[dict]) -> None:
        """Before a batch: the window in memory is the tables' (not one a rolled-back
        batch, or another instance that led meanwhile, left different); which of the
        batch's requests the table holds already."""
        if self._clusters is not None:
            last = tx.execute("SELECT MAX(added) FROM report_terms").fetchone()[0] or 0
            if last != self._added:
                self._clusters = None  # loaded again at the next request
        received = list({e["subject"]: None for e in events if event_kind(e) == "Received"})
        found = tx.select_in("SELECT ticket_id FROM reports WHERE ticket_id IN", received)
        self._reported = {row[0] for row in found}
        self._new, self._terms = [], []
        self._changes = {SET_IMPACT: [], SET_CLOSED: [], SET_ERASED: []}

    def end(self, tx: Tx) -> None:
        if self._new:
            tx.executemany(
                "INSERT INTO reports (ticket_id, customer, received_at, cluster, similarity) "
                "VALUES (?, ?, ?, ?, ?)",
                self._new,
            )
            tx.executemany(
                "INSERT INTO report_terms (ticket_id, arrived, terms, added) VALUES (?, ?, ?, ?)",
                self._terms,
            )
        for sql, rows in self._changes.items():
            if rows:
                tx.executemany(sql, rows)

    def reset(self, tx: Tx) -> None:
        super().reset(tx)
        self._clusters = None

    def drop(self, tx: Tx) -> None:
        super().drop(tx)
        self._clusters = None

    def apply(self, tx: Tx, event: dict) -> None:
        kind, ticket, data = event_kind(event), event["subject"], event["data"]
        if kind == "Received":
            self._received(tx, ticket, data)
        elif kind in ("Classified", "ImpactRaised"):
            self._changes[SET_IMPACT].append((data.get("category"), data["impact"], ticket))
        elif kind in ("Closed", "Reopened"):
            self._changes[SET_CLOSED].append((int(kind == "Closed"), ticket))
        elif kind == "PersonalDataErased":
            self._changes[SET_ERASED].append((f"erased:{ticket}", ticket, "customer_id:%"))

    def _received(self, tx: Tx, ticket: str, data: dict) -> None:
        if ticket in self._reported:
            return  # applied before: the cluster stays what it was
        self._reported.add(ticket)
        arrived = datetime.fromisoformat(data["received_at"]).timestamp()
        v = vector("\n".join(filter(None, (data.get("subject"), data.get("content")))))
        cluster, score = self._window(tx, arrived).add(ticket, arrived, v)
        customer = customer_key(data.get("customer") or {}, ticket)
        self._new.append((ticket, customer, data["received_at"], cluster, score))
        self._added += 1
        self._terms.append((ticket, arrived, json.dumps(v, sort_keys=True), self._added))

    def _window(self, tx: Tx, arrived: float) -> Clusters:
        """The requests of the window before `arrived`, as the last run left them."""
        if self._clusters is None:
            self._clusters = Clusters(self.threshold, self.window, most=self.window_most)
            self._added = tx.execute("SELECT MAX(added) FROM report_terms").fetchone()[0] or 0
            latest = tx.execute("SELECT MAX(arrived) FROM report_terms").fetchone()[0]
            rows = tx.execute(
                "SELECT t.ticket_id, t.arrived, t.terms, r.cluster FROM report_terms t "
                "JOIN reports r ON r.ticket_id = t.ticket_id WHERE t.arrived >= ? "
                "ORDER BY t.arrived DESC, t.ticket_id DESC LIMIT ?",
                (max(latest or arrived, arrived) - self.window, self.window_most),
            ).fetchall()
            for ticket, at, terms, cluster in reversed(rows):
                self._clusters.hold(ticket, at, cluster, json.loads(terms))
        return self._clusters


def customer_key(customer: dict, ticket_id: str) -> str:
    """Who reported: the customer id, else their (masked) contact, else the ticket."""
    for key in ("customer_id", "phone", "email", "name"):
        if customer.get(key):
            return f"{key}:{customer[key]}"
    return f"ticket:{ticket_id}"
