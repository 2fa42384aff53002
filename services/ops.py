"""Operations, wired: `tickets.query.health` and `tickets.query.metrics` over NATS, and
`/metrics`, `/healthz`, `/readyz` over HTTP (`up --metrics-port`)."""

from __future__ import annotations

import json
from collections.abc import Callable

from faststream.nats import NatsRouter
from pydantic import BaseModel, ConfigDict

from infra.metrics import CONTENT_TYPE
from infra.metrics_http import Response, Route
from services.handlers import QUEUE, replies_for_errors
from services.health import Health
from services.messages import Actor
from services.metrics import Counters, render

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


class Ops:
    def __init__(self, health: Health, counters: Callable[[], Counters]) -> None:
        self.health, self.counters = health, counters

    async def metrics_text(self) -> str:
        return render(await self.health.report(), self.counters())

    def http_routes(self) -> dict[str, Route]:
        return {"/metrics": self._metrics, "/healthz": self._alive, "/readyz": self._ready}

    async def _metrics(self) -> Response:
        return 200, CONTENT_TYPE, (await self.metrics_text()).encode()

    async def _alive(self) -> Response:
        return 200, "text/plain", b"ok\n"  # the event loop answers: the process is alive

    async def _ready(self) -> Response:
        report = await self.health.report()
        body = json.dumps(report, ensure_ascii=False, indent=2).encode() + b"\n"
        return (200 if report["status"] == "ready" else 503), "application/json", body


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
