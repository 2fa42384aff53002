"""`ticketflow sla`, `ticketflow stats` and `ticketflow rebuild`: clients of a running
service, speaking only its public subjects."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from services.cli import ClientNatsUrl, app, client_url
from services.reports import sla_table, stats_tables

GROUPS = ("type", "category", "priority", "channel", "agent", "team", "day", "week", "month")


def service_url(nats_url: str | None) -> str:
    """See `services.cli.client_url`; the data dir comes from TICKETFLOW_DATA_DIR."""
    return client_url(nats_url, Path(os.environ.get("TICKETFLOW_DATA_DIR", ".ticketflow")))


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


async def connect(url: str) -> Any:
    import nats
    from nats.errors import NoServersError

    from infra.nats_credentials import connect_options
    from infra.urls import without_credentials

    async def quiet(error: Exception) -> None:  # the failure is reported once, below
        pass

    try:
        return await asyncio.wait_for(nats.connect(
            url, connect_timeout=2, allow_reconnect=False, error_cb=quiet,
            **connect_options(url)), 5)
    except (NoServersError, OSError, TimeoutError, nats.errors.Error) as error:
        raise _fail(f"cannot reach NATS at {without_credentials(url)}: "
                    f"{error or type(error).__name__}") from None


async def _ask(url: str, subject: str, body: dict, timeout: float = 30.0) -> dict:
    from nats.errors import NoRespondersError
    from nats.errors import TimeoutError as NatsTimeout

    nc = await connect(url)
    try:
        reply = await nc.request(subject, json.dumps(body).encode(), timeout=timeout)
        return json.loads(reply.data)
    except (NoRespondersError, NatsTimeout):
        raise _fail(f"no ticketflow service answered on {subject} at {url}") from None
    finally:
        await nc.close()


def _answered(reply: dict) -> dict:
    if not reply.get("ok"):
        err = reply.get("error", {})
        raise _fail(f"{err.get('code')}: {err.get('message')}", 2)
    return reply


@app.command()
def sla(
    nats_url: ClientNatsUrl = None,
    state: Annotated[str | None, typer.Option(
        help="Only `at_risk` or `breached` (default: both).")] = None,
    due_within: Annotated[float | None, typer.Option(
        help="Only targets due within this many seconds.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the raw reply.")] = False,
) -> None:
    """Open SLA targets at risk or breached, soonest due first."""
    body: dict[str, Any] = {} if due_within is None else {"due_within": due_within}
    url, reply = service_url(nats_url), dict[str, Any]()
    for wanted in [state] if state else ["breached", "at_risk"]:  # the board: what needs care
        part = _answered(asyncio.run(_ask(url, "tickets.query.sla", {**body, "state": wanted})))
        if not reply:
            reply = part
        else:
            reply["targets"] += part["targets"]
            reply["count"] += part["count"]
    reply["targets"].sort(key=lambda t: t["due"])
    if as_json:
        typer.echo(json.dumps(reply, ensure_ascii=False, indent=2))
        return
    Console().print(sla_table(reply))


@app.command()
def stats(
    nats_url: ClientNatsUrl = None,
    group_by: Annotated[str | None, typer.Option(
        help=f"One of: {', '.join(GROUPS)}.")] = None,
    from_: Annotated[datetime | None, typer.Option(
        "--from", help="Tickets received from this time (ISO 8601 with offset).",
        formats=["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%d"])] = None,
    to: Annotated[datetime | None, typer.Option(
        help="... up to (not including) this time.",
        formats=["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%d"])] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the raw reply.")] = False,
) -> None:
    """Statistics of SPEC §8, overall or by a dimension.

    Volume, response and resolution times, SLA compliance, first-contact resolution,
    satisfaction, reopen rate and escalations."""
    if group_by and group_by not in GROUPS:
        raise _fail(f"--group-by must be one of {', '.join(GROUPS)}", 2)
    body: dict[str, Any] = {"group_by": group_by} if group_by else {}
    for key, moment in (("from", from_), ("to", to)):
        if moment:
            body[key] = (moment if moment.tzinfo else moment.astimezone()).isoformat()
    reply = _answered(asyncio.run(_ask(service_url(nats_url), "tickets.query.stats", body)))
    if as_json:
        typer.echo(json.dumps(reply, ensure_ascii=False, indent=2))
        return
    console = Console()
    for table in stats_tables(reply, group_by):
        console.print(table)


@app.command()
def rebuild(
    projection: Annotated[str, typer.Argument(help="sla, audit, stats or reports")],
    nats_url: ClientNatsUrl = None,
    actor_id: Annotated[str, typer.Option(help="Who asks (recorded in the logs).")] = "ops",
) -> None:
    """Rebuild a projection from the event stream while the service runs, with progress."""
    from rich.progress import Progress

    async def run() -> dict:
        nc = await connect(service_url(nats_url))
        inbox = nc.new_inbox()
        sub = await nc.subscribe(inbox)
        body = {"projection": projection, "actor": {"id": actor_id, "role": "manager"}}
        await nc.publish("tickets.admin.rebuild", json.dumps(body).encode(), reply=inbox)
        with Progress(disable=not sys.stderr.isatty()) as bar:
            task = bar.add_task(f"rebuilding {projection}", total=None)
            try:
                while True:
                    message = json.loads((await sub.next_msg(timeout=600)).data)
                    if "progress" not in message:
                        return message
                    p = message["progress"]
                    bar.update(task, completed=p["done"], total=p["total"])
            finally:
                await nc.close()

    try:
        reply = _answered(asyncio.run(run()))
    except (OSError, TimeoutError) as error:
        raise _fail(f"no answer from a ticketflow service: {error}") from None
    typer.echo(f"rebuilt {reply['projection']}: stream position {reply['position']} "
               f"in {reply['seconds']}s")
