"""The options commands share: where the store is (`up`, `forget`, `purge`), and for the
client commands where the service is and how long to wait."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

ClientNatsUrl = Annotated[
    str | None,
    typer.Option(
        "--nats-url",
        envvar="TICKETFLOW_NATS_URL",
        help="The NATS server ticketflow serves on (the URL `ticketflow up` printed). Unset: "
        "the embedded server of a `ticketflow up` running with --data-dir, else "
        "nats://127.0.0.1:4222.",
    ),
]
ClientDataDir = Annotated[
    Path,
    typer.Option(
        "--data-dir",
        envvar="TICKETFLOW_DATA_DIR",
        help="Without --nats-url: find the embedded server of `ticketflow up` running with "
        "this data dir.",
    ),
]
Timeout = Annotated[
    float, typer.Option("--timeout", min=0.1, help="Seconds to wait for each reply.")
]
Store = Annotated[
    str | None,
    typer.Option(
        "--store",
        envvar="TICKETFLOW_STORE",
        help="sqlite:///PATH (default: DATA_DIR/tickets.db) or postgresql://USER@HOST:PORT/DB",
    ),
]
