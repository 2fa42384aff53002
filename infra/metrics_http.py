"""A tiny HTTP/1.1 server on the service's event loop for `/metrics`, `/healthz` and
`/readyz`: GET (and HEAD) only, one request per connection. Enough for a Prometheus
scrape or a probe; nothing else is served.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from http import HTTPStatus

log = logging.getLogger("ticketflow.metrics")
Response = tuple[int, str, bytes]  # status, content type, body
Route = Callable[[], Awaitable[Response]]
READ_TIMEOUT = 5.0


class MetricsServer:
    name = "metrics-http"
    task = None  # it serves from the event loop's own server, no task of its own

    def __init__(self, host: str, port: int, routes: dict[str, Route]) -> None:
        self.host, self.port, self.routes = host, port, routes
        self._server: asyncio.Server | None = None

    async def start(self) -> int:
        """Listen; returns the port (the one the system chose when asked for 0)."""
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("metrics on http://%s:%d/metrics", self.host, self.port, extra={"port": self.port})
        return self.port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(READ_TIMEOUT):
                request = await reader.readuntil(b"\r\n\r\n")
            method, path = _request_line(request)
            status, kind, body = await self._answer(method, path)
            head = (
                f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n"
                f"Content-Type: {kind}\r\nContent-Length: {len(body)}\r\n"
                "Connection: close\r\n\r\n"
            )
            writer.write(head.encode() + (b"" if method == "HEAD" else body))
            await writer.drain()
        except (
            TimeoutError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
            ConnectionError,
        ):
            pass  # a client that went away or never finished asking
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _answer(self, method: str, path: str) -> Response:
        if method not in ("GET", "HEAD"):
            return 405, "text/plain", b"GET only\n"
        route = self.routes.get(path.split("?", 1)[0])
        if route is None:
            return 404, "text/plain", f"not found; try {', '.join(self.routes)}\n".encode()
        try:
            return await route()
        except Exception as error:
            log.error("%s failed: %s: %s", path, type(error).__name__, error, exc_info=error)
            return 500, "text/plain", f"{type(error).__name__}: {error}\n".encode()


def _request_line(request: bytes) -> tuple[str, str]:
    parts = request.split(b"\r\n", 1)[0].decode("latin-1").split()
    return (parts[0], parts[1]) if len(parts) >= 2 else ("", "")
