"""The HTTP server of an instance (the API, later the console): uvicorn on the
service's own event loop, started and stopped like every other worker."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Generator, Sequence

import uvicorn
from starlette.applications import Starlette
from starlette.routing import BaseRoute

log = logging.getLogger("ticketflow.http")


class _InLoop(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield  # SIGINT and SIGTERM belong to the service, which stops this server itself


class HttpServer:
    name = "http"

    def __init__(
        self, host: str, port: int, routes: Sequence[BaseRoute], closing: asyncio.Event
    ) -> None:
        self.host, self.port, self.closing = host, port, closing
        app = Starlette(routes=list(routes))
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
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
