"""One small helper per console page: the steps a person takes on it."""

from __future__ import annotations

from typing import Any


class LoginPage:
    def __init__(self, page: Any) -> None:
        self.page = page

    async def sign_in(self, name: str, role: str | None = None, password: str | None = None):
        await self.page.goto("/login")
        await self.page.fill("#username", name)
        if role is not None:
            await self.page.select_option("#role", role)
        if password is not None:
            await self.page.fill("#password", password)
        await self.page.click("#sign-in")
        return BoardPage(self.page)


class BoardPage:
    def __init__(self, page: Any) -> None:
        self.page = page

    async def open(self) -> BoardPage:
        await self.page.goto("/")
        return self

    async def numbers(self) -> list[str]:
        return await self.page.locator("#board tbody td:first-child a").all_inner_texts()

    async def count(self, name: str) -> int:
        text = await self.page.locator(f"#counts li:has-text('{name}') b").inner_text()
        return int(text)

    async def open_ticket(self, number: str) -> TicketPage:
        await self.page.click(f"#board a:text-is('{number}')")
        return TicketPage(self.page)

    async def filter_by(self, key: str, value: str) -> BoardPage:
        """Choose a filter; the board reloads with it in the URL."""
        async with self.page.expect_navigation():
            await self.page.select_option(f"#filter-{key}", value)
        return self

    async def open_with_keys(self, down: int) -> TicketPage:
        """Move down the rows with `j`, then open the selected one with Enter."""
        for _ in range(down):
            await self.page.keyboard.press("j")
        async with self.page.expect_navigation():
            await self.page.keyboard.press("Enter")
        return TicketPage(self.page)


class TicketPage:
    def __init__(self, page: Any) -> None:
        self.page = page

    async def open(self, number: str, as_of: int | None = None) -> TicketPage:
        await self.page.goto(f"/tickets/{number}" + (f"?as_of={as_of}" if as_of else ""))
        return self

    async def assign(self, assignee: str) -> str:
        await self.page.fill("#assign-to", assignee)
        await self.page.click("#assign")
        return await self.page.locator("#message").inner_text()

    async def reveal_contact(self, reason: str) -> str:
        """Reveal the customer's contact, saying why; the phone number now shown."""
        await self.page.fill("#reveal-reason", reason)
        await self.page.click("#reveal_contact")
        return await self.page.locator("#revealed-phone").inner_text()

    async def step_back_to_moment(self, local: str) -> TicketPage:
        """`local`: `YYYY-MM-DDTHH:MM:SS` on the team's clock."""
        await self.page.fill("#as-at-time", local)
        await self.page.click("#as-at-show")
        return self

    async def timeline(self) -> list[str]:
        return await self.page.locator("#timeline tbody td b").all_inner_texts()

    async def assignee(self) -> str:
        return await self.page.locator("#assignee").inner_text()

    async def step_back_to(self, version: int) -> TicketPage:
        await self.page.select_option("#as-of-version", str(version))
        await self.page.click("#as-of-show")
        return self


class StatsPage:
    def __init__(self, page: Any) -> None:
        self.page = page

    async def open(self, query: str = "") -> StatsPage:
        await self.page.goto("/stats" + (f"?{query}" if query else ""))
        return self

    async def count(self, key: str) -> str:
        """A count on top: tickets_total, open or closed_now."""
        return await self.page.locator(f"#count-{key}").inner_text()

    async def bars(self) -> int:
        return await self.page.locator("#per-day svg.chart rect.bar").count()

    async def open_figure(self, selector: str) -> TicketListPage:
        await self.page.click(selector)
        await self.page.wait_for_url("**/tickets?**")
        return TicketListPage(self.page)


class TicketListPage:
    def __init__(self, page: Any) -> None:
        self.page = page

    async def numbers(self) -> list[str]:
        return await self.page.locator("#tickets tbody td:first-child").all_inner_texts()

    async def count(self) -> int:
        return int(await self.page.locator("#found").get_attribute("data-count"))


