"""`/metrics`, `/healthz` and `/readyz` over HTTP (`up --metrics-port`), for Prometheus
and for the probes of a container platform."""

from __future__ import annotations

import json

from infra.metrics import CONTENT_TYPE
from infra.metrics_http import Response, Route
from services.ops.metrics import Ops


def probe_routes(ops: Ops) -> dict[str, Route]:
    async def metrics() -> Response:
        return 200, CONTENT_TYPE, (await ops.metrics_text()).encode()

    async def alive() -> Response:
        return 200, "text/plain", b"ok\n"  # the event loop answers: the process is alive

    async def ready() -> Response:
        report = await ops.health.report()
        body = json.dumps(report, ensure_ascii=False, indent=2).encode() + b"\n"
        return (200 if report["status"] == "ready" else 503), "application/json", body

    return {"/metrics": metrics, "/healthz": alive, "/readyz": ready}
