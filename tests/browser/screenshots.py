"""The screenshots the browser tests take, listed at the end of the test run so that a
person can open the pages as the tests left them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

TAKEN: list[Path] = []


async def save(page: Any, path: Path) -> None:
    await page.screenshot(path=str(path), full_page=True)
    TAKEN.append(path)
