"""What `ticketflow sla` and `ticketflow stats` print: tables a person can read, from the
replies of the `sla` and `stats` queries (pure: replies in, rich tables out)."""

from __future__ import annotations

from datetime import datetime

from rich.table import Table

STATE_STYLE = {"breached": "bold red", "at_risk": "yellow", "on_track": "green"}
METRICS = (
    "tickets",
    "open",
    "closed",
    "sla_compliance",
    "fcr_rate",
    "csat",
    "reopen_rate",
    "escalations",
)


def _ago(due: str, now: str) -> str:
    seconds = (datetime.fromisoformat(due) - datetime.fromisoformat(now)).total_seconds()
    sign, seconds = ("in " if seconds >= 0 else "", abs(seconds))
    hours, rest = divmod(int(seconds), 3600)
    text = f"{hours}h {rest // 60:02d}m" if hours else f"{rest // 60}m {rest % 60:02d}s"
    return f"{sign}{text}" + ("" if sign else " ago")


def sla_table(reply: dict) -> Table:
    table = Table(title=f"SLA targets at risk or breached ({reply['count']})", title_justify="left")
    for column in ("ticket", "target", "priority", "assignee", "due", "", "state"):
        table.add_column(column)
    for t in reply["targets"]:
        style = STATE_STYLE.get(t["state"], "")
        table.add_row(
            t["number"] or t["ticket_id"][:8],
            t["target"],
            t["priority"] or "",
            t["assignee"] or "-",
            t["due"],
            _ago(t["due"], reply["now"]),
            f"[{style}]{t['state']}[/]",
        )
    return table


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _seconds(summary: dict | None) -> str:
    if not summary or summary.get("avg") is None:
        return "-"
    return " / ".join(f"{summary[k] / 60:.0f}m" for k in ("avg", "p50", "p90"))


def overview(stats: dict, title: str = "Overview") -> Table:
    table = Table(title=title, title_justify="left", show_header=False)
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_row(
        "tickets / open / closed", f"{stats['tickets']} / {stats['open']} / {stats['closed']}"
    )
    table.add_row("first response avg / p50 / p90", _seconds(stats["first_response_seconds"]))
    table.add_row("resolution avg / p50 / p90", _seconds(stats["resolution_seconds"]))
    goals = stats.get("goals") or {}
    for key, label in (
        ("sla_compliance", "SLA compliance"),
        ("fcr_rate", "first-contact resolution"),
        ("csat", "satisfied, 4–5"),
        ("reopen_rate", "reopened"),
    ):
        goal = goals.get(key)
        if goal:
            verdict = {True: "met", False: "MISSED", None: "no data"}[goal["met"]]
            label += f" (goal ≥ {goal['goal']:.0%}: {verdict})"
        table.add_row(label, _ratio(stats[key]))
    table.add_row("escalations", str(stats["escalations"]))
    served = stats.get("self_served", 0)
    table.add_row(
        f"self-service ({served} solved by an article, no ticket)",
        _ratio(stats.get("self_service_rate")),
    )
    return table


def counts(stats: dict, key: str, title: str) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column(key.removeprefix("by_"))
    table.add_column("tickets", justify="right")
    total = sum(stats[key].values()) or 1
    for name, n in sorted(stats[key].items(), key=lambda kv: -kv[1]):
        table.add_row(str(name), f"{n} ({n / total:.0%})")
    return table


def groups_table(stats: dict, group_by: str, then_by: str | None = None) -> Table:
    """One row per group; with `then_by`, one per group and slice (team × week)."""
    title = f"By {group_by}" + (f" × {then_by}" if then_by else "")
    table = Table(title=title, title_justify="left")
    table.add_column(group_by if not then_by else f"{group_by} / {then_by}")
    for column in (
        "tickets",
        "open",
        "first response p50",
        "resolution p50",
        "SLA",
        "FCR",
        "CSAT",
        "reopened",
        "escalations",
        "self-service",
    ):
        table.add_column(column, justify="right")
    rows = [
        (f"{key} / {inner}", g)
        for key, outer in stats.get("groups", {}).items()
        for inner, g in (outer.get("groups", {}).items() if then_by else [("", outer)])
    ]
    for key, g in rows:
        key = key.removesuffix(" / ")
        fr, res = g["first_response_seconds"], g["resolution_seconds"]
        table.add_row(
            str(key),
            str(g["tickets"]),
            str(g["open"]),
            "-" if not fr or fr.get("p50") is None else f"{fr['p50'] / 60:.0f}m",
            "-" if not res or res.get("p50") is None else f"{res['p50'] / 60:.0f}m",
            _ratio(g["sla_compliance"]),
            _ratio(g["fcr_rate"]),
            _ratio(g["csat"]),
            _ratio(g["reopen_rate"]),
            str(g["escalations"]),
            _ratio(g.get("self_service_rate")),
        )
    return table


def stats_tables(reply: dict, group_by: str | None, then_by: str | None = None) -> list[Table]:
    stats = reply["stats"]
    tables = [overview(stats)]
    tables += [
        counts(stats, key, title)
        for key, title in (
            ("by_type", "By type"),
            ("by_priority", "By priority"),
            ("by_channel", "By channel"),
        )
    ]
    frequent = stats.get("high_frequency") or []
    if frequent:
        table = Table(title="High-frequency categories", title_justify="left")
        table.add_column("category")
        table.add_column("share", justify="right")
        for item in frequent:
            table.add_row(str(item.get("category")), f"{item.get('share', 0):.0%}")
        tables.append(table)
    if group_by:
        tables.append(groups_table(stats, group_by, then_by))
    return tables
