"""The `ticketflow` command line."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Annotated

import typer

from infra import logs
from infra.urls import without_credentials

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
    replicas: Annotated[int, typer.Option(
        "--nats-replicas", envvar="TICKETFLOW_NATS_REPLICAS", min=1, max=5,
        help="Replicas of each stream (3 on a 3-node JetStream cluster).")] = 1,
    processes: Annotated[int, typer.Option(
        "--processes", envvar="TICKETFLOW_PROCESSES", min=1, max=2,
        help="2: intake, commands and queries in this process; the relay and the read "
             "side in a second one (uses a second core).")] = 1,
    role: Annotated[str, typer.Option(
        "--role", hidden=True, help="all, front or back (set by --processes 2).")] = "all",
    auth: Annotated[Path | None, typer.Option(
        "--auth", envvar="TICKETFLOW_AUTH", exists=True, dir_okay=False,
        help="A TOML file of NATS users per role: the embedded nats-server then requires "
             "credentials and holds each role to its subjects. See docs/operations.md.")] = None,
    log_level: Annotated[str, typer.Option("--log-level", envvar="TICKETFLOW_LOG_LEVEL")] = "INFO",
    metrics_port: Annotated[int | None, typer.Option(
        "--metrics-port", envvar="TICKETFLOW_METRICS_PORT", min=0, max=65535,
        help="Serve Prometheus /metrics, /healthz and /readyz over HTTP on this port "
             "(0: a free one, logged). Unset: no HTTP server.")] = None,
    metrics_host: Annotated[str, typer.Option(
        "--metrics-host", envvar="TICKETFLOW_METRICS_HOST",
        help="Address the metrics server listens on.")] = "127.0.0.1",
) -> None:
    """Run the whole service: intake, commands and queries, the relay to TICKETS_EVENTS.

    Prints `nats: <url>` once it accepts intake. Ctrl-C or SIGTERM stops it cleanly.
    """
    from infra.auth_file import AuthFileError, load_auth
    from infra.policy_file import PolicyError, load_policy
    from infra.store import StoreUrlError
    from services.runtime import Settings, serve

    logs.configure(log_level)
    try:
        auth_file = load_auth(auth) if auth else None
        if auth_file and nats_url:
            raise AuthFileError("--auth sets the users of the embedded nats-server; a server "
                                "given by --nats-url has its own (docs/operations.md), and "
                                "the service logs in with TICKETFLOW_NATS_USER/_PASSWORD")
        settings = Settings(data_dir=data_dir, nats_url=nats_url, store=store,
                            policy=load_policy(policy), nats_sync=nats_sync,
                            replicas=replicas, processes=processes, role=role, auth=auth_file,
                            policy_path=policy, metrics_port=metrics_port,
                            metrics_host=metrics_host)
        announce = lambda url: print(f"nats: {without_credentials(url)}", flush=True)  # noqa: E731
        code = asyncio.run(serve(settings, announce))
    except (PolicyError, StoreUrlError, AuthFileError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    raise typer.Exit(code)


@app.command()
def asyncapi() -> None:
    """Print the AsyncAPI 3.0 document of ticketflow's subjects (JSON)."""
    import json

    from services.asyncapi import asyncapi_document

    typer.echo(json.dumps(asyncapi_document(), indent=2, sort_keys=True, ensure_ascii=False))


# ---- client commands: they speak only the public subjects -----------------------------

ClientNatsUrl = Annotated[str | None, typer.Option(
    "--nats-url", envvar="TICKETFLOW_NATS_URL",
    help="The NATS server ticketflow serves on (the URL `ticketflow up` printed). Unset: the "
         "embedded server of a `ticketflow up` running with --data-dir, else "
         "nats://127.0.0.1:4222.")]
ClientDataDir = Annotated[Path, typer.Option(
    "--data-dir", envvar="TICKETFLOW_DATA_DIR",
    help="Without --nats-url: find the embedded server of `ticketflow up` running with this "
         "data dir.")]
