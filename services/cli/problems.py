"""`ticketflow problems` and `ticketflow report improvement`: clients of a running
service, reading the `problems` and `problem` queries."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import typer
from rich.console import Console
from rich.table import Table

from services.cli.client import fail
from services.cli.options import ClientNatsUrl
from services.cli.read import _ask

report = typer.Typer(help="Reports a manager can forward, as Markdown.", no_args_is_help=True)
VERDICTS = ("effective", "improved", "not_effective", "pending")
COLUMNS: tuple[str, ...] = ("problem", "title", "status", "tickets", "action", "owner")
COLUMNS += ("due", "done", "baseline → result", "verdict")


def problems(
    nats_url: ClientNatsUrl = None,
    status: Annotated[str | None, typer.Option(help="Only `open` or `closed` problems.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the raw reply.")] = False,
) -> None:
    """Problems (what several tickets have in common), newest first.

    Each with its tickets, actions and overdue actions, and whether tickets still
    arrive after its actions were done."""
    if status not in (None, "open", "closed"):
        raise fail("--status must be open or closed", 2)
    reply = _ask(nats_url, "tickets.query.problems", {"status": status} if status else {})
    if as_json:
        typer.echo(json.dumps(reply, ensure_ascii=False, indent=2))
        return
    table = Table(title=f"Problems ({reply['count']})", title_justify="left")
    table.add_column("problem", no_wrap=True)
    table.add_column("title", ratio=1)
    for column in ("status", "tickets", "actions", "overdue", "opened"):
        table.add_column(column, no_wrap=column == "opened")
    for p in reply["problems"]:
        flag = " (recurring)" if p["recurring"] else ""
        overdue = f"[bold red]{p['overdue_actions']}[/]" if p["overdue_actions"] else "0"
        table.add_row(
            p["number"],
            p["title"],
            p["status"] + flag,
            str(p["tickets"]),
            str(p["actions"]),
            overdue,
            p["opened_at"][:16],
        )
    Console().print(table)


def month_bounds(month: str, tz: str) -> tuple[datetime, datetime]:
    """The first instant of `month` (YYYY-MM) and of the month after, in `tz`; exit
    status 2 for a bad month or time zone."""
    try:
        zone = ZoneInfo(tz)
        first = date.fromisoformat(f"{month}-01")
    except (ValueError, ZoneInfoNotFoundError) as error:
        raise fail(f"--month YYYY-MM and a known --tz: {error}", 2) from None
    start = datetime(first.year, first.month, 1, tzinfo=zone)
    end = datetime(first.year + first.month // 12, first.month % 12 + 1, 1, tzinfo=zone)
    return start, end


@report.command()
def improvement(
    month: Annotated[str, typer.Option(help="The month, as YYYY-MM.")],
    nats_url: ClientNatsUrl = None,
    tz: Annotated[str, typer.Option(help="The team's time zone (the month's bounds).")] = (
        "Asia/Shanghai"
    ),
) -> None:
    """The month's improvement report, as Markdown: problems opened and closed,
    actions done (and on time), the verdicts on their effect, problems still recurring."""
    start, end = month_bounds(month, tz)
    listed = _ask(nats_url, "tickets.query.problems", {"limit": 1000})["problems"]
    every = [
        _ask(nats_url, "tickets.query.problem", {"problem_id": p["problem_id"]})["problem"]
        for p in listed
    ]
    typer.echo(improvement_report(every, month, start, end))


def improvement_report(problems: list[dict], month: str, start: datetime, end: datetime) -> str:
    """Pure: the problems (as the `problem` query answers) in, Markdown out."""

    def within(moment: Any) -> bool:
        return bool(moment) and start <= datetime.fromisoformat(moment) < end

    opened = [p for p in problems if within(p["opened_at"])]
    closed = [p for p in problems if within(p.get("closed_at"))]
    done = [(p, a) for p in problems for a in p["actions"] if within(a["done_at"])]
    on_time = [pa for pa in done if pa[1]["done_at"] <= pa[1]["due"]]
    judged = [(p, a) for p in problems for a in p["actions"] if a["verdict"] != "pending"]
    verdicts = {v: sum(a["verdict"] == v for _, a in done) for v in VERDICTS}
    lines = [
        f"# Improvement report, {month}",
        "",
        f"- Problems opened: **{len(opened)}**; closed: **{len(closed)}**",
        f"- Actions done: **{len(done)}**, on time: **{len(on_time)}**",
        "- Verdicts on the actions done this month: "
        + ", ".join(f"{v.replace('_', ' ')} {n}" for v, n in verdicts.items()),
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "---|" * len(COLUMNS),
    ]
    for p, a in done or []:
        lines.append(
            f"| {p['number']} | {_cell(p['title'])} | {p['status']} | {len(p['tickets'])} | "
            f"{_cell(a['title'])} | {_cell(a['owner'])} | {a['due'][:10]} | {a['done_at'][:10]} | "
            f"{_n(a['baseline'])} → {_n(a['result'])} | {a['verdict'].replace('_', ' ')} |"
        )
    if not done:
        lines.append("| — | no action was done this month | | | | | | | | |")
    recurring = [p for p in problems if p.get("recurring") and p["status"] == "open"]
    lines += ["", f"Problems still recurring after their actions: **{len(recurring)}**"]
    lines += [
        f"- {p['number']} {_cell(p['title'])} ({len(p['tickets'])} tickets)" for p in recurring
    ]
    lines += ["", f"Verdicts recorded in all: {len(judged)}."]
    return "\n".join(lines)


def _cell(text: str) -> str:
    """Text as a Markdown table cell: no pipe or line break breaks the table."""
    return " ".join(str(text).split()).replace("|", "\\|")


def _n(value: float | None) -> str:
    return "—" if value is None else f"{value:g}"


@report.command()
def suggestions(
    month: Annotated[str, typer.Option(help="The batch's month, as YYYY-MM.")],
    nats_url: ClientNatsUrl = None,
    tz: Annotated[str, typer.Option(help="The team's time zone (the month's bounds).")] = (
        "Asia/Shanghai"
    ),
) -> None:
    """The month's batch of suggestions for the product team, as Markdown: each
    suggestion received that month, by category, with its words (contact data masked)
    and where it stands."""
    start, end = month_bounds(month, tz)
    rows, page = [], 1
    while True:
        query = {"type": "suggestion", "from": start.isoformat(), "to": end.isoformat()}
        reply = _ask(nats_url, "tickets.query.tickets", query | {"page": page, "limit": 500})
        rows += reply["tickets"]
        if page >= reply["pages"]:
            break
        page += 1
    tickets = [
        _ask(nats_url, "tickets.query.ticket", {"ticket_id": row["ticket_id"]})["ticket"]
        for row in rows
    ]
    typer.echo(suggestions_report(tickets, month))


def suggestions_report(tickets: list[dict], month: str) -> str:
    """Pure: the tickets (as the `ticket` query answers) in, Markdown out."""
    lines = [f"# Suggestions, {month}", "", f"Received: **{len(tickets)}**", ""]
    by_category: dict[str, list[dict]] = {}
    for t in sorted(tickets, key=lambda t: t["received_at"]):
        by_category.setdefault(t["category"] or "general", []).append(t)
    for category, group in sorted(by_category.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        lines += [f"## {category} ({len(group)})", "", "| ticket | suggestion | status |"]
        lines.append("|---|---|---|")
        for t in group:
            words = _cell(t["subject"] or t["content"])[:300]
            status = t["status"] + (f", batch {t['batch']}" if t.get("batch") else "")
            lines.append(f"| {t['number']} | {words} | {status} |")
        lines.append("")
    if not tickets:
        lines.append("No suggestion was received this month.")
    return "\n".join(lines).rstrip() + "\n"
