"""A read model whose tables change shape is built again from the stream at start:
its version is kept beside its position, and a new version starts from position 0."""

from __future__ import annotations

from infra.readdb import ReadDB
from projections.sla import SlaView
from tests.integration.projecting import projector

OLD_SLA_TICKETS = """CREATE TABLE sla_tickets (ticket_id TEXT PRIMARY KEY, number TEXT,
    status TEXT, type TEXT, priority TEXT, assignee TEXT, paused_at TEXT, closed_at TEXT)"""


def test_tables_of_an_older_version_are_dropped_and_the_projection_starts_over(
    store_url,
) -> None:
    db = ReadDB(store_url)
    with db.transaction() as tx:  # as a version-1 service left them
        tx.execute(OLD_SLA_TICKETS)
        tx.execute("INSERT INTO sla_tickets (ticket_id, number) VALUES ('t', 'CS1')")
        tx.set_position("sla", 57, 40)
    view = projector(SlaView(), store_url)
    assert view.position == 0
    with view.db.transaction() as tx:
        assert {"next_due", "summary", "teams"} <= tx.columns("sla_tickets")
        assert tx.execute("SELECT COUNT(*) FROM sla_tickets").fetchone()[0] == 0
        assert tx.version("sla") == SlaView.version


def test_the_same_version_keeps_its_tables_and_its_place(store_url) -> None:
    first = projector(SlaView(), store_url)
    with first.db.transaction() as tx:
        tx.set_position("sla", 12, 9)
    assert projector(SlaView(), store_url).position == 12
