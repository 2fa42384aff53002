"""Per-customer data keys (crypto-shredding), in the store's own database.

Each subject (`customer:<id>`, or `ticket:<id>` for a request without a customer id)
has one random 256-bit AES-GCM key. A ticket's personal data is sealed under it
before the ticket is stored; destroying the key makes that data unreadable in every
stored event and snapshot, without touching the events (the hash chain and the
history stay as they were).

Tables (the same SQLite file, or the same PostgreSQL database and schema, as the
store and the read models):
- `personal_keys`: subject, key id, the key wrapped with the store's key (a copy of
  the database alone opens nothing), when it was made and last used;
- `personal_tickets`: which tickets each subject's keys sealed (what `forget` and the
  retention purge erase). Written before the ticket is stored.

Destroying a key deletes its row. On SQLite the connection runs with
`secure_delete` and checkpoints the write-ahead log afterwards, so the bytes are
overwritten in the file; on PostgreSQL the table is rewritten (`VACUUM FULL`), which
leaves no dead row behind. Backups and the database's own WAL archives are outside
this reach (docs/contract.md, "Personal data").
"""

from __future__ import annotations

import json
import os
from base64 import b64decode, b64encode
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote
from uuid import uuid4

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from infra.readdb import ReadDB

TABLES = (
    """CREATE TABLE IF NOT EXISTS personal_keys (
        subject TEXT PRIMARY KEY, key_id TEXT NOT NULL UNIQUE, wrapped TEXT NOT NULL,
        created_at TEXT NOT NULL, last_used_at TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS personal_keys_by_use ON personal_keys (last_used_at)",
    """CREATE TABLE IF NOT EXISTS personal_tickets (
        ticket_id TEXT PRIMARY KEY, subject TEXT NOT NULL, key_id TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS personal_tickets_by_subject ON personal_tickets (subject)",
    """CREATE TABLE IF NOT EXISTS personal_purges (
        ran_at TEXT PRIMARY KEY, erased BIGINT NOT NULL)""",
)
NONCE = 12


class SealBroken(ValueError):
    """Sealed data that does not open with its own key: it was altered."""


@dataclass(frozen=True)
class DataKey:
    key_id: str
    key: bytes

    def seal(self, fields: dict[str, Any]) -> str:
        nonce = os.urandom(NONCE)
        plain = json.dumps(fields, ensure_ascii=False, separators=(",", ":")).encode()
        return b64encode(
            nonce + AESGCM(self.key).encrypt(nonce, plain, self.key_id.encode())
        ).decode()

    def open(self, sealed: str) -> dict[str, Any]:
        raw = b64decode(sealed)
        try:
            plain = AESGCM(self.key).decrypt(raw[:NONCE], raw[NONCE:], self.key_id.encode())
        except Exception as error:  # InvalidTag: the bytes or the key id were changed
            raise SealBroken(f"sealed data under key {self.key_id} does not open") from error
        fields: dict[str, Any] = json.loads(plain)
        return fields


class KeyVault:
    def __init__(self, db_url: str, wrapping_key: str) -> None:
        self.db = ReadDB(db_url)
        self._wrap = AESGCM(b64decode(wrapping_key))
        if not self.db.postgres:
            self.db.outside_transaction("PRAGMA secure_delete=ON")
        with self.db.transaction() as tx:
            for ddl in TABLES:
                tx.execute(ddl)

    # ---- issuing ----------------------------------------------------------------------

    def issue(self, tickets: Iterable[tuple[str, str]], now: datetime) -> dict[str, DataKey]:
        """The live key of each subject (made when it has none), for (subject,
        ticket_id) pairs; the tickets are indexed under their subject. One transaction."""
        pairs = list(tickets)
        subjects = sorted({subject for subject, _ in pairs})
        at = now.isoformat()
        with self.db.transaction() as tx:
            for subject in subjects:
                key_id = uuid4().hex
                tx.execute(
                    "INSERT INTO personal_keys (subject, key_id, wrapped, created_at, "
                    "last_used_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (subject) DO UPDATE SET "
                    "last_used_at = CASE WHEN excluded.last_used_at > "
                    "personal_keys.last_used_at THEN excluded.last_used_at "
                    "ELSE personal_keys.last_used_at END",
                    (subject, key_id, self._wrapped(key_id, AESGCM.generate_key(256)), at, at),
                )
            keys = {
                row[0]: DataKey(row[1], self._unwrapped(row[1], row[2]))
                for row in tx.select_in(
                    "SELECT subject, key_id, wrapped FROM personal_keys WHERE subject IN",
                    subjects,
                )
            }
            tx.executemany(
                "INSERT INTO personal_tickets (ticket_id, subject, key_id) "
                "VALUES (?, ?, ?) ON CONFLICT (ticket_id) DO NOTHING",
                [(t, s, keys[s].key_id) for s, t in pairs],
            )
        return keys

    def key(self, key_id: str) -> DataKey | None:
        with self.db.transaction(write=False) as tx:
            row = tx.execute(
                "SELECT wrapped FROM personal_keys WHERE key_id=?", (key_id,)
            ).fetchone()
        return DataKey(key_id, self._unwrapped(key_id, row[0])) if row else None

    def keys(self, key_ids: Iterable[str]) -> dict[str, DataKey]:
        """The live keys among `key_ids`, in one read (a destroyed key is absent)."""
        wanted = sorted(set(key_ids))
        if not wanted:
            return {}
        with self.db.transaction(write=False) as tx:
            rows = tx.select_in("SELECT key_id, wrapped FROM personal_keys WHERE key_id IN", wanted)
        return {row[0]: DataKey(row[0], self._unwrapped(row[0], row[1])) for row in rows}

    def reveal(self, key_id: str, sealed: str) -> dict[str, Any] | None:
        """The sealed fields, or None when the key was destroyed."""
        key = self.key(key_id)
        return key.open(sealed) if key else None

    # ---- finding and destroying ---------------------------------------------------------

    def tickets_of(self, subject: str) -> list[str]:
        """Every ticket any key of the subject sealed (also keys destroyed since)."""
        with self.db.transaction(write=False) as tx:
            rows = tx.execute(
                "SELECT ticket_id FROM personal_tickets WHERE subject=? ORDER BY ticket_id",
                (subject,),
            ).fetchall()
        return [row[0] for row in rows]

    def subject_of(self, ticket_id: str) -> str | None:
        with self.db.transaction(write=False) as tx:
            row = tx.execute(
                "SELECT subject FROM personal_tickets WHERE ticket_id=?", (ticket_id,)
            ).fetchone()
        return row[0] if row else None

    def unused_since(self, cutoff: datetime) -> list[str]:
        """Subjects with a live key that sealed nothing new since `cutoff`."""
        with self.db.transaction(write=False) as tx:
            rows = tx.execute(
                "SELECT subject FROM personal_keys WHERE last_used_at <= ? ORDER BY last_used_at",
                (cutoff.isoformat(),),
            ).fetchall()
        return [row[0] for row in rows]

    def has_key(self, subject: str) -> bool:
        with self.db.transaction(write=False) as tx:
            return (
                tx.execute("SELECT 1 FROM personal_keys WHERE subject=?", (subject,)).fetchone()
                is not None
            )

    def destroy(self, subject: str) -> bool:
        """Delete the subject's key and overwrite its bytes; False when it had none."""
        with self.db.transaction() as tx:
            gone = (
                tx.execute("SELECT 1 FROM personal_keys WHERE subject=?", (subject,)).fetchone()
                is not None
            )
            tx.execute("DELETE FROM personal_keys WHERE subject=?", (subject,))
        if gone:
            self._scrub()
        return gone

    def last_purge(self) -> datetime | None:
        """When the retention purge last ran (`record_purge`)."""
        with self.db.transaction(write=False) as tx:
            row = tx.execute("SELECT MAX(ran_at) FROM personal_purges").fetchone()
        return datetime.fromisoformat(row[0]) if row and row[0] else None

    def record_purge(self, at: datetime, erased: int) -> None:
        with self.db.transaction() as tx:
            tx.execute(
                "INSERT INTO personal_purges (ran_at, erased) VALUES (?, ?) "
                "ON CONFLICT (ran_at) DO NOTHING",
                (at.isoformat(), erased),
            )

    def _scrub(self) -> None:
        if self.db.postgres:
            self.db.outside_transaction("VACUUM FULL personal_keys")
        else:
            self.db.outside_transaction("PRAGMA wal_checkpoint(TRUNCATE)")

    def close(self) -> None:
        self.db.close()

    # ---- helpers ------------------------------------------------------------------------

    def _wrapped(self, key_id: str, key: bytes) -> str:
        nonce = os.urandom(NONCE)
        return b64encode(nonce + self._wrap.encrypt(nonce, key, key_id.encode())).decode()

    def _unwrapped(self, key_id: str, wrapped: str) -> bytes:
        raw = b64decode(wrapped)
        return self._wrap.decrypt(raw[:NONCE], raw[NONCE:], key_id.encode())


def vault_for(env: Mapping[str, str]) -> KeyVault:
    """The vault beside the store an eventsourcing environment names."""
    module = env.get("PERSISTENCE_MODULE", "")
    if module.endswith("postgres"):
        user = quote(env.get("POSTGRES_USER", "postgres"), safe="")
        password = env.get("POSTGRES_PASSWORD")
        auth = f"{user}:{quote(password, safe='')}" if password else user
        url = (
            f"postgresql://{auth}@{env['POSTGRES_HOST']}:{env.get('POSTGRES_PORT', '5432')}"
            f"/{env['POSTGRES_DBNAME']}"
        )
        if env.get("POSTGRES_SCHEMA"):
            url += f"?schema={quote(env['POSTGRES_SCHEMA'], safe='')}"
    elif module.endswith("sqlite") and env.get("SQLITE_DBNAME", ":memory:") != ":memory:":
        url = f"sqlite:///{env['SQLITE_DBNAME']}"
    else:  # an in-memory store: the keys live as long as the process
        return KeyVault("sqlite:///:memory:", b64encode(AESGCM.generate_key(256)).decode())
    if not env.get("CIPHER_KEY"):
        raise ValueError("a store on disk needs CIPHER_KEY: it also wraps the personal keys")
    return KeyVault(url, env["CIPHER_KEY"])
