"""The read models live apart from the store: on SQLite a file of their own beside it,
whose commits need not reach the disk at once (they can be rebuilt from the stream);
the store and the personal-data keys keep every commit on disk."""

from __future__ import annotations

from infra.readdb import ReadDB
from infra.store import read_models_url

SYNCHRONOUS = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}


def synchronous(db: ReadDB) -> str:
    return SYNCHRONOUS[db.outside_transaction("PRAGMA synchronous")[0][0]]


def test_a_sqlite_store_has_its_read_models_in_a_file_beside_it() -> None:
    assert read_models_url("sqlite:////data/tickets.db") == "sqlite:////data/tickets-read.db"
    assert read_models_url("sqlite:////data/desk.sqlite") == "sqlite:////data/desk-read.sqlite"
    assert read_models_url("sqlite:////data/store") == "sqlite:////data/store-read.db"


def test_postgresql_and_memory_stores_keep_the_read_models_with_them() -> None:
    pg = "postgresql://postgres@127.0.0.1:5432/test?schema=tf"
    assert read_models_url(pg) == pg
    assert read_models_url("sqlite:///:memory:") == "sqlite:///:memory:"


def test_read_model_commits_are_not_synced_at_once_but_durable_ones_are(tmp_path) -> None:
    read = ReadDB(read_models_url(f"sqlite:///{tmp_path / 'tickets.db'}"), durable=False)
    keys = ReadDB(f"sqlite:///{tmp_path / 'tickets.db'}")
    try:
        assert synchronous(read) == "NORMAL"
        assert synchronous(keys) == "FULL"
        assert (tmp_path / "tickets-read.db").exists()
    finally:
        read.close()
        keys.close()
