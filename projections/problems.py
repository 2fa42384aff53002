"""The problems as a list: each with its status, its linked tickets and its actions
(owner, due, status, verdict), so that the `problems` query, and a ticket's page, can
find them without replaying every problem."""

from __future__ import annotations

from infra.readdb import Tx
from projections.base import Projection, event_kind, utc_text

TABLES = (
    """CREATE TABLE IF NOT EXISTS problems (
    problem_id TEXT PRIMARY KEY, number TEXT, title TEXT, category TEXT, status TEXT,
    opened_at TEXT, updated_at TEXT, root_cause TEXT, recurring BIGINT NOT NULL DEFAULT 0)""",
    """CREATE TABLE IF NOT EXISTS problem_tickets (
    problem_id TEXT NOT NULL, ticket_id TEXT NOT NULL, PRIMARY KEY (problem_id, ticket_id))""",
    "CREATE INDEX IF NOT EXISTS problem_tickets_by_ticket ON problem_tickets (ticket_id)",
    """CREATE TABLE IF NOT EXISTS problem_actions (
    problem_id TEXT NOT NULL, action_id TEXT NOT NULL, title TEXT, owner TEXT, due TEXT,
    metric TEXT, status TEXT, verdict TEXT, done_at TEXT, overdue BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (problem_id, action_id))""",
)


class ProblemList(Projection):
    name = "problems"
    version = 2  # 2: overdue actions, recurring problems
    tables = TABLES
    table_names = ("problems", "problem_tickets", "problem_actions")

    def apply(self, tx: Tx, event: dict) -> None:
        kind, problem, data, at = event_kind(event), event["subject"], event["data"], event["time"]
        if kind == "ProblemOpened":
            tx.execute(
                "INSERT INTO problems (problem_id, number, title, category, status, opened_at, "
                "updated_at) VALUES (?, ?, ?, ?, 'open', ?, ?) ON CONFLICT (problem_id) DO NOTHING",
                (problem, event.get("ticketnumber"), data["title"], data.get("category"), at, at),
            )
            self._link(tx, problem, data["tickets"])
        elif kind == "TicketsLinked":
            self._link(tx, problem, data["tickets"])
        elif kind == "RootCauseRecorded":
            tx.execute(
                "UPDATE problems SET root_cause=? WHERE problem_id=?", (data["root_cause"], problem)
            )
        elif kind == "ActionPlanned":
            tx.execute(
                "INSERT INTO problem_actions (problem_id, action_id, title, owner, due, metric, "
                "status, verdict) VALUES (?, ?, ?, ?, ?, ?, 'planned', 'pending') "
                "ON CONFLICT (problem_id, action_id) DO NOTHING",
                (
                    problem,
                    data["action_id"],
                    data["title"],
                    data["owner"],
                    utc_text(data["due"]),
                    data["metric"],
                ),
            )
        elif kind == "ActionUpdated":
            tx.execute(
                "UPDATE problem_actions SET status=?, done_at=CASE WHEN ?='done' THEN ? "
                "ELSE done_at END WHERE problem_id=? AND action_id=?",
                (data["status"], data["status"], at, problem, data["action_id"]),
            )
        elif kind == "EffectEvaluated":
            tx.execute(
                "UPDATE problem_actions SET verdict=? WHERE problem_id=? AND action_id=?",
                (data["verdict"], problem, data["action_id"]),
            )
        elif kind == "ActionOverdue":
            tx.execute(
                "UPDATE problem_actions SET overdue=1 WHERE problem_id=? AND action_id=?",
                (problem, data["action_id"]),
            )
        elif kind == "ProblemRecurred":
            tx.execute("UPDATE problems SET recurring=1 WHERE problem_id=?", (problem,))
        elif kind == "ProblemClosed":
            tx.execute("UPDATE problems SET status='closed' WHERE problem_id=?", (problem,))
        else:
            return  # a ticket's event
        tx.execute("UPDATE problems SET updated_at=? WHERE problem_id=?", (at, problem))

    @staticmethod
    def _link(tx: Tx, problem: str, tickets: list[str]) -> None:
        for ticket in tickets:
            tx.execute(
                "INSERT INTO problem_tickets (problem_id, ticket_id) VALUES (?, ?) "
                "ON CONFLICT (problem_id, ticket_id) DO NOTHING",
                (problem, ticket),
            )
