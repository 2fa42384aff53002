"""The `ticketflow` command line."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Annotated

import typer

from infra import logs

app = typer.Typer(
    help="ticketflow: event-sourced tickets, SLAs and audit trails for customer-service "
         "teams, over NATS JetStream.",
    no_args_is_help=True, add_completion=False)

NatsUrl = Annotated[str | None, typer.Option(
    "--nats-url", envvar="TICKETFLOW_NATS_URL",
    help="A NATS server with JetStream. Unset: start an embedded nats-server on a free "
         "loopback port, storing under the data dir.")]
DataDir = Annotated[Path, typer.Option(
    "--data-dir", envvar="TICKETFLOW_DATA_DIR", help="Where the SQLite store, the embedded "
    "server's JetStream files and the store key live.")]


@app.callback()
def _root() -> None:
    """ticketflow: event-sourced tickets, SLAs and audit trails over NATS JetStream."""


@app.command()
def up(
    nats_url: NatsUrl = None,
    store: Annotated[str | None, typer.Option(
        "--store", envvar="TICKETFLOW_STORE",
        help="sqlite:///PATH (default: DATA_DIR/tickets.db) or "
             "postgresql://USER@HOST:PORT/DB")] = None,
    data_dir: DataDir = Path(".ticketflow"),
    policy: Annotated[Path | None, typer.Option(
        "--policy", envvar="TICKETFLOW_POLICY", exists=True, dir_okay=False,
        help="A TOML policy file; its tables override the shipped defaults key by key, "
             "its lists (the sla rules, the agents) replace them. See docs/policy.md.")] = None,
    nats_sync: Annotated[str, typer.Option(
        "--nats-sync", envvar="TICKETFLOW_NATS_SYNC",
        help="Embedded server's JetStream sync_interval: `always` (an acknowledged "
             "request is on disk) or a duration such as `1s`.")] = "always",
    log_level: Annotated[str, typer.Option("--log-level", envvar="TICKETFLOW_LOG_LEVEL")] = "INFO",
) -> None:
    """Run the whole service: intake, commands and queries, the relay to TICKETS_EVENTS.

    Prints `nats: <url>` once it accepts intake. Ctrl-C or SIGTERM stops it cleanly.
    """
    from infra.policy_file import PolicyError, load_policy
    from infra.store import StoreUrlError
    from services.runtime import Settings, serve

    logs.configure(log_level)
    try:
        settings = Settings(data_dir=data_dir, nats_url=nats_url, store=store,
                            policy=load_policy(policy), nats_sync=nats_sync)
        code = asyncio.run(serve(settings, lambda url: print(f"nats: {public(url)}", flush=True)))
    except (PolicyError, StoreUrlError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    raise typer.Exit(code)


def public(url: str) -> str:
    """The URL without credentials (CONTRACT.md: the `nats:` line carries none)."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


@app.command()
def asyncapi() -> None:
    """Print the AsyncAPI 3.0 document of ticketflow's subjects (JSON)."""
    import json

    from services.asyncapi import asyncapi_document

    typer.echo(json.dumps(asyncapi_document(), indent=2, sort_keys=True, ensure_ascii=False))


def main() -> None:
    app(prog_name="ticketflow")


if __name__ == "__main__":
    main()
    sys.exit(0)
