"""`ticketflow forget` and `ticketflow purge`: personal data (docs/process.md), on the store.

They work on the store directly (like an operator's tool), not over NATS: they run
whether or not the service is up, and beside a running one they are safe, because
every change goes through the store's optimistic concurrency and the key table's
transactions; the running relay publishes the erasure events within a second.
They need what `up` needs to open the store: `--store`, `--data-dir` (the store key)
and, for `purge`, the `--policy` whose `[retention]` applies.
"""

from __future__ import annotations

import getpass
import json
from pathlib import Path
from typing import Annotated

import typer

from services.cli.options import Store

DataDir = Annotated[
    Path,
    typer.Option(
        "--data-dir",
        envvar="TICKETFLOW_DATA_DIR",
        help="Where the store key lives (and the SQLite store by default).",
    ),
]
PolicyPath = Annotated[
    Path | None,
    typer.Option(
        "--policy",
        envvar="TICKETFLOW_POLICY",
        exists=True,
        dir_okay=False,
        help="The policy file whose [retention] applies (docs/policy.md).",
    ),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


def _desk(store: str | None, data_dir: Path, policy: Path | None):  # -> TicketDesk
    from infra.policy_file import PolicyError, load_policy
    from infra.store import StoreUrlError, default_store_url, store_env
    from services.application.desk import TicketDesk

    try:
        url = store or default_store_url(data_dir)
        if url.startswith("sqlite") and not Path(url.removeprefix("sqlite:///")).exists():
            raise StoreUrlError(f"no store at {url}: give --store or --data-dir")
        return TicketDesk(load_policy(policy), store_env(url, data_dir))
    except (PolicyError, StoreUrlError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None


def forget(
    customer: Annotated[
        str,
        typer.Argument(
            metavar="CUSTOMER_ID",
            help="The customer's id (customer_id at intake); with "
            "--ticket, a ticket's id or number instead.",
        ),
    ],
    ticket: Annotated[
        bool,
        typer.Option(
            "--ticket",
            help="CUSTOMER_ID names a ticket: forget whose key sealed it (its "
            "customer, or the ticket alone when it has no customer id).",
        ),
    ] = False,
    reason: Annotated[
        str, typer.Option("--reason", help="Why (recorded in the PersonalDataErased event).")
    ] = "customer request",
    by: Annotated[
        str | None,
        typer.Option(
            "--by", help="Who asks, recorded as the actor (role manager). Default: cli:<user>."
        ),
    ] = None,
    store: Store = None,
    data_dir: DataDir = Path(".ticketflow"),
    policy: PolicyPath = None,
    as_json: AsJson = False,
) -> None:
    """Erase a customer's personal data; their tickets, history and statistics stay.

    Contact fields, verbatim text and attachments become unreadable in every ticket of
    theirs (the customer's key is destroyed); numbers and statistics stay, and each
    ticket records PersonalDataErased.

    Exit status 0; 1 when there is no such customer or ticket; 2 for bad input.
    """
    from pydantic import ValidationError

    from domain.errors import TicketError
    from services.application import messages as m
    from services.application.commands import CommandService

    actor = {"id": by or f"cli:{getpass.getuser()}", "role": "manager"}
    target = _ticket_ref(customer) if ticket else {"customer_id": customer}
    desk = _desk(store, data_dir, policy)
    try:
        reply = CommandService(desk).forget(
            m.Forget.model_validate({**target, "actor": actor, "reason": reason})
        )
    except ValidationError as error:
        typer.echo(f"error: {m.reason_of(error)}", err=True)
        raise typer.Exit(2) from None
    except TicketError as error:
        typer.echo(f"error: {error.code}: {error.message}", err=True)
        raise typer.Exit(2 if error.code == "invalid" else 1) from None
    finally:
        desk.close()
    if as_json:
        typer.echo(json.dumps(reply, ensure_ascii=False))
        return
    numbers = ", ".join(t["number"] for t in reply["tickets"])
    typer.echo(
        f"personal data of {reply['subject']} erased: {len(reply['tickets'])} "
        f"ticket(s) ({numbers}), {reply['erased']} newly"
    )


def purge(
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run", help="Only list whose personal data has expired; change nothing."
        ),
    ] = False,
    store: Store = None,
    data_dir: DataDir = Path(".ticketflow"),
    policy: PolicyPath = None,
    as_json: AsJson = False,
) -> None:
    """Erase expired personal data now; the service also does it every quarter.

    The service purges on its own every `retention.purge_every` (default quarterly):
    customers whose tickets are all closed
    longer than `retention.personal_data` (90d), complainants not before
    `retention.complaint_records_min` (3y) after their complaint. Nothing is deleted:
    tickets, history, numbers and statistics stay.
    """
    from services.application.erasure import Eraser

    desk = _desk(store, data_dir, policy)
    try:
        now = desk.clock()
        erasures = Eraser(desk).purge(now, dry_run=dry_run)
        if not dry_run:
            desk.vault.record_purge(now, sum(e.erased for e in erasures))
    finally:
        desk.close()
    if as_json:
        typer.echo(
            json.dumps(
                {"dry_run": dry_run, "erasures": [e.reply() for e in erasures]}, ensure_ascii=False
            )
        )
        return
    verb = "would erase" if dry_run else "erased"
    for e in erasures:
        typer.echo(f"{verb} {e.subject}: {', '.join(t['number'] for t in e.tickets)}")
    typer.echo(f"{len(erasures)} subject(s) {verb}" if erasures else "no personal data has expired")


def _ticket_ref(text: str) -> dict:
    from uuid import UUID

    try:
        return {"ticket_id": str(UUID(text))}
    except ValueError:
        return {"number": text}
