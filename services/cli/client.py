"""What every client command does to talk to a running service: find its URL, connect
(failing at once when nothing listens), ask one question, and turn a refusal into an
error message and an exit status."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import typer

from infra.urls import without_credentials


class ClientError(Exception):
    """A client command cannot go on; `code` is its exit status."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def client_url(nats_url: str | None, data_dir: Path | None = None) -> str:
    """--nats-url, else the URL a running `ticketflow up` wrote to DATA_DIR/nats.url, else
    its embedded server's ports file under DATA_DIR/nats, else the NATS default port.
    Without a data dir: TICKETFLOW_DATA_DIR, else `.ticketflow`."""
    if nats_url:
        return nats_url
    data_dir = data_dir or Path(os.environ.get("TICKETFLOW_DATA_DIR", ".ticketflow"))
    written = data_dir / "nats.url"
    if written.exists():
        return written.read_text().strip()
    for ports in sorted((data_dir / "nats").glob("nats-server_*.ports"), reverse=True):
        try:
            os.kill(int(ports.stem.rpartition("_")[2]), 0)  # a live server, not a stale file
            return str(json.loads(ports.read_text())["nats"][0]).replace(
                "nats://0.0.0.0", "nats://127.0.0.1"
            )
        except (OSError, ValueError, KeyError, IndexError):
            continue
    return "nats://127.0.0.1:4222"


async def connect(url: str, timeout: float = 5.0) -> Any:  # -> nats.aio.client.Client
    """A connection that fails at once, without retrying, when nothing listens at `url`."""
    import asyncio

    import nats

    from infra.nats_credentials import connect_options

    async def quiet(error: Exception) -> None:  # the failure is reported once, below
        pass

    try:
        return await asyncio.wait_for(
            nats.connect(
                url,
                connect_timeout=min(3.0, timeout),
                allow_reconnect=False,
                max_reconnect_attempts=1,
                reconnect_time_wait=0.1,
                error_cb=quiet,
                **connect_options(url),
            ),
            timeout,
        )
    except (OSError, TimeoutError, nats.errors.Error) as error:
        raise ClientError(
            f"cannot connect to NATS at {without_credentials(url)} "
            f"({error or type(error).__name__}); is `ticketflow up` running? "
            "Give its URL with --nats-url"
        ) from None


async def ask(nc: Any, subject: str, body: dict, timeout: float) -> dict:
    """One request/reply; an `ok: false` reply raises ClientError (exit 2 for `invalid`)."""
    import nats

    try:
        reply = await nc.request(subject, json.dumps(body).encode(), timeout=timeout)
    except nats.errors.NoRespondersError:
        raise ClientError(
            f"no ticketflow service answers on {subject}: is `ticketflow up` "
            "running on this NATS server?"
        ) from None
    except nats.errors.TimeoutError:
        raise ClientError(f"no reply on {subject} within {timeout:g}s") from None
    answer = json.loads(reply.data)
    if not answer.get("ok"):
        error = answer.get("error") or {}
        raise ClientError(
            f"{error.get('code')}: {error.get('message')}",
            2 if error.get("code") == "invalid" else 1,
        )
    return answer


async def ask_once(url: str, subject: str, body: dict, timeout: float = 30.0) -> dict:
    """Connect, ask, close."""
    nc = await connect(url, timeout=min(timeout, 5.0))
    try:
        return await ask(nc, subject, body, timeout)
    finally:
        await nc.close()


def fail(error: Exception | str, code: int) -> typer.Exit:
    """Say why on stderr; the caller raises the returned Exit."""
    typer.echo(f"error: {error}", err=True)
    return typer.Exit(code)
