"""The Prometheus metrics of one instance, from its health report and its own counters.

Gauges about the whole deployment (lags, DLQ) come from the health report and are the
same on every instance; counters (tickets received, intake batches) are this
process's since it started, as Prometheus counters are. A figure that could not be
read is left out rather than reported as 0.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from infra.metrics import Exposition, Histogram, Sample, one
from services.ops.health import Health


@dataclass
class Counters:
    """This process's own counts (intake runs here, or it does not)."""

    received: int = 0  # new tickets
    stored: int = 0  # valid intake requests stored (repeats included)
    rejected: int = 0  # intake requests dead-lettered
    batch_seconds: Histogram | None = None


def render(report: dict, counters: Counters) -> str:
    checks: dict[str, dict] = report["checks"]
    out = Exposition()
    out.gauge(
        "ticketflow_ready",
        "1 when every health check passes (status ready), else 0.",
        one(1 if report["status"] == "ready" else 0),
    )
    out.gauge(
        "ticketflow_health_check_ok",
        "1 when the health check passes, else 0.",
        *(one(1 if c["ok"] else 0, check=name) for name, c in checks.items()),
    )
    out.gauge(
        "ticketflow_build_info",
        "The running version (always 1).",
        one(1, version=report["version"], role=report["role"]),
    )
    out.gauge(
        "ticketflow_uptime_seconds",
        "Seconds since this instance started.",
        one(report["uptime_seconds"]),
    )
    out.gauge(
        "ticketflow_leader",
        "1 when this instance runs the relay and the read side.",
        one(1 if checks["leader"].get("here") else 0),
    )
    out.gauge(
        "ticketflow_intake_lag_messages",
        "Intake requests on TICKETS_INTAKE not yet stored (pending and in flight).",
        *_if(checks["intake"], "lag_messages"),
    )
    out.gauge(
        "ticketflow_relay_lag_events",
        "Ticket events in the store not yet on TICKETS_EVENTS (counted up to 10000).",
        *_if(checks["relay"], "lag_events"),
    )
    lags = checks["projections"].get("lag_events", {})
    out.gauge(
        "ticketflow_projection_lag_events",
        "Events on TICKETS_EVENTS a projection has not applied yet.",
        *(one(lag, projection=name) for name, lag in sorted(lags.items())),
    )
    out.gauge(
        "ticketflow_dlq_messages",
        "Records on TICKETS_DLQ (kept 90 days).",
        *_if(checks["dlq"], "messages"),
    )
    out.counter(
        "ticketflow_sla_breaches_total",
        "SLA breaches escalated by the leader's SLA watcher since it began leading.",
        *_if(checks["sla_watcher"], "breaches_escalated"),
    )
    out.counter(
        "ticketflow_tickets_received_total",
        "New tickets stored by this instance's intake.",
        one(counters.received),
    )
    out.counter(
        "ticketflow_intake_requests_total",
        "Intake requests handled by this instance, by outcome.",
        one(counters.stored, outcome="stored"),
        one(counters.rejected, outcome="rejected"),
    )
    if counters.batch_seconds is not None:
        out.histogram(
            "ticketflow_intake_batch_seconds",
            "Seconds to store one intake batch (one store transaction).",
            counters.batch_seconds,
        )
    return out.text()


def _if(check: dict[str, Any], key: str) -> list[Sample]:
    return [one(check[key])] if key in check else []


class Ops:
    """What the operations endpoints answer: the health report and the metrics text."""

    def __init__(self, health: Health, counters: Callable[[], Counters]) -> None:
        self.health, self.counters = health, counters

    async def metrics_text(self) -> str:
        return render(await self.health.report(), self.counters())