Timeout = Annotated[float, typer.Option(
    "--timeout", min=0.1, help="Seconds to wait for each reply.")]


class ClientError(Exception):
    """A client command cannot go on; `code` is its exit status."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def client_url(nats_url: str | None, data_dir: Path) -> str:
    """--nats-url, else the URL a running `ticketflow up` wrote to DATA_DIR/nats.url, else
    its embedded server's ports file under DATA_DIR/nats, else the NATS default port."""
    import json
    import os

    if nats_url:
        return nats_url
    written = data_dir / "nats.url"
    if written.exists():
        return written.read_text().strip()
    for ports in sorted((data_dir / "nats").glob("nats-server_*.ports"), reverse=True):
        try:
            os.kill(int(ports.stem.rpartition("_")[2]), 0)  # a live server, not a stale file
            return str(json.loads(ports.read_text())["nats"][0]).replace(
                "nats://0.0.0.0", "nats://127.0.0.1")
        except (OSError, ValueError, KeyError, IndexError):
            continue
    return "nats://127.0.0.1:4222"


async def connect(url: str):  # -> nats.aio.client.Client
    """A connection that fails at once, without retrying, when nothing listens at `url`."""
    import nats

    from infra.nats_credentials import connect_options

    async def quiet(error: Exception) -> None:  # the failure is reported once, below
        pass

    try:
        return await nats.connect(url, connect_timeout=3, allow_reconnect=False,
                                  max_reconnect_attempts=1, reconnect_time_wait=0.1,
                                  error_cb=quiet, **connect_options(url))
    except (OSError, TimeoutError, nats.errors.Error) as error:
        shown = without_credentials(url)
        raise ClientError(f"cannot connect to NATS at {shown} ({error or type(error).__name__}); "
                          "is `ticketflow up` running? Give its URL with --nats-url") from None


async def ask(nc, subject: str, body: dict, timeout: float) -> dict:
    """One request/reply; an `ok: false` reply raises ClientError (exit 2 for `invalid`)."""
    import json

    import nats

    try:
        reply = await nc.request(subject, json.dumps(body).encode(), timeout=timeout)
    except nats.errors.NoRespondersError:
        raise ClientError(f"no ticketflow service answers on {subject}: is `ticketflow up` "
                          "running on this NATS server?") from None
    except nats.errors.TimeoutError:
        raise ClientError(f"no reply on {subject} within {timeout:g}s") from None
    answer = json.loads(reply.data)
    if not answer.get("ok"):
        error = answer.get("error") or {}
        raise ClientError(f"{error.get('code')}: {error.get('message')}",
                          2 if error.get("code") == "invalid" else 1)
    return answer


def fail(error: Exception, code: int) -> typer.Exit:
    typer.echo(f"error: {error}", err=True)
    return typer.Exit(code)


