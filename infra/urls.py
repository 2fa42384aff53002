"""URLs: NATS URLs as they may be shown or written down (without credentials), and
which kind of store a store URL names."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

POSTGRES_SCHEMES = ("postgresql", "postgres")


def is_postgres(store_url: str | None) -> bool:
    """A PostgreSQL store URL (`postgresql://...` or `postgres://...`); else SQLite."""
    return bool(store_url) and urlsplit(store_url or "").scheme in POSTGRES_SCHEMES


def without_credentials(url: str) -> str:
    """`nats://u:p@h:4222,nats://h2:4222` -> `nats://h:4222,nats://h2:4222`."""
    return ",".join(_one(part.strip()) for part in url.split(","))


def _one(url: str) -> str:
    parts = urlsplit(url)
    netloc = (parts.hostname or "") + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
