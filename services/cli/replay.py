"""`ticketflow replay`: a ticket's history as a timeline, its state, and whether the
history verifies; a client of the `history` and `ticket` queries."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from services.cli.client import ClientError, ask, client_url, connect, fail
from services.cli.options import ClientDataDir, ClientNatsUrl, Timeout


def replay(
    ticket: Annotated[
        str,
        typer.Argument(
            metavar="TICKET", help="The ticket: its id (a UUID) or its number (CS202611240001)."
        ),
    ],
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="Show the ticket as it was then: a version number (5) or an RFC 3339 "
            "time (2026-11-24T10:30:00+08:00).",
        ),
    ] = None,
    tz: Annotated[
        str, typer.Option("--tz", help="Time zone of the times shown (IANA name).")
    ] = "Asia/Shanghai",
    nats_url: ClientNatsUrl = None,
    data_dir: ClientDataDir = Path(".ticketflow"),
    timeout: Timeout = 10.0,
) -> None:
    """Print a ticket's history as a timeline, then its state and whether the history verifies.

    One line per event: local time, version, actor (id and role) and what happened
    (`Assigned to A007`, `Closed: refunded (handled in 1h 02m)`, ...). Then the state
    at the end (status, assignee, priority, each SLA target with its due time and
    state) and `history verified: yes` or `NO (tampered)`. With --as-of, only the
    events up to that point, and the state then.

    Asks `tickets.query.history` and `tickets.query.ticket` over NATS. Exit status: 0;
    1 when there is no such ticket, no service answers, or the history does not
    verify; 2 for bad input.
    """
    from services.cli import timeline

    try:
        ref = timeline.ticket_ref(ticket)
        point = timeline.as_of_point(as_of) if as_of is not None else None
        zone = timeline.zone(tz)
    except ValueError as error:
        raise fail(error, 2) from None
    query = {**ref, **({"as_of": _as_of_json(point)} if point is not None else {})}
    try:
        history, state = asyncio.run(_replay(client_url(nats_url, data_dir), ref, query, timeout))
    except ClientError as error:
        raise fail(error, error.code) from None
    _print_lines(timeline.render(history, state, zone, point))
    raise typer.Exit(0 if history.get("verified") else 1)


def _as_of_json(point: object) -> object:
    from datetime import datetime

    return point.isoformat() if isinstance(point, datetime) else point


async def _replay(url: str, ref: dict, query: dict, timeout: float) -> tuple[dict, dict | str]:
    """The history, and the ticket's state then, or why it cannot be replayed (a stored
    event that no longer decrypts fails the `ticket` query; the history still shows)."""
    nc = await connect(url)
    try:
        history = await ask(nc, "tickets.query.history", ref, timeout)
        try:
            return history, (await ask(nc, "tickets.query.ticket", query, timeout))["ticket"]
        except ClientError as error:
            if history.get("verified") or not str(error).startswith("internal:"):
                raise
            return history, str(error)
    finally:
        await nc.close()


def _print_lines(lines: list) -> None:
    """Colour on a terminal only; piped output is the plain text, one line each."""
    from rich.console import Console
    from rich.text import Text

    console = Console(highlight=False, soft_wrap=True)
    for line in lines:
        console.print(Text(line.text, style=line.style if console.is_terminal else ""))