@app.command()
def replay(
    ticket: Annotated[str, typer.Argument(
        metavar="TICKET", help="The ticket: its id (a UUID) or its number (CS202611240001).")],
    as_of: Annotated[str | None, typer.Option(
        "--as-of", help="Show the ticket as it was then: a version number (5) or an RFC 3339 "
                        "time (2026-11-24T10:30:00+08:00).")] = None,
    tz: Annotated[str, typer.Option(
        "--tz", help="Time zone of the times shown (IANA name).")] = "Asia/Shanghai",
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
    from services import timeline

    try:
        ref = timeline.ticket_ref(ticket)
        point = timeline.as_of_point(as_of) if as_of is not None else None
        zone = timeline.zone(tz)
    except ValueError as error:
        raise fail(error, 2) from None
    query = {**ref, **({"as_of": _as_of_json(point)} if point is not None else {})}
    try:
        history, state = asyncio.run(_replay(client_url(nats_url, data_dir), ref, query,
                                             timeout))
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


@app.command()
def simulate(
    tickets: Annotated[int, typer.Option(
        "--tickets", min=1, help="How many requests to send (each makes one ticket).")],
    rate: Annotated[float | None, typer.Option(
        "--rate", min=0.01, help="Intake requests per second. Unset: as fast as the server "
                                 "acknowledges them.")] = None,
    seed: Annotated[int | None, typer.Option(
        "--seed", help="Seed of the generator: the same seed sends the same texts and "
                       "commands. Unset: a random one, printed in the summary.")] = None,
    run_id: Annotated[str | None, typer.Option(
        "--run-id", help="Prefix of the external ids (default sim-<time>-<seed>). The same run "
                         "id and seed repeat the same requests, which intake treats as "
                         "duplicates.")] = None,
    concurrency: Annotated[int, typer.Option(
        "--concurrency", min=1, help="Tickets worked on at once by the simulated agents.")] = 32,
    nats_url: ClientNatsUrl = None,
    data_dir: ClientDataDir = Path(".ticketflow"),
    timeout: Timeout = 10.0,
) -> None:
    """Send realistic traffic through the real intake subjects, then work the tickets.

    Requests: Chinese and English texts from customers on phone, chat, e-mail, app and
    web (a pool of repeat customers; sometimes three or more report the same problem
    within minutes), monitoring alerts and internal transfers, published with
    JetStream on `tickets.intake.<channel>` with `Nats-Msg-Id: <channel>:<external_id>`.
    Then, for most tickets, commands on `tickets.cmd.*` as agents (A001..A008) and
    supervisors (S001, S002) would send them: assign, acknowledge, internal and
    customer-visible updates (some waiting on the customer), escalations, reclassify,
    close, and the customer's rating (a low one reopens). Ends with a summary.
    Exit status 0 when every request was stored and every command accepted, else 1.
    """
    import random
    from datetime import datetime

    from services.simulation import generate, summary_lines

    seed = random.SystemRandom().randrange(10**6) if seed is None else seed
    now = datetime.now().astimezone()
    run = run_id or f"sim-{now:%Y%m%d%H%M%S}-{seed}"
    if not 0 < len(run) <= 150:
        raise fail(ValueError("--run-id must be 1 to 150 characters"), 2)
    try:
        stories = generate(tickets, seed, now, run)
    except FileNotFoundError as error:  # an installation without services/simdata
        raise fail(RuntimeError(f"the simulator's texts are missing: {error}"), 1) from None
    try:
        report, seconds = asyncio.run(_simulate(client_url(nats_url, data_dir), stories,
                                                rate, concurrency, timeout))
    except ClientError as error:
        raise fail(error, error.code) from None
    for line in summary_lines(report, stories, f"seed {seed}, run {run}", seconds):
        typer.echo(line)
    raise typer.Exit(0 if report.clean else 1)


async def _simulate(url: str, stories: list, rate: float | None, concurrency: int,
                    timeout: float) -> tuple:
    import time

    from rich.console import Console
    from rich.progress import Progress

    from services.simulation import Simulation, SimulationError

    console = Console(stderr=True)
    nc = await connect(url)
    started = time.monotonic()
    try:
        with Progress(console=console, transient=True, disable=not console.is_terminal) as bar:
            tasks = {"requests": bar.add_task("requests sent", total=len(stories)),
                     "tickets": bar.add_task("tickets worked", total=len(stories))}
            simulation = Simulation(nc, rate=rate, timeout=timeout, concurrency=concurrency,
                                    progress=lambda kind, n: bar.advance(tasks[kind], n))
            report = await simulation.run(stories)
    except SimulationError as error:
        raise ClientError(str(error)) from None
    finally:
        await nc.close()
    return report, time.monotonic() - started


def main() -> None:
    # The client commands of the read side and `status` live in their own modules;
    # importing them registers them on `services.cli.app` (also when this file runs as
    # __main__).
    import services.cli_privacy
    import services.cli_read
    import services.cli_status  # noqa: F401
    from services import cli

    cli.app(prog_name="ticketflow")


if __name__ == "__main__":
    main()
    sys.exit(0)
