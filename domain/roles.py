"""Who may send which command (docs/contract.md "Commands"); `forbidden` otherwise.

Finer rules that need the ticket (an agent assigns only to themself, only the
assignee acknowledges) are guards on the aggregate.
"""

from domain.errors import Forbidden

ROLES = ("agent", "supervisor", "manager", "auditor", "analytics", "channel", "system")

MAY_SEND: dict[str, frozenset[str]] = {
    "classify": frozenset({"agent", "supervisor", "manager"}),
    "update": frozenset({"agent", "supervisor", "manager"}),
    "close": frozenset({"agent", "supervisor", "manager"}),
    "assign": frozenset({"agent", "supervisor", "manager", "system"}),
    "acknowledge": frozenset({"agent"}),
    "escalate": frozenset({"agent", "supervisor", "manager", "system"}),
    "rate": frozenset({"channel", "agent", "supervisor"}),
    "reopen": frozenset({"agent", "supervisor", "manager", "channel"}),
    "follow_up": frozenset({"agent", "supervisor", "manager"}),
    "forget": frozenset({"manager"}),  # erase a customer's personal data (docs/process.md)
    "replan": frozenset({"manager"}),  # apply the running SLA policy to open tickets
    "reveal_contact": frozenset({"agent", "supervisor", "manager"}),  # recorded in history
    "confirm": frozenset({"channel", "agent", "supervisor"}),  # the customer accepts
    "decline": frozenset({"agent"}),  # the assigned agent
    "request_department": frozenset({"agent", "supervisor", "manager"}),
    "answer_department": frozenset({"agent", "supervisor", "manager"}),
    "analyse": frozenset({"agent", "supervisor", "manager"}),
    "review": frozenset({"supervisor", "manager"}),  # the department head
    # problems and improvement actions (an action's update: its owner, or above)
    "open_problem": frozenset({"supervisor", "manager", "system"}),
    "link_tickets": frozenset({"agent", "supervisor", "manager", "system"}),
    "record_root_cause": frozenset({"supervisor", "manager"}),
    "plan_action": frozenset({"supervisor", "manager"}),
    "update_action": frozenset({"agent", "supervisor", "manager"}),
    "close_problem": frozenset({"supervisor", "manager"}),
    "evaluate_action": frozenset({"supervisor", "manager"}),
    # the knowledge base: supervisors and managers keep it; agents answer with it and
    # turn cases into drafts; a channel reports what its self-service page solved
    "publish_article": frozenset({"supervisor", "manager"}),
    "retire_article": frozenset({"supervisor", "manager"}),
    "draft_article": frozenset({"agent", "supervisor", "manager"}),
    "answer_with_article": frozenset({"agent", "supervisor", "manager"}),
    "self_served": frozenset({"channel"}),
}


# Who may ask which query when the query names its actor (as the console and the HTTP
# API always do): what each role's NATS subjects allow. Analytics reads statistics
# (and the tickets counted in them, without texts); channel adapters submit requests.
READERS = frozenset({"agent", "supervisor", "manager", "auditor", "system"})
MAY_ASK: dict[str, frozenset[str]] = {
    "ticket": READERS,
    "history": READERS,
    "sla": READERS,
    "board": READERS,
    "audit": READERS,
    "stats": READERS | {"analytics"},
    "tickets": READERS | {"analytics"},
    "problem": READERS,
    "problems": READERS,
    "suggest_articles": READERS | {"channel"},
    "article": READERS | {"analytics"},
    "articles": READERS | {"analytics"},
}


def check_may_ask(query: str, role: str) -> None:
    allowed = MAY_ASK.get(query, READERS)
    if role not in allowed:
        raise Forbidden(f"role {role!r} may not ask {query}; allowed: {sorted(allowed)}")


def check_may_send(command: str, role: str) -> None:
    allowed = MAY_SEND[command]
    if role not in allowed:
        raise Forbidden(f"role {role!r} may not {command}; allowed: {sorted(allowed)}")
