"""Leadership among instances that share a store: exactly one runs the relay and the read
side (projections, SLA watcher, group impact); every instance runs intake, commands and
queries.

PostgreSQL: a session advisory lock, held by a dedicated connection; the server frees
it when that session dies, so a crashed leader's successor takes over within
`poll` seconds. SQLite (one host): an exclusive `flock` on a file beside the store.
When the lock's session dies (PostgreSQL restarted, the connection broke) the leader
tries to take the lock again on a new session for `regain` seconds: it goes on leading
if it gets it (a restart of the database alone does not stop the service); if another
instance took it, or the database stays away, it stops with an error, so its
supervisor restarts it as a follower instead of two leaders running on.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import logging
import os
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from infra.urls import is_postgres

log = logging.getLogger("ticketflow.lease")


class LeaseLost(RuntimeError):
    pass


class Lease:
    def __init__(self, store_url: str, poll: float = 1.0, regain: float = 60.0) -> None:
        self.store_url, self.poll, self.regain = store_url, poll, regain
        parsed = urlparse(store_url)
        self.postgres = is_postgres(store_url)
        schema = parse_qs(parsed.query).get("schema", ["public"])[0]
        digest = hashlib.sha256(f"ticketflow-leader:{schema}".encode()).digest()
        self._key = int.from_bytes(digest[:8], "big", signed=True)
        self._lock_path = Path(unquote(parsed.path) + ".leader.lock")
        self._conn: Any = None
        self._fd: int | None = None

    async def acquire(self) -> None:
        """Wait until this instance leads."""
        waited = False
        while not await asyncio.to_thread(self._try):
            if not waited:
                log.info("another instance leads; this one waits to take over")
                waited = True
            await asyncio.sleep(self.poll)
        log.info("this instance leads: relay and read side run here")

    def _try(self) -> bool:
        if self.postgres:
            import psycopg

            if self._conn is None:
                self._conn = psycopg.connect(
                    self.store_url.split("?", 1)[0], autocommit=True, connect_timeout=5
                )
            row = self._conn.execute("SELECT pg_try_advisory_lock(%s)", (self._key,)).fetchone()
            return bool(row and row[0])
        fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    async def hold(self) -> None:
        """Return (by raising LeaseLost) only if the lock can no longer be vouched for."""
        while True:
            await asyncio.sleep(self.poll)
            if self.postgres and self._conn is not None:
                try:
                    await asyncio.to_thread(self._conn.execute, "SELECT 1")
                except Exception as error:
                    await self._take_again(error)

    async def _take_again(self, error: Exception) -> None:
        log.warning("the leader lock's session died (%s); taking it again", error)
        self._drop_connection()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.regain
        while loop.time() < deadline:
            try:
                held = await asyncio.to_thread(self._try)
            except Exception:  # the database is not back yet
                self._drop_connection()
                await asyncio.sleep(self.poll)
                continue
            if not held:
                raise LeaseLost("lost the leader lock: another instance holds it now")
            log.info("the leader lock is held again")
            return
        raise LeaseLost(f"lost the leader lock: no database for {self.regain}s ({error})")

    def _drop_connection(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None

    def release(self) -> None:
        self._drop_connection()
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None
