"""The read side, wired: projections fed from TICKETS_EVENTS, the queries they serve,
the SLA watcher, and group impact. Each part gets its own database connection.

    TICKETS_EVENTS -> one durable consumer (ticketflow-read-side), read once per batch
        -> sla     -> sla_* tables   -> `sla` query, SLA watcher
        -> audit   -> audit_* tables -> `audit` query
        -> stats   -> stats_* tables -> `stats` query
        -> reports -> reports table  -> group impact (ImpactRaised)
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

from nats.js import JetStreamContext

from infra.projector import Feed, Projector
from infra.readdb import ReadDB
from projections.audit import AuditTrail
from projections.base import Projection
from projections.sla import SlaView
from projections.stats import Statistics
from services.audit_queries import AuditService
from services.desk import TicketDesk
from services.group_impact import GroupImpact, ReportsByCategory
from services.handlers import Answer
from services.sla_queries import SlaService
from services.sla_watcher import SlaWatcher
from services.stats_query import StatsService


def projections_for(desk: TicketDesk) -> list[Projection]:
    teams = {a.id: a.team for a in desk.policy.agents}
    return [SlaView(), AuditTrail(), Statistics(teams), ReportsByCategory()]


@dataclass
class ReadSide:
    desk: TicketDesk
    store_url: str
    js: JetStreamContext
    projectors: dict[str, Projector] = field(default_factory=dict)
    tasks: list[asyncio.Task] = field(default_factory=list)

    def __post_init__(self) -> None:
        policy, clock = self.desk.policy, self.desk.clock
        self.sla = SlaService(ReadDB(self.store_url), policy, clock)
        self.audit = AuditService(ReadDB(self.store_url))
        self.stats = StatsService(ReadDB(self.store_url), policy, clock)
        self.watcher = SlaWatcher(self.desk, self.sla)
        self.group = GroupImpact(self.desk, ReadDB(self.store_url))
        for projection in projections_for(self.desk):
            self.projectors[projection.name] = Projector(
                projection, ReadDB(self.store_url), self.js, on_applied=self._applied)

    def answers(self) -> dict[str, Answer]:
        return {"sla": self.sla.sla, "audit": self.audit.audit, "stats": self.stats.stats}

    def _applied(self, name: str, events: Sequence[dict]) -> None:
        if name == "sla":
            self.watcher.refresh({e["subject"] for e in events})
        elif name == "reports":
            self.group.check(events)

    def start(self) -> None:
        self.feed = Feed(list(self.projectors.values()), self.js)
        self.tasks = [asyncio.create_task(self.feed.run(), name="projections")]
        self.tasks.append(asyncio.create_task(self.watcher.run(), name="sla-watcher"))
        self.tasks.append(asyncio.create_task(self.group.run(), name="group-impact"))

    async def stop(self) -> None:
        """Each part finishes what it has in hand: a worker thread still saving must not
        find the store closed under it."""
        self.feed.stop()
        self.group.stop()
        self.watcher.stop()
        _, late = await asyncio.wait(self.tasks, timeout=15)
        for task in late:
            task.cancel()
