"""`ticketflow sla`, `ticketflow stats` and `ticketflow rebuild`: clients of a running
service, speaking only its public subjects."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import datetime
from typing import Annotated, Any, get_args

import typer
from rich.console import Console

from services.cli.client import ClientError, ask_once, client_url, connect, fail
from services.cli.options import ClientNatsUrl
from services.cli.reports import sla_table, stats_tables
from services.readside.stats import GroupBy

GROUPS: tuple[str, ...] = get_args(GroupBy)  # the `stats` query's dimensions


def _ask(nats_url: str | None, subject: str, body: dict) -> dict:
    try:
        return asyncio.run(ask_once(client_url(nats_url), subject, body))
    except ClientError as error:
        raise fail(error, error.code) from None


def sla(
    nats_url: ClientNatsUrl = None,
    state: Annotated[
        str | None, typer.Option(help="Only `at_risk` or `breached` (default: both).")
    ] = None,
    due_within: Annotated[
        float | None, typer.Option(help="Only targets due within this many seconds.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the raw reply.")] = False,
) -> None:
    """Open SLA targets at risk or breached, soonest due first."""
    body: dict[str, Any] = {} if due_within is None else {"due_within": due_within}
    reply = dict[str, Any]()
    for wanted in [state] if state else ["breached", "at_risk"]:  # the board: what needs care
        part = _ask(nats_url, "tickets.query.sla", {**body, "state": wanted})
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


def stats(
    nats_url: ClientNatsUrl = None,
    group_by: Annotated[str | None, typer.Option(help=f"One of: {', '.join(GROUPS)}.")] = None,
    then_by: Annotated[
        str | None,
        typer.Option(
            help="A second dimension inside each group, e.g. --group-by team --then-by week."
        ),
    ] = None,
    from_: Annotated[
        datetime | None,
        typer.Option(
            "--from",
            help="Tickets received from this time (ISO 8601 with offset).",
            formats=["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%d"],
        ),
    ] = None,
    to: Annotated[
        datetime | None,
        typer.Option(
            help="... up to (not including) this time.", formats=["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%d"]
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the raw reply.")] = False,
) -> None:
    """Statistics of the service (docs/process.md), overall or by a dimension.

    Volume, response and resolution times, SLA compliance, first-contact resolution,
    satisfaction, reopen rate and escalations."""
    for name, value in (("--group-by", group_by), ("--then-by", then_by)):
        if value and value not in GROUPS:
            raise fail(f"{name} must be one of {', '.join(GROUPS)}", 2)
    if then_by and (not group_by or then_by == group_by):
        raise fail("--then-by needs a different --group-by", 2)
    body: dict[str, Any] = {"group_by": group_by} if group_by else {}
    if then_by:
        body["then_by"] = then_by
    for key, moment in (("from", from_), ("to", to)):
        if moment:
            body[key] = (moment if moment.tzinfo else moment.astimezone()).isoformat()
    reply = _ask(nats_url, "tickets.query.stats", body)
    if as_json:
        typer.echo(json.dumps(reply, ensure_ascii=False, indent=2))
        return
    console = Console()
    for table in stats_tables(reply, group_by, then_by):
        console.print(table)


def rebuild(
    projection: Annotated[str, typer.Argument(help="sla, audit, stats, reports or problems")],
    nats_url: ClientNatsUrl = None,
    actor_id: Annotated[str, typer.Option(help="Who asks (recorded in the logs).")] = "ops",
) -> None:
    """Rebuild a projection from the event stream while the service runs, with progress."""
    from rich.progress import Progress

    async def run() -> dict:
        nc = await connect(client_url(nats_url))
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
        reply = asyncio.run(run())
    except ClientError as error:
        raise fail(error, error.code) from None
    except (OSError, TimeoutError) as error:
        raise fail(f"no answer from a ticketflow service: {error}", 1) from None
    if not reply.get("ok"):
        refusal = reply.get("error") or {}
        raise fail(f"{refusal.get('code')}: {refusal.get('message')}", 1)
    typer.echo(
        f"rebuilt {reply['projection']}: stream position {reply['position']} in {reply['seconds']}s"
    )
