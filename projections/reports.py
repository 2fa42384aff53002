"""Who reported what, and when: per ticket its reporter, arrival, category and impact,
and whether it is closed. Group impact counts the customers in a category's window here.
"""

from __future__ import annotations

from infra.readdb import Tx
from projections.base import Projection, event_kind


class ReportsByCategory(Projection):
    name = "reports"
    tables = (
        """CREATE TABLE IF NOT EXISTS reports (
        ticket_id TEXT PRIMARY KEY, customer TEXT, received_at TEXT, category TEXT,
        impact TEXT, closed INTEGER NOT NULL DEFAULT 0)""",
        "CREATE INDEX IF NOT EXISTS reports_by_category ON reports (category, received_at)",
    )
    table_names = ("reports",)

    def apply(self, tx: Tx, event: dict) -> None:
        kind, ticket, data = event_kind(event), event["subject"], event["data"]
        if kind == "Received":
            tx.execute(
                "INSERT INTO reports (ticket_id, customer, received_at) VALUES (?, ?, ?) "
                "ON CONFLICT (ticket_id) DO NOTHING",
                (ticket, customer_key(data.get("customer") or {}, ticket), data["received_at"]),
            )
        elif kind in ("Classified", "ImpactRaised"):
            tx.execute(
                "UPDATE reports SET category=COALESCE(?, category), impact=? WHERE ticket_id=?",
                (data.get("category"), data["impact"], ticket),
            )
        elif kind in ("Closed", "Reopened"):
            tx.execute(
                "UPDATE reports SET closed=? WHERE ticket_id=?", (int(kind == "Closed"), ticket)
            )
        elif kind == "PersonalDataErased":  # a masked contact or a name no longer stays
            tx.execute(
                "UPDATE reports SET customer=? WHERE ticket_id=? AND customer NOT "
                "LIKE 'customer_id:%'",
                (f"erased:{ticket}", ticket),
            )


def customer_key(customer: dict, ticket_id: str) -> str:
    """Who reported: the customer id, else their (masked) contact, else the ticket."""
    for key in ("customer_id", "phone", "email", "name"):
        if customer.get(key):
            return f"{key}:{customer[key]}"
    return f"ticket:{ticket_id}"
