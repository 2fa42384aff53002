"""Who may see which console page: the role's subjects on the wire decide, so a page
shows what its query would answer that role over NATS with `--auth`
(`infra.nats_auth.permissions`): statistics for every role but `channel`; the ticket
list behind them for the same roles; the audit trail for agents, supervisors,
managers and auditors; the board and ticket pages for all but `analytics`."""

from __future__ import annotations

from infra.nats_auth import permissions

NAV = (  # (path, word, the query the page is made of)
    ("/", "nav_board", "board"),
    ("/stats", "nav_stats", "stats"),
    ("/audit", "nav_audit", "audit"),
)


def _covers(pattern: str, subject: str) -> bool:
    """NATS subject matching: `*` one token, `>` the rest."""
    want, have = pattern.split("."), subject.split(".")
    for i, token in enumerate(want):
        if token == ">":
            return len(have) > i
        if i >= len(have) or token not in ("*", have[i]):
            return False
    return len(want) == len(have)


def may_ask(role: str, query: str) -> bool:
    """Whether the role may ask `tickets.query.<query>` on the wire."""
    try:
        granted = permissions(role, "console")
    except ValueError:  # not a role
        return False
    subject = f"tickets.query.{query}"
    return granted is None or any(_covers(p, subject) for p in granted.publish)


def nav_for(role: str, path: str) -> list[dict[str, object]]:
    """The navigation links the role may follow, the current page marked."""
    return [
        {"href": href, "word": word, "id": word.removeprefix("nav_"), "current": path == href}
        for href, word, query in NAV
        if may_ask(role, query)
    ]
