"""The monthly improvement report: what a manager forwards, from the problems' replies."""

from __future__ import annotations

from datetime import UTC, datetime

from services.cli.problems import improvement_report

START, END = datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)


def action(**fields) -> dict:
    base = {
        "title": "修复登录",
        "owner": "A007",
        "due": "2026-11-20T00:00:00Z",
        "done_at": "2026-11-18T00:00:00Z",
        "baseline": 7200.0,
        "result": 600.0,
        "verdict": "effective",
    }
    return {**base, **fields}


def problem(number: str, **fields) -> dict:
    base = {
        "number": number,
        "title": "APP | 登录闪退\n第二行",
        "status": "open",
        "tickets": ["t1", "t2", "t3"],
        "opened_at": "2026-11-02T00:00:00Z",
        "closed_at": None,
        "recurring": False,
        "actions": [action()],
    }
    return {**base, **fields}


def test_it_counts_the_month_s_problems_actions_on_time_and_verdicts() -> None:
    late = action(title="改流程", done_at="2026-11-25T00:00:00Z", verdict="improved")
    text = improvement_report(
        [
            problem("PB1", actions=[action(), late]),
            problem(
                "PB2",
                opened_at="2026-10-30T00:00:00Z",
                status="closed",
                closed_at="2026-11-28T00:00:00Z",
                recurring=True,
            ),
        ],
        "2026-11",
        START,
        END,
    )
    assert "Problems opened: **1**; closed: **1**" in text
    assert "Actions done: **3**, on time: **2**" in text
    assert "effective 2, improved 1, not effective 0, pending 0" in text
    assert "APP \\| 登录闪退 第二行" in text  # a cell never breaks the table
    assert "7200 → 600" in text


def test_a_month_without_work_says_so() -> None:
    text = improvement_report([], "2026-11", START, END)
    assert "no action was done this month" in text and "Problems opened: **0**" in text
