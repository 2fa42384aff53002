"""The console as the people who use it see it, in headless Chromium: sign in, find a
request on the board, open it, assign it, step back through its history."""

from __future__ import annotations

import asyncio
import re
import time
from datetime import datetime, timedelta

import httpx
import nats
import pytest

from domain.ticket import ticket_id_for
from services.application.messages import HistoryQuery
from tests.browser.pages import BoardPage, LoginPage, ProblemPage, TicketPage
from tests.integration.helpers import ask, publish_request, service_now

pytestmark = [pytest.mark.nats, pytest.mark.browser]
HOSTILE = {
    "external_id": "evil-1",
    "content": '<script>alert("content")</script> 页面白屏 <img src=x onerror=alert("img")>',
    "customer": {"name": '<b onmouseover=alert("name")>张女士</b>', "phone": "13812345678"},
}


async def published(console, body: dict, channel: str = "web") -> str:
    """Publish a request over NATS as a channel adapter does; its number once stored."""
    nc = await nats.connect(console.url)
    try:
        await publish_request(nc.jetstream(), channel, body)
        ticket_id = str(ticket_id_for(channel, body["external_id"]))
        deadline = time.monotonic() + 10
        while not (reply := await ask(nc, "tickets.query.ticket", {"ticket_id": ticket_id}))["ok"]:
            assert time.monotonic() < deadline, reply
            await asyncio.sleep(0.05)
        return reply["ticket"]["number"]
    finally:
        await nc.close()


