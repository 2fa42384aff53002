"""`tickets.query.health` and `tickets.query.metrics`: the operations queries over NATS
(the same answers as `/readyz` and `/metrics` over HTTP)."""

from __future__ import annotations

from faststream.nats import NatsRouter
from pydantic import BaseModel, ConfigDict

from infra.metrics import CONTENT_TYPE
from services.application.messages import Actor
from services.edge.nats.handlers import QUEUE, replies_for_errors
from services.ops.metrics import Ops

HEALTH, METRICS = "tickets.query.health", "tickets.query.metrics"


class HealthQuery(BaseModel):
    """Is the service ready? Replies `{"ok": true, "status": "ready"|"starting"|"degraded",
    "checks": {...}}`: store, streams, intake, relay, projections, leader, SLA watcher,
    dead letters (docs/operations.md)."""

    model_config = ConfigDict(extra="forbid")
    actor: Actor | None = None


class MetricsQuery(BaseModel):
    """The answering instance's metrics in the Prometheus text format: replies
    `{"ok": true, "content_type": "text/plain; version=0.0.4; ...", "text": "..."}`."""

    model_config = ConfigDict(extra="forbid")
    actor: Actor | None = None


def ops_router(ops: Ops | None) -> NatsRouter:
    """The two queries; `ops` None only to document them (AsyncAPI)."""
    router = NatsRouter(middlewares=[replies_for_errors()])

    @router.subscriber(HEALTH, queue=QUEUE, title=HEALTH)
    async def query_health(request: HealthQuery) -> dict:
        """Is the service ready, and how far behind is each part? Replies `{"ok": true,
        "status": "ready"|"starting"|"degraded", "instance", "role", "version",
        "uptime_seconds", "checked_at", "checks": {name: {"ok", ..., "error"?}}}` with the
        checks store, streams, intake, relay, projections, leader, sla_watcher, dlq."""
        assert ops is not None
        return await ops.health.report()

    @router.subscriber(METRICS, queue=QUEUE, title=METRICS)
    async def query_metrics(request: MetricsQuery) -> dict:
        """The answering instance's metrics in the Prometheus text format (as on its
        `/metrics`): replies `{"ok": true, "content_type", "text"}`."""
        assert ops is not None
        return {"ok": True, "content_type": CONTENT_TYPE, "text": await ops.metrics_text()}

    return router
