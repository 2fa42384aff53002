"""`tickets.cmd.replan`: apply the policy the service runs now to open tickets.

Each ticket is its own transaction (`SlaReplanned`, `domain.sla_plan.Planner.replanned`
says what changes), so a crash half-way loses nothing: running it again replans the
rest, and a ticket already on the running policy is left unchanged (no event). Past
outcomes are never rewritten: settled targets keep their recorded form.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from uuid import UUID

from domain.actor import Actor
from domain.errors import IllegalState, NotFound
from domain.roles import check_may_send
from domain.ticket import Ticket
from services.application import messages as m
from services.application.desk import TicketDesk

log = logging.getLogger("ticketflow.replan")
LISTED = 1000  # tickets named in the reply of an all-open replan


class _Unchanged(Exception):
    def __init__(self, ticket: Ticket) -> None:
        self.ticket = ticket


class Replanner:
    def __init__(self, desk: TicketDesk, open_tickets: Callable[[], list[str]]) -> None:
        self.desk, self.open_tickets = desk, open_tickets

    def replan(self, c: m.Replan) -> dict:
        check_may_send("replan", c.actor.role)
        actor, version = c.actor.value(), self.desk.policy.version
        if not c.all_open:
            named = self.desk.resolve(c.ticket_id, c.number)
            return {"ok": True, "policy_version": version, **self.one(named, actor)}
        replanned: list[str] = []
        unchanged = skipped = 0
        for listed in self.open_tickets():
            try:
                outcome = self.one(UUID(listed), actor)
            except (IllegalState, NotFound):  # closed since the view listed it
                skipped += 1
                continue
            if outcome["replanned"]:
                replanned.append(outcome["number"])
            else:
                unchanged += 1
        log.info(
            "replanned %d open tickets on policy %s (%d unchanged) by %s",
            len(replanned),
            version,
            unchanged,
            actor.id,
        )
        return {
            "ok": True,
            "policy_version": version,
            "replanned": len(replanned),
            "unchanged": unchanged,
            "skipped": skipped,
            "numbers": replanned[:LISTED],
        }

    def one(self, ticket_id: UUID, actor: Actor) -> dict:
        """Replan one ticket; `replanned` False when it is on the running policy already."""
        planned: dict = {}

        def act(t: Ticket) -> None:
            if t.status == "closed":
                raise IllegalState("a closed ticket keeps the targets it was judged by")
            now = self.desk.clock()
            new, dropped = self.desk.planner.replanned(t, now)
            if not new and not dropped:
                raise _Unchanged(t)
            t.replan(
                new=new, dropped=dropped, to_version=self.desk.policy.version, actor=actor, at=now
            )
            planned.update(targets=sorted(new), dropped=dropped)

        try:
            ticket = self.desk.change(ticket_id, act)
        except _Unchanged as same:
            return {"ticket_id": str(ticket_id), "number": same.ticket.number, "replanned": False}
        return {
            "ticket_id": str(ticket_id),
            "number": ticket.number,
            "replanned": True,
            "version": ticket.version,
            **planned,
        }