class AuditPage:
    def __init__(self, page: Any) -> None:
        self.page = page

    async def open(self, query: str = "") -> AuditPage:
        await self.page.goto("/audit" + (f"?{query}" if query else ""))
        return self

    async def sequences(self) -> list[str]:
        rows = self.page.locator("#audit tbody tr")
        return [await rows.nth(i).get_attribute("data-sequence") for i in range(await rows.count())]

    async def next(self) -> AuditPage:
        await self.page.click("#next")
        return self

    async def first(self) -> AuditPage:
        await self.page.click("#first")
        return self


class ProblemPage:
    """A problem's page: its tickets, the analysis, the actions and their effect."""

    def __init__(self, page: Any) -> None:
        self.page = page

    async def record_5w1h(self, root_cause: str, **headings: str) -> str:
        for heading, text in headings.items():
            await self.page.fill(f"#rca-{heading}", text)
        await self.page.fill("#rca-root-cause", root_cause)
        async with self.page.expect_navigation():  # the answer, not the page before it
            await self.page.click("#record_root_cause")
        return await self.page.locator("#message").inner_text()

    async def plan(self, title: str, owner: str, due: str, metric: str, op: str, value: str,
                   window: str) -> str:  # fmt: skip
        await self.page.fill("#action-title", title)
        await self.page.fill("#action-owner", owner)
        await self.page.fill("#action-due", due)
        await self.page.select_option("#action-metric", metric)
        await self.page.select_option("#action-op", op)
        await self.page.fill("#action-value", value)
        await self.page.fill("#action-window", window)
        async with self.page.expect_navigation():  # the answer, not the page before it
            await self.page.click("#plan_action")
        return await self.page.locator("#message").inner_text()

    async def mark_done(self, action_id: str, note: str) -> str:
        await self.page.fill(f"#note-{action_id}", note)
        await self.page.select_option(f"#status-{action_id}", "done")
        async with self.page.expect_navigation():  # the answer, not the page before it
            await self.page.click("#update_action")
        return await self.page.locator("#message").inner_text()

    async def verdict(self, action_id: str) -> str:
        return await self.page.locator(f"#action-{action_id} .state").inner_text()


class WhatIfPage:
    """The SLA what-if: a candidate policy (pasted, or a file) and a period; the job's
    progress, then the comparison."""

    def __init__(self, page: Any) -> None:
        self.page = page

    async def open(self) -> WhatIfPage:
        await self.page.goto("/whatif")
        return self

    async def run(
        self,
        pasted: str | None = None,
        file: tuple[str, bytes] | None = None,
        period: tuple[str, str] | None = None,
    ) -> WhatIfPage:
        """Fill the form and press Run; the page it answers with (the form again with
        the reason, or the job's page)."""
        if pasted is not None:
            await self.page.fill("#policy-text", pasted)
        if file is not None:
            name, data = file
            await self.page.set_input_files(
                "#policy-file", {"name": name, "mimeType": "text/plain", "buffer": data}
            )
        if period is not None:
            await self.page.fill("#from", period[0])
            await self.page.fill("#to", period[1])
        async with self.page.expect_navigation():
            await self.page.click("#run")
        return self

    async def problem(self) -> str:
        return await self.page.locator("#problem").inner_text()

    async def result(self, timeout: float = 30) -> WhatIfPage:
        """Once the job's page (which reloads itself) shows the comparison."""
        await self.page.wait_for_selector("#whatif-result", timeout=timeout * 1000)
        return self

    async def changed(self) -> list[tuple[str, str, str]]:
        """(number, target, "recorded → what-if") of each changed outcome listed."""
        rows = self.page.locator("#changed tbody tr")
        found = []
        for i in range(await rows.count()):
            cells = await rows.nth(i).locator("td").all_inner_texts()
            found.append((cells[0], cells[1], cells[2]))
        return found
