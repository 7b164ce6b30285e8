"""SQLite's WAL is copied into the database file by the Store's own thread, not by the connection that commits."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from bot.adapters.store import Store
from bot.adapters.store.wal import BACKSTOP_PAGES


def _write(store: Store, rows: int) -> None:
    with store.engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS filler (id INTEGER PRIMARY KEY, body BLOB)")
        conn.execute(sa.text("INSERT INTO filler (body) VALUES (:body)"), [{"body": b"x" * 2000}] * rows)


def _eventually(condition: object, what: str) -> None:
    deadline = time.monotonic() + 30  # a bound for a loaded machine, not a timing assertion
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            pytest.fail(what)
        time.sleep(0.05)


def test_the_store_checkpoints_the_wal_in_its_own_thread(tmp_path: Path) -> None:
    path = tmp_path / "bot.db"
    store = Store.open(f"sqlite:///{path}")
    try:
        assert store.checkpointer is not None and store.checkpointer.running
        with store.engine.connect() as conn:  # the writers' own automatic checkpoint is only a backstop
            assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == BACKSTOP_PAGES
        _write(store, 1_000)  # ~2 MB: far below the backstop, so no writer copies it into the file
        before = path.stat().st_size
        _eventually(lambda: path.stat().st_size > before + 1_000_000, "the WAL was never copied into the file")
    finally:
        store.close()
    assert not store.checkpointer.running
    store.close()  # closing twice is harmless


def test_a_long_reader_does_not_stop_the_writes_and_is_checkpointed_after(tmp_path: Path) -> None:
    path = tmp_path / "bot.db"
    store = Store.open(f"sqlite:///{path}")
    reader = sqlite3.connect(path, isolation_level=None)  # another process reading, e.g. a report
    try:
        _write(store, 500)
        reader.execute("BEGIN")
        assert reader.execute("SELECT count(*) FROM filler").fetchone()[0] == 500  # holds its snapshot
        _write(store, 500)  # writes go on while checkpoints pass by the reader's snapshot
        assert reader.execute("SELECT count(*) FROM filler").fetchone()[0] == 500
        reader.execute("COMMIT")
        before = path.stat().st_size
        _eventually(lambda: path.stat().st_size > before + 500_000, "the WAL was never copied after the reader ended")
        assert reader.execute("SELECT count(*) FROM filler").fetchone()[0] == 1_000
    finally:
        reader.close()
        store.close()


def test_postgresql_has_no_checkpointer(db_url: str) -> None:
    store = Store.open(db_url)
    try:
        assert (store.checkpointer is not None) == db_url.startswith("sqlite")
    finally:
        store.close()
