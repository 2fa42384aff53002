"""`ticketflow sla-whatif`: a candidate policy's SLA outcomes over a period, beside the
recorded ones; a client of `tickets.admin.sla_whatif`."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from services.cli.client import ClientError, client_url, connect, fail
from services.cli.options import ClientDataDir, ClientNatsUrl

SUBJECT = "tickets.admin.sla_whatif"
SHOWN_CHANGES = 20  # changed outcomes listed in the table view


def sla_whatif(
    policy: Annotated[
        Path,
        typer.Option(
            "--policy",
            help="The candidate policy file (TOML, as for `ticketflow up --policy`: it "
            "overrides the shipped defaults).",
        ),
    ],
    from_: Annotated[
        datetime | None,
        typer.Option("--from", help="First instant of the period (tickets received from then on)."),
    ] = None,
    to: Annotated[
        datetime | None,
        typer.Option("--to", help="End of the period (exclusive): outcomes are judged then."),
    ] = None,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help='Print {"recorded", "whatif", "changed", ...}: every changed outcome.',
        ),
    ] = False,
    nats_url: ClientNatsUrl = None,
    data_dir: ClientDataDir = Path(".ticketflow"),
    actor_id: Annotated[str, typer.Option(help="Who asks (recorded in the logs).")] = "manager",
    timeout: Annotated[
        float, typer.Option(help="Seconds to wait for the service between two messages.")
    ] = 120.0,
) -> None:
    """What the tickets of a period would have looked like under another SLA policy.

    Every ticket received in the period is replayed from its recorded events, with the
    targets the candidate policy sets (the same calendar rules, waits on the customer,
    reassignments and raised impact as recorded), and judged at the end of the
    period, beside what was recorded: SLA compliance overall and by type, priority and
    team, met and breached counts per target, and each ticket and target whose outcome
    changes. Nothing is written anywhere; the same period and policy give the same
    answer. Without --from and --to: last calendar month, in the policy's time zone.

    Exit status: 0; 1 when the service refuses (a bad policy: each error names its key)
    or does not answer; 2 for bad input.
    """
    try:
        text = policy.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise fail(f"{policy}: cannot read: {error}", 2) from None
    body: dict[str, Any] = {"policy": text, "actor": {"id": actor_id, "role": "manager"}}
    for key, moment in (("from", from_), ("to", to)):
        if moment:
            body[key] = (moment if moment.tzinfo else moment.astimezone()).isoformat()
    url = client_url(nats_url, data_dir)
    try:
        reply = asyncio.run(_ask(url, body, timeout))
    except ClientError as error:
        raise fail(error, error.code) from None
    except (OSError, TimeoutError) as error:
        raise fail(f"no answer from a ticketflow service: {error}", 1) from None
    if not reply.get("ok"):
        refusal = reply.get("error") or {}
        raise fail(f"{refusal.get('code')}: {refusal.get('message')}", 1)
    if as_json:
        typer.echo(json.dumps(reply, ensure_ascii=False, indent=2))
        return
    render(reply, Console())


async def _ask(url: str, body: dict, timeout: float) -> dict:
    """The final reply, with the changed outcomes sent before it gathered in."""
    from rich.progress import Progress

    nc = await connect(url)
    changed: list[dict] = []
    try:
        inbox = nc.new_inbox()
        sub = await nc.subscribe(inbox)
        await nc.publish(SUBJECT, json.dumps(body, ensure_ascii=False).encode(), reply=inbox)
        with Progress(disable=not sys.stderr.isatty(), transient=True) as bar:
            task = bar.add_task("what-if", total=None)
            while True:
                message = json.loads((await sub.next_msg(timeout=timeout)).data)
                if "progress" in message:
                    p = message["progress"]
                    bar.update(task, description=p["phase"], completed=p["done"], total=p["total"])
                elif "changed" in message and "ok" not in message:
                    changed += message["changed"]
                else:
                    return {**message, "changed": changed} if message.get("ok") else message
    finally:
        await nc.close()


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def render(reply: dict, console: Console) -> None:
    recorded, whatif = reply["recorded"], reply["whatif"]
    versions = reply["policy_version"]
    console.print(
        f"{reply['tickets']} tickets received {reply['from']} – {reply['to']} "
        f"(judged at its end); running policy {versions['running']}, "
        f"candidate {versions['whatif']}"
    )
    overall = Table(title="SLA compliance")
    for column in ("", "recorded", "what-if", "change"):
        overall.add_column(column, justify="left" if not column else "right")
    _compare(overall, "all tickets", recorded, whatif)
    for dimension in ("type", "priority", "team"):
        mine, theirs = recorded[f"by_{dimension}"], whatif[f"by_{dimension}"]
        for key in sorted({*mine, *theirs}):
            _compare(overall, f"{dimension} {key}", mine.get(key, {}), theirs.get(key, {}))
    console.print(overall)
    targets = Table(title="Targets: met / breached")
    for column in ("target", "recorded", "what-if"):
        targets.add_column(column, justify="left" if column == "target" else "right")
    for name in sorted({*recorded["targets"], *whatif["targets"]}):
        a, b = recorded["targets"].get(name), whatif["targets"].get(name)
        targets.add_row(name, _counts(a), _counts(b))
    console.print(targets)
    changed = reply["changed"]
    console.print(f"{len(changed)} outcomes change (ticket, target: recorded → what-if)")
    for change in changed[:SHOWN_CHANGES]:
        console.print(
            f"  {change['number']}  {change['target']}: {change['recorded']} → {change['whatif']}",
            markup=False,
        )
    if len(changed) > SHOWN_CHANGES:
        console.print(f"  … and {len(changed) - SHOWN_CHANGES} more (--json lists them all)")


def _compare(table: Table, label: str, mine: dict, theirs: dict) -> None:
    a, b = mine.get("sla_compliance"), theirs.get("sla_compliance")
    delta = "—" if a is None or b is None else f"{(b - a) * 100:+.1f} pt"
    table.add_row(label, _pct(a), _pct(b), delta)


def _counts(counts: dict | None) -> str:
    return "—" if not counts else f"{counts['met']} / {counts['breached']}"
