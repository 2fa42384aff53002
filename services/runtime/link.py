"""The NATS connection of one instance: to the server `--nats-url` names, or to an
embedded nats-server started under the data dir (with `--auth`, requiring credentials).
The streams are created or updated once connected."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from typing import Any

import nats
from nats.aio.client import Client
from nats.js import JetStreamContext

from infra.nats_auth import embedded_accounts
from infra.nats_credentials import (
    NatsCredentials,
    from_env,
    responder_credentials,
    service_credentials,
)
from infra.nats_server import EmbeddedNats
from infra.streams import ensure_streams
from services.runtime.settings import Settings


@dataclass
class NatsLink:
    url: str
    nc: Client
    js: JetStreamContext
    credentials: NatsCredentials | None  # the service's own NATS identity
    embedded: EmbeddedNats | None
    # With `--auth`: the responders' identity in their own account, and each login's role
    # (the file's users and the service's own user), for the actor of a request.
    responder: NatsCredentials | None = None
    logins: dict[str, str] | None = None

    @property
    def servers(self) -> list[str]:
        return [u.strip() for u in self.url.split(",")]  # a cluster: several URLs

    @classmethod
    async def open(cls, s: Settings) -> NatsLink:
        embedded, credentials, responder = None, None, None
        if s.nats_url:
            url, credentials = s.nats_url, from_env()
        else:
            embedded, credentials, responder = _embedded(s)
            url = await asyncio.to_thread(embedded.start)
        login = credentials.connect_options() if credentials else {}
        servers = [u.strip() for u in url.split(",")]
        nc = await nats.connect(
            servers=servers, name="ticketflow", max_reconnect_attempts=-1, **login
        )
        js = nc.jetstream(publish_async_max_pending=4000)
        await ensure_streams(js, replicas=s.replicas)
        logins: dict[str, str] | None = None
        if s.auth and credentials is not None:
            logins = {u.name: str(u.role) for u in s.auth.users} | {credentials.user: "system"}
        return cls(url, nc, js, credentials, embedded, responder, logins)

    def broker_login(self) -> dict[str, Any]:
        """The responders' identity for the faststream broker: their own account's with
        `--auth`, else the service's."""
        if self.credentials is None:
            return {}
        from faststream.nats.security import NatsUserPassword

        c = self.responder or self.credentials
        return {
            "security": NatsUserPassword(c.user, c.password),
            "inbox_prefix": c.connect_options()["inbox_prefix"],
        }

    async def close(self) -> None:
        await self.nc.flush()
        await self.nc.close()
        if self.embedded:
            await asyncio.to_thread(self.embedded.stop)


def _embedded(
    s: Settings,
) -> tuple[EmbeddedNats, NatsCredentials | None, NatsCredentials | None]:
    """With --auth the server requires credentials: the file's users with their roles'
    subjects, the service's own identity with every right, and its responders in an
    account of their own that learns who sent each request."""
    credentials, responder, config = None, None, ""
    if s.auth:
        credentials, own_user = service_credentials(s.auth)
        own = (credentials.user, credentials.password) if own_user else None
        responder = responder_credentials()
        config = embedded_accounts(
            s.auth, dict(os.environ), own, (responder.user, responder.password)
        )
    server = EmbeddedNats(
        s.data_dir / "nats",
        sync_interval=s.nats_sync,
        extra_config=config,
        secret_config=bool(s.auth),
    )
    return server, credentials, responder
