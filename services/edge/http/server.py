"""The HTTP server of an instance (the API and the console): uvicorn on the service's
own event loop, started and stopped like every other worker.

Behind a TLS proxy, the proxy's `X-Forwarded-Proto` and `X-Forwarded-For` name the
scheme and the client when it connects from an address of `forwarded_allow_ips`
(`--http-forwarded-allow-ips`); a request that came over https gets every cookie marked
`Secure`, so a browser never sends the session over plain http.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Generator, Sequence

import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("ticketflow.http")


class _InLoop(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield  # SIGINT and SIGTERM belong to the service, which stops this server itself


class SecureCookies:
    """Over https, every cookie a response sets is `Secure` (the session, the language,
    the one that ends a session); over plain http they stay as they are."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("scheme") != "https":
            await self.app(scope, receive, send)
            return

        async def send_secure(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [_secure(name, value) for name, value in message.get("headers", [])]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_secure)


def _secure(name: bytes, value: bytes) -> tuple[bytes, bytes]:
    attributes = {part.strip().lower() for part in value.split(b";")[1:]}
    if name.lower() == b"set-cookie" and b"secure" not in attributes:
        value += b"; Secure"
    return name, value


class HttpServer:
    name = "http"

    def __init__(
        self,
        host: str,
        port: int,
        routes: Sequence[BaseRoute],
        closing: asyncio.Event,
        forwarded_allow_ips: str = "127.0.0.1",
    ) -> None:
        self.host, self.port, self.closing = host, port, closing
        app = Starlette(routes=list(routes), middleware=[Middleware(SecureCookies)])
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            proxy_headers=True,
            forwarded_allow_ips=forwarded_allow_ips,
            lifespan="off",
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=5,
        )
        self._server = _InLoop(config)
        self.task: asyncio.Task | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    async def start(self) -> None:
        self.task = asyncio.create_task(self._server.serve(), name=self.name)
        while not self._server.started:
            if self.task.done():
                self.task.result()  # the port is taken, say: raise why
            await asyncio.sleep(0.01)
        self.port = self._server.servers[0].sockets[0].getsockname()[1]
        log.info("HTTP API on %sapi/v1/", self.url, extra={"port": self.port})

    async def stop(self) -> None:
        self.closing.set()  # open event streams end within a second
        self._server.should_exit = True
        if self.task is not None:
            await asyncio.wait([self.task], timeout=10)
