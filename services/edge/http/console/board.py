"""The queue and SLA board from the `sla` query's reply: one row per open ticket, at its
next due target, soonest first, and the counts on top. Pure: a reply in, rows out."""

from __future__ import annotations

from typing import Any

PAGE = 100  # rows a page shows


def board_of(reply: dict[str, Any], page: int = 1) -> dict[str, Any]:
    rows: dict[str, dict] = {}
    breached: set[str] = set()
    at_risk: set[str] = set()
    for target in reply["targets"]:  # sorted by due: the first per ticket is its next
        ticket = target["ticket_id"]
        if target["state"] == "breached":
            breached.add(ticket)
        elif target["state"] == "at_risk":
            at_risk.add(ticket)
        rows.setdefault(ticket, target)
    ordered = sorted(rows.values(), key=lambda t: t["due"])
    counts = {
        "open": len(rows),
        "unassigned": sum(1 for t in rows.values() if not t["assignee"]),
        "at_risk": len(at_risk - breached),
        "breached": len(breached),
    }
    pages = max(1, -(-len(ordered) // PAGE))
    page = min(max(page, 1), pages)
    shown = ordered[(page - 1) * PAGE : page * PAGE]
    return {"rows": shown, "counts": counts, "now": reply["now"], "page": page, "pages": pages}