async def on_board(board: BoardPage, number: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while number not in await (await board.open()).numbers():
        assert time.monotonic() < deadline, f"{number} never showed on the board"
        await asyncio.sleep(0.2)


async def test_a_supervisor_signs_in_and_finds_a_new_request_on_the_board(page, console) -> None:
    number = await published(console, {"external_id": "w-1", "content": "页面白屏,报错500"})
    board = await LoginPage(page).sign_in("S001", role="supervisor")
    assert await page.locator("#who").inner_text() == "S001 · supervisor"
    await on_board(board, number)
    assert await board.count("Unassigned") >= 1


async def test_assigning_from_the_ticket_page_and_stepping_back_through_history(
    page, console
) -> None:
    number = await published(console, {"external_id": "w-2", "content": "无法登录 APP"})
    board = await LoginPage(page).sign_in("S001", role="supervisor")
    await on_board(board, number)
    ticket = await board.open_ticket(number)
    assert await ticket.assign("A007") == "Done."
    assert await ticket.assignee() == "A007"
    assert "Assigned" in await page.locator("#timeline").inner_text()
    assert await page.locator("#verified").inner_text() == "History verified"
    await ticket.step_back_to(2)
    assert await ticket.assignee() == "—"
    assert "Viewing version 2" in await page.locator("#as-of-banner").inner_text()
    assert await page.locator("#actions").count() == 0  # the past is read-only


async def test_stepping_back_to_a_moment_on_the_team_s_clock(page, console) -> None:
    number = await published(console, {"external_id": "w-2t", "content": "无法登录 APP"})
    await asyncio.sleep(1.2)  # the assignment comes in a later second than the request
    await LoginPage(page).sign_in("S001", role="supervisor")
    ticket = await TicketPage(page).open(number)
    assert await ticket.assign("A007") == "Done."
    received = await page.locator("#timeline tbody tr:first-child time").get_attribute("datetime")
    assert received
    tz = console.desk.policy.business_calendar.tz
    moment = datetime.fromisoformat(received).astimezone(tz).replace(microsecond=0)
    after_received = (moment + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%S")
    await ticket.step_back_to_moment(after_received)
    assert await ticket.assignee() == "—"  # not assigned yet at that moment
    assert "Viewing version 2" in await page.locator("#as-of-banner").inner_text()


async def test_a_form_on_a_stale_page_says_someone_else_changed_the_ticket(page, console) -> None:
    number = await published(console, {"external_id": "w-3", "content": "退款还没到账"})
    await LoginPage(page).sign_in("S001", role="supervisor")
    ticket = await TicketPage(page).open(number)
    nc = await nats.connect(console.url)  # meanwhile, someone else assigns it
    reply = await ask(
        nc,
        "tickets.cmd.assign",
        {"number": number, "assignee": "A008", "actor": {"id": "S002", "role": "supervisor"}},
    )
    await nc.close()
    assert reply["ok"], reply
    message = await ticket.assign("A007")
    assert "Someone else changed this ticket" in message
    assert await ticket.assignee() == "A008"


async def test_what_a_customer_typed_is_shown_as_text_and_runs_nothing(page, console) -> None:
    number = await published(console, HOSTILE)
    await LoginPage(page).sign_in("S001", role="supervisor")
    await TicketPage(page).open(number)
    assert '<script>alert("content")</script>' in await page.locator("#content").inner_text()
    assert "<b onmouseover" in await page.locator("#customer").inner_text()
    await page.hover("#customer")
    assert page.dialogs == []
    assert await page.locator("#content script, #content img, #customer b").count() == 0


async def test_on_the_board_too_a_request_s_words_are_text_and_reordering_is_visible(
    page, console
) -> None:
    body = {
        "external_id": "evil-2",
        "content": 'javascript:alert(1) <img src=x onerror=alert("board")> 发票\u202efdp.exe',
        "attachments": [{"name": "<svg onload=alert(2)>.png", "url": "javascript:alert(3)"}],
    }
    number = await published(console, body)
    board = await LoginPage(page).sign_in("S001", role="supervisor")
    await on_board(board, number)
    row = page.locator(f"#board tr:has(a:text-is('{number}')) td.summary")
    assert "[U+202E]fdp.exe" in await row.inner_text()
    assert "<img src=x" in await row.inner_text()
    await board.open_ticket(number)
    assert "<svg onload" in await page.locator("#attachments").inner_text()
    assert await page.locator("#attachments a").count() == 0  # javascript: is no link
    assert await page.locator("img, svg").count() == 0
    assert page.dialogs == []


async def test_an_auditor_reads_but_is_offered_no_actions(page, console) -> None:
    number = await published(console, {"external_id": "w-4", "content": "建议增加夜间模式"})
    await LoginPage(page).sign_in("AU1", role="auditor")
    await TicketPage(page).open(number)
    assert await page.locator("#timeline").count() == 1
    assert await page.locator("#actions, #reveal_contact-form").count() == 0


async def test_signing_out_ends_the_session(page, console) -> None:
    await LoginPage(page).sign_in("S001", role="supervisor")
    await page.click("#sign-out")
    await page.goto("/")
    assert page.url.endswith("/login")


async def test_the_console_speaks_chinese_to_a_chinese_browser(browser, console) -> None:
    context = await browser.new_context(locale="zh-CN", base_url=console.parts.http.url)
    page = await context.new_page()
    await LoginPage(page).sign_in("S001", role="supervisor")
    assert await page.locator("h1").inner_text() == "工单看板"
    await page.click("#lang-switch")
    assert await page.locator("h1").inner_text() == "Queue and SLA board"
    await context.close()


async def test_a_post_without_the_session_s_token_changes_nothing(console) -> None:
    base = console.parts.http.url
    async with httpx.AsyncClient(base_url=base, follow_redirects=False) as client:
        signed = await client.post("/login", data={"username": "S001", "role": "supervisor"})
        assert signed.status_code == 303 and "ticketflow_session" in signed.cookies
        number = await published(console, {"external_id": "w-5", "content": "查询订单"})
        forged = await client.post(f"/tickets/{number}/assign", data={"assignee": "A007"})
        assert forged.status_code == 403
        page = await client.get(f"/tickets/{number}")
        assert 'id="assignee">—<' in page.text
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert "unsafe-inline" not in page.headers["content-security-policy"]


async def test_the_board_shows_a_new_request_without_a_reload(page, console) -> None:
    await LoginPage(page).sign_in("S001", role="supervisor")
    await page.wait_for_selector("#board-area")
    await asyncio.sleep(0.5)  # the live feed is connected
    reloads: list[str] = []
    page.on("framenavigated", lambda frame: reloads.append(frame.url))
    number = await published(console, {"external_id": "live-1", "content": "支付失败"})
    await page.wait_for_selector(f"#board a:text-is('{number}')", timeout=5000)
    assert reloads == []


async def test_filters_live_in_the_url_and_the_keyboard_opens_a_row(page, console) -> None:
    phoned = await published(console, {"external_id": "p-1", "content": "电话打不通"}, "phone")
    mailed = await published(console, {"external_id": "m-1", "content": "发票抬头错了"}, "email")
    board = await LoginPage(page).sign_in("S001", role="supervisor")
    await on_board(board, mailed)
    await board.filter_by("channel", "phone")
    assert "channel=phone" in page.url
    assert await board.numbers() == [phoned]
    await page.reload()  # a filtered board survives a reload (and a shared link)
    assert await board.numbers() == [phoned]
    assert await page.locator("#filter-channel").input_value() == "phone"
    ticket = await board.open_with_keys(down=1)
    assert page.url.endswith(f"/tickets/{phoned}")
    assert phoned in await ticket.page.locator("h1").inner_text()


async def test_each_row_shows_the_request_s_first_line_and_counts_link_to_their_tickets(
    page, console
) -> None:
    number = await published(
        console, {"external_id": "row-1", "content": "APP 登录后闪退\n第二行不上看板"}, "app"
    )
    board = await LoginPage(page).sign_in("S001", role="supervisor")
    await on_board(board, number)
    row = page.locator(f"#board tr:has(a:text-is('{number}'))")
    summary = await row.locator("td.summary").inner_text()
    assert summary.startswith("APP 登录后闪退") and "第二行" not in summary
    await page.click("#count-unassigned")
    assert "unassigned=1" in page.url and number in await board.numbers()


async def test_a_countdown_runs_on_the_service_s_clock_not_the_browser_s(page, console) -> None:
    """The tests run the service weeks ahead of the browser's clock, as a wrong PC clock
    would be: the countdown still says how long the ticket has."""
    number = await published(console, {"external_id": "c-1", "content": "退款没到账"})
    board = await LoginPage(page).sign_in("S001", role="supervisor")
    await on_board(board, number)
    served = await page.locator("#board").get_attribute("data-now")
    countdown = page.locator(f"#board tr:has(a:text-is('{number}')) time")
    due = await countdown.get_attribute("datetime")
    shown = await countdown.inner_text()
    assert served and due and shown
    expected = (datetime.fromisoformat(due) - datetime.fromisoformat(served)).total_seconds()
    assert abs(seconds_of(shown) - expected) < 15, (shown, expected)


def seconds_of(countdown: str) -> int:
    """`-3h 05m 09s` -> -11109."""
    sign = -1 if countdown.startswith("-") else 1
    parts = {unit: int(value) for value, unit in re.findall(r"(\d+)([hms])", countdown)}
    return sign * sum(parts.get(u, 0) * s for u, s in (("h", 3600), ("m", 60), ("s", 1)))


async def test_revealing_the_contact_shows_it_once_and_records_the_look(page, console) -> None:
    body = {"external_id": "rv-1", "content": "请回电", "customer": {"phone": "13812345678"}}
    number = await published(console, body)
    await LoginPage(page).sign_in("S001", role="supervisor")
    ticket = await TicketPage(page).open(number)
    assert "13812345678" not in await page.locator("#customer").inner_text()
    assert await ticket.reveal_contact("calling back about the refund") == "13812345678"
    assert (await ticket.timeline())[-1] == "ContactRevealed"
    await ticket.open(number)  # shown on that answer only: the page masks it again
    assert "13812345678" not in await page.content()


async def test_three_customers_one_fault_become_a_problem_analysed_acted_on_and_judged(
    page, console
) -> None:
    reports = ("APP登录后马上闪退,什么都点不了", "一登录app就直接退出了", "app登录闪退!!!试了三次")
    numbers = [
        await published(console, {"external_id": f"pb-{i}", "content": text,
                                  "customer": {"customer_id": f"C{i}"}})
        for i, text in enumerate(reports)
    ]  # fmt: skip
    await LoginPage(page).sign_in("S001", role="supervisor")
    deadline = time.monotonic() + 10
    while not await page.locator("#problems a").count():
        assert time.monotonic() < deadline, "group impact opened no problem"
        await asyncio.sleep(0.3)
        await page.goto("/problems")
    await page.click("#problems a")
    shown = await page.locator("#tickets").inner_text()
    assert all(number in shown for number in numbers)
    problem = ProblemPage(page)
    done = await problem.record_5w1h("3.2.0 登录页空指针", what="登录后闪退", why="新版本空指针")
    assert (
        done == "Done." and await page.locator("#root-cause").inner_text() == "3.2.0 登录页空指针"
    )
    tz = console.desk.policy.business_calendar.tz
    due = (service_now(tz) + timedelta(days=14)).strftime("%Y-%m-%dT%H:%M")
    assert (
        await problem.plan(
            "修复并灰度发布", "A007", due, "first_response_seconds.p50", "<=", "1800", "2s"
        )
        == "Done."
    )
    assert await problem.mark_done("A1", "已发布 3.2.1") == "Done."
    await asyncio.sleep(2.5)  # the window after the action (2 s here) passes
    await page.reload()
    deadline = time.monotonic() + 70
    while await problem.verdict("A1") == "pending":
        assert time.monotonic() < deadline, "the service never judged the action"
        if await page.locator("#evaluate_action").count():  # ask at once rather than wait
            async with page.expect_navigation():
                await page.click("#evaluate_action")
        else:
            await asyncio.sleep(0.5)
            await page.reload()
    assert await problem.verdict("A1") == "not effective"  # nothing measured in 2 s
    assert "→" in await page.locator("#action-A1 .effect").inner_text()


@pytest.fixture
async def console_with_users(fresh_streams, tmp_path, policy):
    """A console whose users come from an auth file: a supervisor with a bcrypt hash and
    a channel adapter with a password in the environment."""
    import bcrypt

    from infra.auth_file import AuthFile
    from services.bootstrap import build_service
    from services.runtime.settings import Settings

    hashed = bcrypt.hashpw(b"lamp post 7", bcrypt.gensalt(rounds=4)).decode()
    auth = AuthFile.model_validate(
        {
            "users": [
                {"name": "alice", "role": "supervisor", "password_bcrypt": hashed},
                {"name": "webform", "role": "channel", "password_bcrypt": hashed},
            ]
        }
    )
    settings = Settings(data_dir=tmp_path, nats_url=fresh_streams, policy=policy, auth=auth)
    service = build_service(settings)
    await service.start()
    yield service
    await service.stop()


async def test_with_an_auth_file_only_its_people_sign_in_and_guessing_is_limited(
    browser, console_with_users
) -> None:
    context = await browser.new_context(locale="en-US", base_url=console_with_users.parts.http.url)
    page = await context.new_page()
    login = LoginPage(page)
    await login.sign_in("alice", password="lamp post 7")
    assert await page.locator("#who").inner_text() == "alice · supervisor"
    assert await page.locator("#local-mode").count() == 0
    await page.click("#sign-out")
    await login.sign_in("webform", password="lamp post 7")
    assert "Channel accounts cannot sign in" in await page.locator("#problem").inner_text()
    for _ in range(5):
        await login.sign_in("alice", password="wrong")
        assert "wrong password" in await page.locator("#problem").inner_text()
    await login.sign_in("alice", password="lamp post 7")  # right, but too late
    assert "Too many attempts" in await page.locator("#problem").inner_text()
    await context.close()


async def test_a_ticket_is_worked_to_closed_and_reopened_from_its_page(page, console) -> None:
    number = await published(console, {"external_id": "w-6", "content": "发票开错了"})
    await LoginPage(page).sign_in("S001", role="supervisor")
    ticket = await TicketPage(page).open(number)
    steps = [
        ("#escalate-reason", "customer called twice", "#escalate"),
        ("#classify-reason", "it is about the invoice", "#classify"),
        ("#note", "we asked finance", "#update"),
        ("#resolution", "invoice reissued", "#close"),
        ("#reopen-reason", "the new one is wrong too", "#reopen"),
    ]
    for field, text, button in steps:
        await page.fill(field, text)
        await page.click(button)
        assert await page.locator("#message").inner_text() == "Done.", button
    timeline = await page.locator("#timeline").inner_text()
    for kind in ("Escalated", "Classified", "ProgressUpdated", "Closed", "Reopened"):
        assert kind in timeline
    assert "the new one is wrong too" in timeline
    assert await ticket.assignee() == "—"


async def test_an_update_says_the_next_step_and_when_it_should_be_done(page, console) -> None:
    number = await published(console, {"external_id": "w-7", "content": "退款没到账"})
    await LoginPage(page).sign_in("S001", role="supervisor")
    await TicketPage(page).open(number)
    await page.fill("#note", "finance is checking the transfer")
    await page.fill("#next-step", "call the bank")
    await page.fill("#expected-done", "2030-01-15T17:30")  # on the team's clock
    await page.click("#update")
    assert await page.locator("#message").inner_text() == "Done."
    last = await page.locator("#timeline tbody tr:last-child").inner_text()
    assert "call the bank" in last
    assert "expected_done_at: 2030-01-15 17:30" in last  # shown on the team's clock
    history = await asyncio.to_thread(console.parts.answers["history"], HistoryQuery(number=number))
    update = [e for e in history["events"] if e["type"] == "ProgressUpdated"][-1]
    tz = console.desk.policy.business_calendar.tz
    expected = datetime(2030, 1, 15, 17, 30, tzinfo=tz)
    assert datetime.fromisoformat(update["data"]["expected_done_at"]) == expected


async def test_a_handler_asks_finance_records_its_answer_and_sees_what_the_customer_wants(
    page, console
) -> None:
    body = {"external_id": "w-8", "content": "退款一直没到账,我很着急"}
    number = await published(console, body)
    await LoginPage(page).sign_in("S001", role="supervisor")
    await TicketPage(page).open(number)
    assert await page.locator("#demand").inner_text() == "refund"
    assert await page.locator("#mood").inner_text() == "anxious"
    tz = console.desk.policy.business_calendar.tz
    due = (service_now(tz) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    await page.select_option("#department", "finance")
    await page.fill("#department-ask", "请核对退款流水")
    await page.fill("#department-due", due)
    await page.click("#request_department")
    assert await page.locator("#message").inner_text() == "Done."
    assert "department:D1" in await page.locator("#sla").inner_text()
    await page.fill("#department-answer", "已于今日退回原账户")
    await page.click("#answer_department")
    assert await page.locator("#message").inner_text() == "Done."
    timeline = await page.locator("#timeline").inner_text()
    for fact in ("DepartmentRequested", "finance", "DepartmentAnswered", "已于今日退回原账户"):
        assert fact in timeline
    row = page.locator("#sla tr:has-text('department:D1') .state")
    assert await row.inner_text() == "Met"
