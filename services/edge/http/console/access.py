"""Who may see which console page: the page's query decides (domain.roles.MAY_ASK, the
same rule as the role's NATS subjects): statistics and the ticket lists behind them
for every role but `channel`; the board, the tickets and the audit trail for all but
`analytics`; the SLA what-if for managers and auditors (`services.application.whatif`);
the knowledge base for those who answer tickets and those who audit them (`kb`: analytics
reads the articles' figures through the API, not here)."""

from __future__ import annotations

from domain.roles import MAY_ASK, READERS
from services.application.whatif import MAY_ASK as MAY_ASK_WHATIF

ASKS = {**MAY_ASK, "sla_whatif": MAY_ASK_WHATIF, "kb": READERS}
NAV = (  # (path, word, the query the page is made of)
    ("/", "nav_board", "board"),
    ("/stats", "nav_stats", "stats"),
    ("/audit", "nav_audit", "audit"),
    ("/problems", "nav_problems", "problems"),
    ("/kb", "nav_kb", "kb"),
    ("/whatif", "nav_whatif", "sla_whatif"),
)


def may_ask(role: str, query: str) -> bool:
    """Whether the role may ask the query (the application's rule, which the role's NATS
    subjects grant alike)."""
    return role in ASKS.get(query, READERS)


def nav_for(role: str, path: str) -> list[dict[str, object]]:
    """The navigation links the role may follow, the current page marked."""
    return [
        {"href": href, "word": word, "id": word.removeprefix("nav_"), "current": path == href}
        for href, word, query in NAV
        if may_ask(role, query)
    ]
