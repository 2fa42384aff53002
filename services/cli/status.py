"""`ticketflow status`: ask a running service whether it is ready, over NATS."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from services.cli.client import ClientError, ask_once, client_url
from services.cli.options import ClientDataDir, ClientNatsUrl

EXIT = {"ready": 0, "starting": 1, "degraded": 1}
UNREACHABLE = 2


def status(
    nats_url: ClientNatsUrl = None,
    data_dir: ClientDataDir = Path(".ticketflow"),
    timeout: float = typer.Option(
        5.0, "--timeout", min=0.1, help="Seconds to wait for the connection and the reply."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the raw reply (JSON)."),
) -> None:
    """Is the service ready? One line per check, with the lags.

    The checks: store, streams, intake, relay, projections, leader, SLA watcher, dead
    letters.

    Asks `tickets.query.health` on the NATS server found like the other client commands
    (--nats-url, else DATA_DIR/nats.url written by `ticketflow up`). Status `ready`:
    every check passes; `starting`: a check fails in the first 30 s; `degraded`: a
    check fails after that (a lag fails only when it has not shrunk for 60 s).

    Exit status: 0 ready; 1 starting or degraded; 2 no service answered (nothing
    listens, no responder, or no reply within --timeout).
    """
    url = client_url(nats_url, data_dir)
    try:
        report = asyncio.run(ask_once(url, "tickets.query.health", {}, timeout))
    except ClientError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(UNREACHABLE) from None
    if as_json:
        typer.echo(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        Console(highlight=False).print(status_table(report))
    raise typer.Exit(EXIT.get(report.get("status", ""), 1))


def status_table(report: dict) -> Table:
    table = Table(
        title=f"ticketflow {report['status']} · {report['instance']} "
        f"({report['role']}, v{report['version']}, "
        f"up {_duration(report['uptime_seconds'])})",
        title_justify="left",
    )
    table.add_column("check")
    table.add_column("ok")
    table.add_column("details", overflow="fold")
    for name, check in report["checks"].items():
        table.add_row(name, "yes" if check["ok"] else "NO", _details(check))
    return table


def _details(check: dict[str, Any]) -> str:
    parts = [f"{k} {_plain(v)}" for k, v in check.items() if k not in ("ok", "error")]
    if "error" in check:
        parts.insert(0, str(check["error"]))
    return "; ".join(parts)


def _plain(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k} {_plain(v)}" for k, v in value.items())
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m {secs:02d}s"
