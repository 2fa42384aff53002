"""`ticketflow simulate`: realistic traffic through the public subjects (the generator
and the driver are in `services.cli.simulation`)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from services.cli.client import ClientError, client_url, connect, fail
from services.cli.options import ClientDataDir, ClientNatsUrl, Timeout
from services.runtime.settings import clock_offset_from_env


def simulate(
    tickets: Annotated[
        int,
        typer.Option("--tickets", min=1, help="How many requests to send (each makes one ticket)."),
    ],
    rate: Annotated[
        float | None,
        typer.Option(
            "--rate",
            min=0.01,
            help="Intake requests per second. Unset: as fast as the server acknowledges them.",
        ),
    ] = None,
    seed: Annotated[
        int | None,
        typer.Option(
            "--seed",
            help="Seed of the generator: the same seed sends the same texts and "
            "commands. Unset: a random one, printed in the summary.",
        ),
    ] = None,
    run_id: Annotated[
        str | None,
        typer.Option(
            "--run-id",
            help="Prefix of the external ids (default sim-<time>-<seed>). The same run "
            "id and seed repeat the same requests, which intake treats as "
            "duplicates.",
        ),
    ] = None,
    concurrency: Annotated[
        int,
        typer.Option(
            "--concurrency", min=1, help="Tickets worked on at once by the simulated agents."
        ),
    ] = 32,
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

    from services.cli.simulation import generate, summary_lines

    seed = random.SystemRandom().randrange(10**6) if seed is None else seed
    now = datetime.now().astimezone() + clock_offset_from_env()  # the service's clock
    run = run_id or f"sim-{now:%Y%m%d%H%M%S}-{seed}"
    if not 0 < len(run) <= 150:
        raise fail(ValueError("--run-id must be 1 to 150 characters"), 2)
    try:
        stories = generate(tickets, seed, now, run)
    except FileNotFoundError as error:  # an installation without services/cli/simdata
        raise fail(RuntimeError(f"the simulator's texts are missing: {error}"), 1) from None
    try:
        report, seconds = asyncio.run(
            _simulate(client_url(nats_url, data_dir), stories, rate, concurrency, timeout)
        )
    except ClientError as error:
        raise fail(error, error.code) from None
    for line in summary_lines(report, stories, f"seed {seed}, run {run}", seconds):
        typer.echo(line)
    raise typer.Exit(0 if report.clean else 1)


async def _simulate(
    url: str, stories: list, rate: float | None, concurrency: int, timeout: float
) -> tuple:
    import time

    from rich.console import Console
    from rich.progress import Progress

    from services.cli.simulation import Simulation, SimulationError

    console = Console(stderr=True)
    nc = await connect(url)
    started = time.monotonic()
    try:
        with Progress(console=console, transient=True, disable=not console.is_terminal) as bar:
            tasks = {
                "requests": bar.add_task("requests sent", total=len(stories)),
                "tickets": bar.add_task("tickets worked", total=len(stories)),
            }
            simulation = Simulation(
                nc,
                rate=rate,
                timeout=timeout,
                concurrency=concurrency,
                progress=lambda kind, n: bar.advance(tasks[kind], n),
            )
            report = await simulation.run(stories)
    except SimulationError as error:
        raise ClientError(str(error)) from None
    finally:
        await nc.close()
    return report, time.monotonic() - started
