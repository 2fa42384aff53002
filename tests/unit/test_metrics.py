"""The Prometheus exposition and the health report's verdicts, without IO."""

from __future__ import annotations

import math

import pytest

from infra.metrics import Exposition, Histogram, one
from services.ops import health
from services.ops.metrics import Counters, render
from tests.prometheus_text import parse


def report(**checks: dict) -> dict:
    ok = {"ok": True}
    base = {
        "store": {**ok, "position": 10},
        "streams": ok,
        "intake": {**ok, "lag_messages": 3},
        "relay": {**ok, "lag_events": 2},
        "leader": {**ok, "here": True},
        "projections": {**ok, "lag_events": {"sla": 0, "audit": 5}},
        "sla_watcher": {**ok, "breaches_escalated": 4},
        "dlq": {**ok, "messages": 1},
    }
    return {
        "status": "ready",
        "version": "0.1.0",
        "role": "all",
        "uptime_seconds": 12.5,
        "checks": {**base, **checks},
    }


class TestTheExposition:
    def test_every_family_has_help_and_type_before_its_samples(self) -> None:
        families = parse(
            render(report(), Counters(received=7, stored=9, rejected=1, batch_seconds=Histogram()))
        )
        assert families["ticketflow_intake_lag_messages"].value() == 3
        assert families["ticketflow_relay_lag_events"].value() == 2
        lags = families["ticketflow_projection_lag_events"]
        assert (lags.value(projection="sla"), lags.value(projection="audit")) == (0, 5)
        assert families["ticketflow_sla_breaches_total"].kind == "counter"
        assert families["ticketflow_sla_breaches_total"].value() == 4
        assert families["ticketflow_dlq_messages"].value() == 1
        assert families["ticketflow_tickets_received_total"].value() == 7
        assert families["ticketflow_intake_requests_total"].value(outcome="rejected") == 1
        assert families["ticketflow_health_check_ok"].value(check="relay") == 1

    def test_a_figure_that_could_not_be_read_is_left_out_not_zero(self) -> None:
        failed = {"ok": False, "error": "TimeoutError"}
        families = parse(render(report(relay=failed, dlq=failed), Counters()))
        assert families["ticketflow_relay_lag_events"].samples == []
        assert families["ticketflow_dlq_messages"].samples == []
        assert families["ticketflow_health_check_ok"].value(check="relay") == 0

    def test_histogram_buckets_are_cumulative_and_end_at_inf(self) -> None:
        h = Histogram(buckets=(0.1, 1.0))
        for value in (0.05, 0.1, 0.5, 3.0):
            h.observe(value)
        out = Exposition()
        out.histogram("x_seconds", "x", h)
        family = parse(out.text())["x_seconds"]
        buckets = {ls["le"]: v for n, ls, v in family.samples if n == "x_seconds_bucket"}
        assert buckets == {"0.1": 2, "1": 3, "+Inf": 4}
        sums = [v for n, _, v in family.samples if n == "x_seconds_sum"]
        assert sums == [pytest.approx(3.65)]

    def test_label_values_and_help_are_escaped(self) -> None:
        out = Exposition()
        out.gauge("g", "a help with \\ and\nnewline", one(1, name='say "hi"\\\n'))
        text = out.text()
        assert 'g{name="say \\"hi\\"\\\\\\n"} 1' in text
        assert "# HELP g a help with \\\\ and\\nnewline" in text
        parse(text)

    def test_special_values_are_spelled_as_prometheus_does(self) -> None:
        out = Exposition()
        out.gauge("g", "h", one(math.inf, k="a"), one(math.nan, k="b"), one(0.25, k="c"))
        assert out.text().splitlines()[2:] == ['g{k="a"} +Inf', 'g{k="b"} NaN', 'g{k="c"} 0.25']

    def test_the_strict_reader_refuses_a_sample_without_its_family(self) -> None:
        with pytest.raises(AssertionError):
            parse("ticketflow_ready 1\n")
        with pytest.raises(AssertionError):
            parse("# HELP a x\n# TYPE a gauge\na{bad label} 1\n")


class TestTheVerdicts:
    def test_a_check_is_ok_unless_it_names_an_error(self) -> None:
        assert health._check_of(5, lambda top: {"position": top}) == {"ok": True, "position": 5}
        assert health._check_of(RuntimeError("down"), dict) == {
            "ok": False,
            "error": "RuntimeError: down",
        }
        assert health._check_of({"x": 1}, lambda f: {**f, "error": "stopped"})["ok"] is False

    def test_a_lag_fails_only_when_its_position_stands_still_for_the_stall_period(
        self, monkeypatch
    ) -> None:
        clock = [1000.0]
        monkeypatch.setattr(health.time, "monotonic", lambda: clock[0])
        h = health.Health.__new__(health.Health)
        h._stalls = {}
        assert not h._stalled("relay", lag=100, position=5)
        clock[0] += health.STALL_SECONDS - 1
        assert not h._stalled("relay", lag=50, position=55)  # moved: the clock starts again
        clock[0] += health.STALL_SECONDS - 1
        assert not h._stalled("relay", lag=50, position=55)
        clock[0] += 1
        assert h._stalled("relay", lag=50, position=55)
        assert not h._stalled("relay", lag=0, position=55)  # caught up
