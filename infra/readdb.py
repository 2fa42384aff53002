"""The read side's database: the projections' tables, in a SQLite file of their own
beside the store (`infra.store.read_models_url`) or in the store's PostgreSQL database.

A thin layer over sqlite3 and psycopg so projections write one SQL dialect: `?`
placeholders, `INSERT ... ON CONFLICT ... DO UPDATE`, TEXT/BIGINT/DOUBLE PRECISION.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast
from urllib.parse import parse_qs, unquote, urlparse

from infra.urls import is_postgres

POSITIONS = """CREATE TABLE IF NOT EXISTS projection_positions (
    name TEXT PRIMARY KEY, stream_seq BIGINT NOT NULL, store_seq BIGINT NOT NULL DEFAULT 0)"""
# Databases from before `store_seq` (the store sequence of the last event applied).
ADD_STORE_SEQ = "ALTER TABLE projection_positions ADD COLUMN store_seq BIGINT NOT NULL DEFAULT 0"
VERSIONS = """CREATE TABLE IF NOT EXISTS projection_versions (
    name TEXT PRIMARY KEY, version BIGINT NOT NULL)"""


WAL_LIMIT = 256 * 1024 * 1024  # bytes of write-ahead log before a writer starts it over
WAL_CHECK_EVERY = 20  # write transactions between looks at its size
CHECKPOINT_PAGES = 10_000  # the read models' automatic checkpoint (about 40 MB; SQLite's: 1,000)


class Tx:
    """A transaction's cursor that speaks `?` placeholders on both databases."""

    def __init__(self, cursor: Any, postgres: bool) -> None:
        self._cursor, self._postgres = cursor, postgres

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Tx:
        self._cursor.execute(sql.replace("?", "%s") if self._postgres else sql, params)
        return self

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self._cursor.executemany(sql.replace("?", "%s") if self._postgres else sql, rows)

    def fetchone(self) -> Any:
        return self._cursor.fetchone()

    def columns(self, table: str) -> set[str]:
        return {c[0] for c in self.execute(f"SELECT * FROM {table} WHERE 1=0")._cursor.description}

    def fetchall(self) -> list[Any]:
        return list(self._cursor.fetchall())

    def select_in(self, sql: str, values: Sequence[Any], params: Sequence[Any] = ()) -> list[Any]:
        """The rows of `sql ... IN (values)`: `sql` ends with `IN`, `params` fill its
        placeholders before the list; read in parts of 500 values (a statement's
        placeholders are limited)."""
        rows: list[Any] = []
        for start in range(0, len(values), 500):
            part = values[start : start + 500]
            marks = ", ".join("?" * len(part))
            rows += self.execute(f"{sql} ({marks})", (*params, *part)).fetchall()
        return rows

    def position(self, name: str) -> int:
        return self.positions(name)[0]

    def positions(self, name: str) -> tuple[int, int]:
        """(stream sequence, store sequence) of the last event the projection applied."""
        row = self.execute(
            "SELECT stream_seq, store_seq FROM projection_positions WHERE name=?", (name,)
        ).fetchone()
        return (int(row[0]), int(row[1])) if row else (0, 0)

    def version(self, name: str) -> int:
        """The version of the projection's tables (1: from before versions were kept)."""
        row = self.execute(
            "SELECT version FROM projection_versions WHERE name=?", (name,)
        ).fetchone()
        return int(row[0]) if row else 1

    def set_version(self, name: str, version: int) -> None:
        self.execute(
            "INSERT INTO projection_versions (name, version) VALUES (?, ?) "
            "ON CONFLICT (name) DO UPDATE SET version = excluded.version",
            (name, version),
        )

    def set_position(self, name: str, stream_seq: int, store_seq: int = 0) -> None:
        self.execute(
            "INSERT INTO projection_positions (name, stream_seq, store_seq) "
            "VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE SET "
            "stream_seq = excluded.stream_seq, store_seq = excluded.store_seq",
            (name, stream_seq, store_seq),
        )


