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


def grow_wal_under_busy_readers(path, commits: int = 300) -> int:
    """Write `commits` transactions while two reader connections take turns so that a
    read snapshot is always open (as on a busy read side); the WAL's size at the end."""
    import sqlite3
    import threading
    import time

    writer = ReadDB(f"sqlite:///{path}", durable=False)
    with writer.transaction() as tx:
        tx.execute("CREATE TABLE rows (n INTEGER PRIMARY KEY, body TEXT)")
    stop = threading.Event()

    def read_forever() -> None:
        readers = [sqlite3.connect(path, isolation_level=None) for _ in range(2)]
        for r in readers:
            r.execute("BEGIN")
            r.execute("SELECT COUNT(*) FROM rows").fetchall()
        turn = 0
        while not stop.is_set():
            r = readers[turn % 2]  # the other keeps its snapshot meanwhile
            r.execute("COMMIT")
            r.execute("BEGIN")
            r.execute("SELECT COUNT(*) FROM rows").fetchall()
            turn += 1
            time.sleep(0.001)
        for r in readers:
            r.execute("COMMIT")
            r.close()

    thread = threading.Thread(target=read_forever)
    thread.start()
    try:
        for n in range(commits):
            with writer.transaction() as tx:
                tx.execute("INSERT INTO rows VALUES (?, ?)", (n, "x" * 8000))
    finally:
        stop.set()
        thread.join()
    size = (path.parent / f"{path.name}-wal").stat().st_size
    writer.close()
    return size


def test_the_read_models_write_ahead_log_stays_bounded_under_busy_readers(
    tmp_path, monkeypatch
) -> None:
    from infra import readdb

    monkeypatch.setattr(readdb, "WAL_CHECK_EVERY", 1)
    monkeypatch.setattr(readdb, "WAL_LIMIT", 10**12)  # never started over: it grows
    unbounded = grow_wal_under_busy_readers(tmp_path / "unbounded.db")
    monkeypatch.setattr(readdb, "WAL_LIMIT", 200_000)
    bounded = grow_wal_under_busy_readers(tmp_path / "bounded.db")
    assert unbounded > 2_000_000  # 300 commits of 8 KB, never reset
    assert bounded < 400_000
