"""Suggestions are batched monthly, on real stores: when the month ends, its open
suggestions join its batch and the 15-working-day feedback runs from then; the
product team reads the batch as a report."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from projections.stats import Statistics
from services.application.commands import CommandService
from services.application.registration import Registrar
from services.automation.suggestions import SuggestionBatches
from services.cli.problems import suggestions_report
from tests.integration.projecting import project, projector
from tests.integration.test_desk import SUPERVISOR, command, request

IDEAS = ("建议增加夜间模式", "希望发票可以在线开具", "请问营业时间?")


def received(desk, clock) -> list:
    reqs = [
        dataclasses.replace(request(f"idea-{n}", content=text), arrived_at=clock.now)
        for n, text in enumerate(IDEAS)
    ]
    return [desk.load(r.ticket_id) for r in Registrar(desk).register(reqs)]


def test_a_month_s_open_suggestions_join_its_batch_when_it_ends(desk, clock, store_url) -> None:
    night, invoice, question = received(desk, clock)
    assert (night.type, invoice.type, question.type) == ("suggestion", "suggestion", "consultation")
    assert night.sla["batched"]["started_at"] is None  # no feedback clock before the batch
    command(CommandService(desk), "close", str(invoice.id), SUPERVISOR, resolution="已上线")
    stats = projector(Statistics({}), store_url)
    batches = SuggestionBatches(desk, stats.db)
    project(desk, stats)
    assert batches.batch_due() == 0  # November has not ended
    clock.now = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)  # 1 December, 09:00 in Shanghai
    assert batches.batch_due() == 1  # the closed one is answered already
    ticket = desk.load(night.id)
    assert ticket.batch == "2026-11"
    feedback = ticket.sla["batched"]
    assert feedback["started_at"] == clock.now
    tz = desk.policy.business_calendar.tz
    assert feedback["due"].astimezone(tz).isoformat() == "2026-12-22T18:00:00+08:00"  # 15 wd
    project(desk, stats)
    assert batches.batch_due() == 0  # a restart or a second instance batches nothing twice


def test_the_batch_report_lists_each_suggestion_by_category() -> None:
    tickets = [
        {"number": "CS202611240001", "category": "product/feature", "subject": None,
         "content": "建议增加夜间模式 | 深色", "status": "open", "batch": "2026-11",
         "received_at": "2026-11-24T02:00:00Z"},
        {"number": "CS202611250002", "category": "billing/invoice", "subject": None,
         "content": "希望发票可以在线开具", "status": "closed", "batch": None,
         "received_at": "2026-11-25T02:00:00Z"},
    ]  # fmt: skip
    report = suggestions_report(tickets, "2026-11")
    assert report.splitlines()[:3] == ["# Suggestions, 2026-11", "", "Received: **2**"]
    assert "| CS202611240001 | 建议增加夜间模式 \\| 深色 | open, batch 2026-11 |" in report
    assert "## billing/invoice (1)" in report
