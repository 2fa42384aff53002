"""The console's what-if jobs and the page's view of a report: a few run at once, a
result is kept an hour, a refusal is kept with its reason, at most 200 changed outcomes
are listed (and counted all)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from domain.errors import Invalid
from services.application.whatif import SlaWhatIf
from services.edge.http.console import i18n
from services.edge.http.console.whatif_pages import (
    CHANGES_SHOWN,
    KEPT_SECONDS,
    RUNNING_AT_ONCE,
    WhatIfJobs,
    percent,
    report_view,
)

ASKED = SlaWhatIf.model_validate({"policy": "", "actor": {"id": "M001", "role": "manager"}})
SIDE = {
    "sla_compliance": 0.5,
    "sla_targets": {"met": 1, "breached": 1},
    "targets": {"resolution": {"met": 1, "breached": 1}},
    "by_type": {"complaint": {"sla_compliance": 0.5, "met": 1, "breached": 1}},
    "by_priority": {"none": {"sla_compliance": 0.5, "met": 1, "breached": 1}},
    "by_team": {"none": {"sla_compliance": 0.5, "met": 1, "breached": 1}},
}


def report(changes: int) -> dict[str, Any]:
    worse = {**SIDE, "sla_compliance": 0.25}
    changed = [
        {"number": f"CS{i:04d}", "target": "resolution", "recorded": "met", "whatif": "breached"}
        for i in range(changes)
    ]
    return {"tickets": 2, "recorded": SIDE, "whatif": worse, "changed": changed, "seconds": 0.1}


class Slow:
    """A what-if that holds until released, then answers."""

    def __init__(self, answer: dict | Exception) -> None:
        self.answer_with, self.go = answer, threading.Event()

    def answer(self, request: SlaWhatIf, progress: Any = None) -> dict:
        progress("replaying", 1, 4)
        self.go.wait(5)
        if isinstance(self.answer_with, Exception):
            raise self.answer_with
        return self.answer_with


class Clock:
    now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_a_few_run_at_once_and_a_result_is_kept_an_hour() -> None:
    slow, clock = Slow(report(CHANGES_SHOWN + 5)), Clock()
    jobs = WhatIfJobs(slow, clock)  # type: ignore[arg-type]
    started = [jobs.start(ASKED, ("2026-11-01", "2026-11-30")) for _ in range(RUNNING_AT_ONCE)]
    assert all(started) and jobs.start(ASKED, ("", "")) is None
    await asyncio.sleep(0.05)
    job = started[0]
    assert job is not None and (job.phase, job.done, job.total) == ("replaying", 1, 4)
    assert percent(job.done, job.total) == 25 and percent(0, 0) is None
    slow.go.set()
    await asyncio.gather(*(j.task for j in started if j and j.task))
    assert job.report is not None and len(job.report["changed"]) == CHANGES_SHOWN
    assert job.changed_total == CHANGES_SHOWN + 5
    assert jobs.get(job.id) is job
    clock.now += KEPT_SECONDS + 1
    assert jobs.get(job.id) is None and jobs.jobs == {}


async def test_a_refusal_is_kept_with_its_reason() -> None:
    slow = Slow(Invalid("policy: sla.0.first_respons: Extra inputs are not permitted"))
    slow.go.set()
    jobs = WhatIfJobs(slow)  # type: ignore[arg-type]
    job = jobs.start(ASKED, ("2026-11-01", "2026-11-30"))
    assert job is not None and job.task is not None
    await job.task
    assert job.finished and job.report is None
    assert job.error is not None and "first_respons" in job.error.message


def test_the_view_compares_each_group_and_lists_the_first_changes() -> None:
    words = i18n.words("en")
    full = report(CHANGES_SHOWN + 5)
    view = report_view({**full, "changed": full["changed"][:CHANGES_SHOWN]}, 205, words)
    overall = view["overall"]
    assert (overall["recorded"], overall["whatif"], overall["change"]) == (
        "50.0%",
        "25.0%",
        "-25.0 pt",
    )
    assert overall["trend"] == "worse" and overall["recorded_counts"] == "1 / 1"
    groups = {g["id"]: [r["label"] for r in g["rows"]] for g in view["groups"]}
    assert groups == {"type": ["complaint"], "priority": ["unclassified"], "team": ["Unassigned"]}
    assert view["targets"][0]["label"] == "resolution"
    assert len(view["changed"]) == CHANGES_SHOWN and view["changed_more"] == 5
    assert view["changed"][0]["target_label"] == "resolution"
    chinese = report_view(full, len(full["changed"]), i18n.words("zh"))
    assert chinese["overall"]["change"] == "-25.0 个百分点"
    assert [r["label"] for r in chinese["groups"][0]["rows"]] == ["投诉"]
