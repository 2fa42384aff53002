"""Prometheus text exposition (format 0.0.4), written by hand: a few gauges, counters and
one histogram do not need a client library.

    # HELP ticketflow_relay_lag_events Ticket events stored but not yet on TICKETS_EVENTS.
    # TYPE ticketflow_relay_lag_events gauge
    ticketflow_relay_lag_events 0
"""

from __future__ import annotations

import bisect
import math
import threading
from collections.abc import Iterable, Mapping

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
Labels = Mapping[str, str]
Sample = tuple[Labels, float]
BATCH_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Histogram:
    """Cumulative buckets of observed values (seconds); safe to observe from threads."""

    def __init__(self, buckets: Iterable[float] = BATCH_BUCKETS) -> None:
        self.bounds = tuple(sorted(buckets))
        self.counts = [0] * (len(self.bounds) + 1)  # the last one is +Inf
        self.sum = 0.0
        self._lock = threading.Lock()

    def observe(self, value: float) -> None:
        with self._lock:
            self.counts[bisect.bisect_left(self.bounds, value)] += 1
            self.sum += value

    @property
    def count(self) -> int:
        return sum(self.counts)

    def cumulative(self) -> list[tuple[float, int]]:
        """[(upper bound, observations <= it)], ending with (+Inf, count)."""
        with self._lock:
            counts = list(self.counts)
        running, out = 0, []
        for bound, n in zip((*self.bounds, math.inf), counts, strict=True):
            running += n
            out.append((bound, running))
        return out


class Exposition:
    """Metric families in the order they are added, each with its HELP and TYPE lines."""

    def __init__(self) -> None:
        self._lines: list[str] = []

    def gauge(self, name: str, help: str, *samples: Sample) -> None:
        self._family(name, "gauge", help, samples)

    def counter(self, name: str, help: str, *samples: Sample) -> None:
        self._family(name, "counter", help, samples)

    def histogram(self, name: str, help: str, histogram: Histogram) -> None:
        self._head(name, "histogram", help)
        buckets = histogram.cumulative()
        for bound, n in buckets:
            self._lines.append(f'{name}_bucket{{le="{_number(bound)}"}} {n}')
        self._lines.append(f"{name}_sum {_number(histogram.sum)}")
        self._lines.append(f"{name}_count {buckets[-1][1]}")

    def text(self) -> str:
        return "\n".join(self._lines) + "\n"

    def _family(self, name: str, kind: str, help: str, samples: Iterable[Sample]) -> None:
        self._head(name, kind, help)
        for labels, value in samples:
            self._lines.append(f"{name}{_labels(labels)} {_number(value)}")

    def _head(self, name: str, kind: str, help: str) -> None:
        text = help.replace("\\", "\\\\").replace("\n", "\\n")
        self._lines += [f"# HELP {name} {text}", f"# TYPE {name} {kind}"]


def one(value: float, **labels: str) -> Sample:
    return labels, value


def _labels(labels: Labels) -> str:
    if not labels:
        return ""
    body = ",".join(f'{k}="{_escape(str(v))}"' for k, v in sorted(labels.items()))
    return "{" + body + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if float(value).is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(float(value))
