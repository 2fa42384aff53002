"""`ticketflow up` (run the service) and `ticketflow asyncapi` (describe its subjects)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any

import typer

from infra import logs
from infra.auth_file import AuthFileError
from infra.urls import is_postgres, without_credentials
from services.cli.options import Store

NatsUrl = Annotated[
    str | None,
    typer.Option(
        "--nats-url",
        envvar="TICKETFLOW_NATS_URL",
        help="A NATS server with JetStream. Unset: start an embedded nats-server on a free "
        "loopback port, storing under the data dir.",
    ),
]
DataDir = Annotated[
    Path,
    typer.Option(
        "--data-dir",
        envvar="TICKETFLOW_DATA_DIR",
        help="Where the SQLite store, the embedded "
        "server's JetStream files and the store key live.",
    ),
]


def up(
    nats_url: NatsUrl = None,
    store: Store = None,
    data_dir: DataDir = Path(".ticketflow"),
    policy: Annotated[
        Path | None,
        typer.Option(
            "--policy",
            envvar="TICKETFLOW_POLICY",
            exists=True,
            dir_okay=False,
            help="A TOML policy file; its tables override the shipped defaults key by key, "
            "its lists (the sla rules, the agents) replace them. See docs/policy.md.",
        ),
    ] = None,
    nats_sync: Annotated[
        str,
        typer.Option(
            "--nats-sync",
            envvar="TICKETFLOW_NATS_SYNC",
            help="Embedded server's JetStream sync_interval: `always` (an acknowledged "
            "request is on disk) or a duration such as `1s`.",
        ),
    ] = "always",
    replicas: Annotated[
        int,
        typer.Option(
            "--nats-replicas",
            envvar="TICKETFLOW_NATS_REPLICAS",
            min=1,
            max=5,
            help="Replicas of each stream (3 on a 3-node JetStream cluster).",
        ),
    ] = 1,
    processes: Annotated[
        str,
        typer.Option(
            "--processes",
            envvar="TICKETFLOW_PROCESSES",
            help="auto (the default): 2 on a SQLite store where this process may use two "
            "cores or more, else 1. 2: intake, commands and queries in this process; the "
            "relay and the read side in a second one. 1: everything in one process.",
        ),
    ] = "auto",
    role: Annotated[
        str, typer.Option("--role", hidden=True, help="all, front or back (set by --processes 2).")
    ] = "all",
    auth: Annotated[
        Path | None,
        typer.Option(
            "--auth",
            envvar="TICKETFLOW_AUTH",
            exists=True,
            dir_okay=False,
            help="A TOML file of NATS users per role: the embedded nats-server then requires "
            "credentials and holds each role to its subjects. See docs/operations.md.",
        ),
    ] = None,
    log_level: Annotated[str, typer.Option("--log-level", envvar="TICKETFLOW_LOG_LEVEL")] = "INFO",
    metrics_port: Annotated[
        int | None,
        typer.Option(
            "--metrics-port",
            envvar="TICKETFLOW_METRICS_PORT",
            min=0,
            max=65535,
            help="Serve Prometheus /metrics, /healthz and /readyz over HTTP on this port "
            "(0: a free one, logged). Unset: no HTTP server.",
        ),
    ] = None,
    metrics_host: Annotated[
        str,
        typer.Option(
            "--metrics-host",
            envvar="TICKETFLOW_METRICS_HOST",
            help="Address the metrics server listens on.",
        ),
    ] = "127.0.0.1",
    http_port: Annotated[
        str,
        typer.Option(
            "--http-port",
            envvar="TICKETFLOW_HTTP_PORT",
            help="Serve the HTTP API (/api/v1/) on this port; 0: a free one, logged; "
            "`off`: no HTTP API.",
        ),
    ] = "0",
    http_host: Annotated[
        str,
        typer.Option(
            "--http-host",
            envvar="TICKETFLOW_HTTP_HOST",
            help="Address the HTTP API listens on. Without --auth: loopback only.",
        ),
    ] = "127.0.0.1",
    http_forwarded_allow_ips: Annotated[
        str,
        typer.Option(
            "--http-forwarded-allow-ips",
            envvar="TICKETFLOW_HTTP_FORWARDED_ALLOW_IPS",
            help="The TLS proxy in front of the console and the API: addresses or networks "
            "(comma-separated; `*`: any) whose X-Forwarded-Proto and X-Forwarded-For are "
            "believed. A request the proxy says came over https gets Secure cookies.",
        ),
    ] = "127.0.0.1",
) -> None:
    """Run the whole service: intake, commands and queries, the relay to TICKETS_EVENTS.

    Prints `nats: <url>` once it accepts intake. Ctrl-C or SIGTERM stops it cleanly.
    """
    from infra.auth_file import load_auth
    from infra.policy_file import PolicyError, load_policy
    from infra.store import StoreUrlError
    from services.runtime.settings import Role, Settings

    logs.configure(log_level)
    try:
        auth_file = load_auth(auth) if auth else None
        port = http_port_of(http_port)
        if port is not None and auth_file is None and http_host not in LOOPBACK:
            raise SettingError(
                f"--http-host {http_host}: without --auth the HTTP API takes whoever asks "
                "at their word, so it listens on loopback only (127.0.0.1, ::1)"
            )
        if auth_file and nats_url:
            raise AuthFileError(
                "--auth sets the users of the embedded nats-server; a server "
                "given by --nats-url has its own (docs/operations.md), and "
                "the service logs in with TICKETFLOW_NATS_USER/_PASSWORD"
            )
        settings = Settings(
            data_dir=data_dir,
            nats_url=nats_url,
            store=store,
            policy=load_policy(policy),
            nats_sync=nats_sync,
            replicas=replicas,
            processes=processes_of(processes, sqlite=not is_postgres(store)),
            role=Role(role),
            auth=auth_file,
            policy_path=policy,
            metrics_port=metrics_port,
            metrics_host=metrics_host,
            http_port=port,
            http_host=http_host,
            http_forwarded_allow_ips=http_forwarded_allow_ips,
        )
        code = run_loop(run_service(settings, announce))
    except (PolicyError, StoreUrlError, AuthFileError, SettingError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    raise typer.Exit(code)


LOOPBACK = ("127.0.0.1", "::1", "localhost")


class SettingError(ValueError):
    """A flag of `up` that cannot work (exit status 2, nothing started)."""


def run_loop(main: Coroutine[Any, Any, int]) -> int:
    """Run the service on uvloop where it is installed (not on Windows), else on
    asyncio's own loop; TICKETFLOW_LOOP=asyncio chooses asyncio's."""
    if os.environ.get("TICKETFLOW_LOOP", "uvloop") != "asyncio":
        try:
            import uvloop
        except ImportError:
            pass
        else:
            return uvloop.run(main)
    return asyncio.run(main)


def processes_of(text: str, sqlite: bool = True) -> int:
    """`--processes`: 1, 2, or `auto`: 2 where this process may run on two cores and the
    store is SQLite (the second process has a write lock of its own there; on
    PostgreSQL it would double the connections while instances scale out anyway)."""
    value = text.strip().lower()
    if value == "auto":
        return 2 if sqlite and len(os.sched_getaffinity(0)) >= 2 else 1
    if value not in ("1", "2"):
        raise SettingError(f"--processes {text!r}: 1, 2 or auto")
    return int(value)


def http_port_of(text: str) -> int | None:
    """`--http-port`: a port number, or `off`."""
    if text.strip().lower() == "off":
        return None
    if not text.strip().isdigit() or not 0 <= int(text) <= 65535:
        raise SettingError(f"--http-port {text!r}: a port number (0-65535) or `off`")
    return int(text)


def asyncapi() -> None:
    """Print the AsyncAPI 3.0 document of ticketflow's subjects (JSON)."""
    import json

    from services.edge.nats.asyncapi import asyncapi_document

    typer.echo(json.dumps(asyncapi_document(), indent=2, sort_keys=True, ensure_ascii=False))


def announce(service: Any) -> None:
    """What `up` prints once it serves: where programs and people find it, and the
    policy version every target it sets will carry."""
    print(f"nats: {without_credentials(service.url)}", flush=True)
    if service.parts.http is not None:
        print(f"console: {service.parts.http.url}", flush=True)
    print(f"policy_version: {service.desk.policy.version}", flush=True)


async def run_service(settings: Any, announce: Callable[[Any], None]) -> int:
    """Build the service these settings describe and serve until it is stopped."""
    from services.bootstrap import build_service
    from services.runtime.service import serve

    return await serve(build_service(settings), announce)
