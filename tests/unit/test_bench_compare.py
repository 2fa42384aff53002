"""`bench.compare` tells a regression from an improvement, figure by figure."""

from __future__ import annotations

from bench.compare import compare, figures, verdict
from bench.suite import last_json


def report(commit: str, **results: dict) -> dict:
    return {
        "commit": commit,
        "size": "full",
        "benches": {n: {"result": r} for n, r in results.items()},
    }


def test_every_number_of_a_bench_is_a_figure_named_by_its_path() -> None:
    found = dict(figures({"service": {"tickets_per_s": 594, "ok": True}, "runs": [1.5]}, "intake"))
    assert found == {"intake.service.tickets_per_s": 594.0, "intake.runs[0]": 1.5}


def test_a_rate_that_falls_and_a_time_that_grows_are_worse() -> None:
    assert verdict("intake.tickets_per_s", 600, 500, 5)[1] == "worse"
    assert verdict("latency.p99_ms", 10, 12, 5)[1] == "worse"
    assert verdict("latency.p99_ms", 10, 8, 5)[1] == "better"
    assert verdict("kb_suggest.hits.index.all.top3", 0.90, 0.80, 5)[1] == "worse"
    assert verdict("kb_reports.lost", 1, 3, 5)[1] == "worse"
    assert verdict("intake.tickets_per_s", 600, 610, 5) == (10 / 6, "")  # within the threshold


def test_the_comparison_lists_changed_figures_and_figures_on_one_side_only() -> None:
    old = report("a1", intake={"tickets_per_s": 600, "raw": 3000}, replay={"p99_ms": 1})
    new = report("b2", intake={"tickets_per_s": 450, "raw": 3010}, kb_suggest={"top3": 0.9})
    new["benches"]["latency"] = {"failed": {"exit": 1, "stderr": "boom"}}
    lines = compare(old, new, 5, every=False)
    assert "| intake.tickets_per_s | 600 | 450 | -25.0 % | worse |" in lines
    assert not any(line.startswith("| intake.raw") for line in lines)  # moved under 5 %
    assert "only in the old: replay.p99_ms" in lines
    assert "only in the new: kb_suggest.top3" in lines
    assert "failed in the new: latency" in lines


def test_the_suite_keeps_the_json_line_a_bench_prints_last() -> None:
    assert last_json('| table |\n{"a": 1}\nnoise\n{"b": 2}\n') == {"b": 2}
    assert last_json("no json here") is None
