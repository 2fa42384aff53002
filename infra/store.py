"""Event store settings: SQLite under the data dir by default, PostgreSQL by URL.

Stored events are encrypted at rest with AES-GCM (the library's cipher); the key
comes from `TICKETFLOW_CIPHER_KEY` or a key file created under the data dir
(`keys/store.key`, mode 0600). Every instance sharing one store needs the same key.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

from eventsourcing.cryptography import AESCipher

from infra.urls import is_postgres

CIPHER_KEY_ENV = "TICKETFLOW_CIPHER_KEY"


class StoreUrlError(ValueError):
    pass


def default_store_url(data_dir: Path) -> str:
    return f"sqlite:///{(data_dir / 'tickets.db').resolve()}"


def read_models_url(store_url: str) -> str:
    """Where the read side keeps its tables. On SQLite, a file of its own beside the
    store (`tickets.db` -> `tickets-read.db`): its own write lock, so projections never
    queue behind intake, and commits that need not reach the disk at once (the read
    models can be rebuilt from the event stream). On PostgreSQL, the store's database."""
    parsed = urlparse(store_url)
    path = unquote(parsed.path)
    if parsed.scheme != "sqlite" or path in ("", "/", "/:memory:"):
        return store_url
    file = Path(path)
    folder = store_url.split("?", 1)[0].rsplit("/", 1)[0]
    return f"{folder}/{file.stem}-read{file.suffix or '.db'}"


def cipher_key(data_dir: Path) -> str:
    if os.environ.get(CIPHER_KEY_ENV):
        return os.environ[CIPHER_KEY_ENV]
    path = data_dir / "keys" / "store.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(AESCipher.create_key(32))
    return path.read_text().strip()


def store_env(url: str, data_dir: Path) -> dict[str, str]:
    """The eventsourcing environment for a store URL."""
    env = {
        "CIPHER_TOPIC": "eventsourcing.cryptography:AESCipher",
        "CIPHER_KEY": cipher_key(data_dir),
    }
    parsed = urlparse(url)
    if parsed.scheme == "sqlite":
        path = unquote(parsed.path)
        if not path or path == "/":
            raise StoreUrlError(f"store URL {url!r} names no file: use sqlite:///PATH")
        if path != "/:memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        env.update(
            PERSISTENCE_MODULE="eventsourcing.sqlite",
            SQLITE_DBNAME=":memory:" if path == "/:memory:" else path,
            SQLITE_LOCK_TIMEOUT="30",
        )
        return env
    if is_postgres(url):
        if not parsed.hostname or not parsed.path.strip("/"):
            raise StoreUrlError(f"store URL {url!r} needs a host and a database")
        env.update(
            PERSISTENCE_MODULE="eventsourcing.postgres",
            POSTGRES_DBNAME=parsed.path.strip("/"),
            POSTGRES_HOST=parsed.hostname,
            POSTGRES_PORT=str(parsed.port or 5432),
            POSTGRES_USER=unquote(parsed.username or "postgres"),
            POSTGRES_PASSWORD=unquote(parsed.password or ""),
            POSTGRES_POOL_SIZE="10",
            POSTGRES_CONNECT_TIMEOUT="10",
            # a pooled connection is checked before use: after a server restart
            # the broken ones are replaced instead of failing every save once
            POSTGRES_PRE_PING="y",
        )
        schema = parse_qs(parsed.query).get("schema")
        if schema:
            env["POSTGRES_SCHEMA"] = schema[0]
        return env
    raise StoreUrlError(
        f"unknown store URL {url!r}: use sqlite:///PATH or postgresql://USER@HOST:PORT/DB"
    )
