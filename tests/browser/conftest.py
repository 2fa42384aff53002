"""Browser tests: real headless Chromium (Debian's `chromium`) driven by Playwright,
against a service running in this process. Without a Chromium they skip with the
reason; under CI=true that is a failure."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from services.bootstrap import build_service
from services.runtime.service import Service
from services.runtime.settings import Settings
from tests.browser import screenshots

CHROMIUM = os.environ.get("TICKETFLOW_TEST_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def chromium_or_skip() -> str:
    if shutil.which(CHROMIUM) or Path(CHROMIUM).exists():
        return CHROMIUM
    reason = f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true and {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator:
    path = chromium_or_skip()
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=path, args=ARGS)
        yield chromium
        await chromium.close()


@pytest.fixture
async def console(fresh_streams: str, tmp_path: Path, policy) -> AsyncIterator[Service]:
    settings = Settings(data_dir=tmp_path, nats_url=fresh_streams, policy=policy, http_port=0)
    service = build_service(settings)
    await service.start()
    yield service
    await service.stop()


@pytest.fixture
async def page(browser, console, tmp_path: Path) -> AsyncIterator:
    """A fresh browser context (no cookies) on the console; a screenshot of where it
    ended is kept under the test's temp dir."""
    context = await browser.new_context(locale="en-US", base_url=console.parts.http.url)
    page = await context.new_page()
    page.dialogs = []  # any alert() a page runs ends up here (none may)
    page.on("dialog", lambda dialog: page.dialogs.append(dialog.message))
    yield page
    await screenshots.save(page, tmp_path / "last-page.png")
    await context.close()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if screenshots.TAKEN:
        terminalreporter.section(f"screenshots of the console ({len(screenshots.TAKEN)})")
        for path in screenshots.TAKEN:
            terminalreporter.write_line(str(path))