class ReadDB:
    """One connection; its transactions take turns (threads may share it).

    `durable=False` (the read models): on SQLite a commit is not synced to the disk at
    once (`synchronous=NORMAL` in WAL mode: never corrupt, and nothing is lost when the
    process dies; a power cut may lose the last commits, which the projections then
    apply again from the stream, since each commits its rows and its position
    together). Keep the default for what cannot be rebuilt (the personal-data keys).

    The write-ahead log stays bounded: SQLite's own checkpoints copy it into the file
    but cannot start it over while some reader is always active (a busy read side), so
    a writer that finds it past `WAL_LIMIT` waits for the readers in hand and starts
    it over (`wal_checkpoint(TRUNCATE)`). The read models checkpoint every
    `CHECKPOINT_PAGES` pages rather than SQLite's 1,000: a batch rewrites the same
    pages again and again, and each checkpoint copies a page once.
    """

    def __init__(self, store_url: str, *, durable: bool = True) -> None:
        parsed = urlparse(store_url)
        self.postgres = is_postgres(store_url)
        self._store_url, self._conn = store_url, cast(Any, None)
        self._wal: Path | None = None
        self._commits = 0
        if self.postgres:
            self._connect_postgres()
        else:
            path = unquote(parsed.path)
            self._conn = sqlite3.connect(
                ":memory:" if path == "/:memory:" else path,
                timeout=30,
                isolation_level=None,
                check_same_thread=False,
            )
            self._conn.execute("PRAGMA journal_mode=WAL")  # readers never block the writer
            if not durable:
                self._conn.execute("PRAGMA synchronous=NORMAL")
                # Fewer, larger checkpoints: a page a batch rewrites again and again is
                # copied into the file once per checkpoint, not once per 1,000 pages.
                self._conn.execute(f"PRAGMA wal_autocheckpoint={CHECKPOINT_PAGES}")
            self._wal = None if path == "/:memory:" else Path(f"{path}-wal")
        self._lock = threading.Lock()
        with self.transaction() as tx:
            tx.execute(POSITIONS)
            tx.execute(VERSIONS)
            if "store_seq" not in tx.columns("projection_positions"):
                tx.execute(ADD_STORE_SEQ)

    def _connect_postgres(self) -> None:
        import psycopg

        schema = parse_qs(urlparse(self._store_url).query).get("schema", [None])[0]
        self._conn = psycopg.connect(
            self._store_url.split("?", 1)[0], autocommit=True, connect_timeout=10
        )
        if schema:
            self._conn.execute(f'SET search_path TO "{schema}"')

    @contextmanager
    def transaction(self, write: bool = True) -> Iterator[Tx]:
        """A transaction; `write=False` for reads (on SQLite it takes no write lock)."""
        with self._lock:
            yield from self._transaction(write)

    def _transaction(self, write: bool) -> Iterator[Tx]:
        if self.postgres:
            if self._conn.broken or self._conn.closed:  # the server restarted: a new session
                self._connect_postgres()
            with self._conn.transaction(), self._conn.cursor() as cursor:
                yield Tx(cursor, postgres=True)
            return
        cursor = self._conn.cursor()
        cursor.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        try:
            yield Tx(cursor, postgres=False)
        except BaseException:
            cursor.execute("ROLLBACK")
            raise
        cursor.execute("COMMIT")
        if write:
            self._bound_wal()

    def _bound_wal(self) -> None:
        self._commits += 1
        if self._wal is None or self._commits % WAL_CHECK_EVERY:
            return
        try:
            size = self._wal.stat().st_size
        except OSError:
            return
        if size > WAL_LIMIT:
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()

    def outside_transaction(self, sql: str) -> list[Any]:
        """A statement that cannot run in a transaction (VACUUM, PRAGMA wal_checkpoint)."""
        with self._lock:
            cursor = self._conn.execute(sql)
            return list(cursor.fetchall()) if cursor.description else []

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
