"""The SLA what-if in headless Chromium: a manager pastes a policy with a bad key (refused
above the form, naming the key, shown as text and kept), then uploads a candidate file,
watches the job's progress page until it shows the comparison and the changed outcomes,
in English and in Chinese. A screenshot of each is kept under the test's temp dir."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from infra.policy_file import policy_from_text
from services.application.whatif import WhatIf
from tests.browser import screenshots
from tests.browser.pages import LoginPage, WhatIfPage
from tests.browser.test_console import published
from tests.integration.helpers import service_now

pytestmark = [pytest.mark.nats, pytest.mark.browser]
BAD = '[[sla]]\nfirst_response = "1h"\n"<b>bold</b>" = 1\n'
ONE_SECOND = b"""# a candidate: answer and resolve within a second, on the wall clock
[[sla]]
clock = "wall"
first_response = "1s"
resolution = "1s"
"""


@pytest.fixture
def gate(monkeypatch) -> Iterator[threading.Event]:
    """The what-if waits, having read half the log, until the test opens the gate (so
    the progress page can be seen: a few tickets take no time at all)."""
    opened = threading.Event()
    run = WhatIf.run

    def held(self, candidate, start, end, progress=None):  # type: ignore[no-untyped-def]
        if progress:
            progress("reading", 1, 2)
        opened.wait(30)
        return run(self, candidate, start, end, progress)

    monkeypatch.setattr(WhatIf, "run", held)
    yield opened
    opened.set()


async def shot(page, tmp_path: Path, name: str) -> None:
    await screenshots.save(page, tmp_path / name)


async def test_a_manager_runs_a_candidate_policy_and_reads_what_would_change(
    page, console, tmp_path, gate
) -> None:
    numbers = [
        await published(console, {"external_id": f"wi-{i}", "content": text})
        for i, text in enumerate(["页面白屏,报错500", "退款还没到账"])
    ]
    await asyncio.sleep(1.2)  # past the candidate's one-second targets
    today = service_now(console.desk.policy.business_calendar.tz).date()
    period = ((today - timedelta(days=1)).isoformat(), today.isoformat())
    await LoginPage(page).sign_in("M001", role="manager")
    await page.click("#nav-whatif")
    assert await page.locator("#from").input_value()  # last month, shown
    whatif = WhatIfPage(page)

    await whatif.run(pasted=BAD, period=period)
    assert "<b>bold</b>: Extra inputs are not permitted" in await whatif.problem()
    assert await page.locator("#problem b, main b:has-text('bold')").count() == 0
    assert await page.locator("#policy-text").input_value() == BAD
    assert await page.locator("#from").input_value() == period[0]
    await shot(page, tmp_path, "whatif-refused.png")

    await whatif.run(file=("candidate.toml", ONE_SECOND))  # the file wins over the text
    assert "/whatif/jobs/" in page.url
    assert "Reading the store's log" in await page.locator("#phase").inner_text()
    assert await page.locator("#whatif-progress").get_attribute("value") == "50"
    await shot(page, tmp_path, "whatif-progress.png")
    gate.set()
    await whatif.result()
    assert await page.locator("#whatif-tickets").inner_text() == "2"
    assert await page.locator("#overall-whatif").inner_text() == "0.0%"
    assert await page.locator("#overall-recorded").inner_text() == "—"  # nothing judged yet
    assert await page.locator("#compliance tbody tr").count() >= 4  # overall and groups
    changed = await whatif.changed()
    for number in numbers:
        assert (number, "first response", "open → breached") in changed
    link = page.locator("#changed a", has_text=numbers[0]).first
    assert await link.get_attribute("href") == f"/tickets/{numbers[0]}"
    await shot(page, tmp_path, "whatif-result-en.png")

    job = page.url
    await page.click("#lang-switch")
    await page.goto(job)
    assert await page.locator("h1").inner_text() == "时效策略推演"
    assert "超时" in await page.locator("#changed").inner_text()
    await shot(page, tmp_path, "whatif-result-zh.png")
    assert page.dialogs == []


async def test_an_agent_has_no_what_if(page, console) -> None:
    await LoginPage(page).sign_in("A007", role="agent")
    assert await page.locator("#nav-whatif").count() == 0
    reply = await page.goto("/whatif")
    assert reply.status == 403
    assert await page.locator("#problem").inner_text() == "Your role may not see this page."


NEXT_QUARTER = """
[[sla]]
clock = "wall"
first_response = "1h"
resolution = "48h"
"""


async def test_a_manager_applies_the_running_policy_to_a_ticket_and_to_every_open_one(
    page, console, tmp_path
) -> None:
    first, second = [
        await published(console, {"external_id": f"rp-{i}", "content": "退款还没到账"})
        for i in range(2)
    ]
    old = console.desk.policy.version
    console.desk.policy = policy_from_text(NEXT_QUARTER)  # the service now runs another
    new = console.desk.policy.version
    await LoginPage(page).sign_in("M001", role="manager")
    await page.goto(f"/tickets/{first}")
    assert old in await page.locator("#sla").inner_text()
    await page.click("#replan")
    assert await page.locator("#message").inner_text() == "Done."
    assert new in await page.locator("#sla").inner_text()  # each target's policy column
    timeline = await page.locator("#timeline").inner_text()
    assert "SlaReplanned" in timeline and "to_version: " + new in timeline
    await shot(page, tmp_path, "ticket-replanned.png")
    await page.click("#replan")  # again: nothing to change
    assert "Nothing to change" in await page.locator("#message").inner_text()

    await page.click("#nav-whatif")
    assert await page.locator("#running-policy").inner_text() == new
    await page.click("#replan-open")
    result = await page.locator("#replan-result").inner_text()
    assert "Replanned 1 · unchanged 1" in result, result  # the first was done already
    await shot(page, tmp_path, "whatif-replan-open.png")
    await page.goto(f"/tickets/{second}")
    assert new in await page.locator("#sla").inner_text()
