"""After `socialbot forget` returns, nothing of the person is readable in the database files themselves: SQLite's
.db, -wal and -shm files hold none of their bytes; PostgreSQL has vacuumed the tables the forget touched."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from bot.adapters.store import Store, engine
from bot.core.clock import FrozenClock
from tests.test_forget import CONFIG, NOW, ZOE, ZOE_ID, ZOE_NAME, fill, invoke

NEEDLES = [ZOE, ZOE_ID, ZOE_NAME, "77-ALPHA never arrived", "card ending 9981"]


def traces(folder: Path) -> dict[str, list[str]]:
    """{file: needles found in its raw bytes} for the database's files (.db, -wal, -shm)."""
    found: dict[str, list[str]] = {}
    for path in sorted(folder.glob("bot.db*")):
        data = path.read_bytes().lower()
        hits = [n for n in NEEDLES if n.lower().encode() in data]
        if hits:
            found[path.name] = hits
    return found


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    """Zoe's data in every table, in a SQLite file whose store stays open (as a running daemon's would)."""
    store = Store.open(f"sqlite:///{tmp_path / 'bot.db'}", clock=FrozenClock(NOW))
    store.upgrade()
    fill(store)
    yield store
    store.close()


def forget(url: str) -> object:
    return invoke("forget", f"@{ZOE}", "--yes", "--config", CONFIG, "--database", url)


def test_forget_leaves_no_byte_of_the_person_in_the_sqlite_files(tmp_path: Path, sqlite_store: Store) -> None:
    assert traces(tmp_path).get("bot.db-wal"), "the test data should be in the write-ahead log first"
    result = forget(f"sqlite:///{tmp_path / 'bot.db'}")
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    assert "write-ahead log checkpointed and emptied" in result.output  # type: ignore[attr-defined]
    assert traces(tmp_path) == {}
    assert (tmp_path / "bot.db-wal").stat().st_size == 0


def test_every_sqlite_connection_zeroes_what_it_deletes(sqlite_store: Store) -> None:
    with sqlite_store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA secure_delete").scalar() == 1


def test_a_reader_blocking_the_checkpoint_is_reported_and_the_next_forget_finishes_it(
    tmp_path: Path, sqlite_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine, "CHECKPOINT_BUSY_TIMEOUT_SECONDS", 1)
    reader = sqlite3.connect(tmp_path / "bot.db", isolation_level=None)
    reader.execute("BEGIN")
    assert reader.execute("SELECT count(*) FROM mention").fetchone()[0] > 0  # a read snapshot held open
    try:
        busy = forget(f"sqlite:///{tmp_path / 'bot.db'}")
    finally:
        reader.execute("COMMIT")
        reader.close()
    assert busy.exit_code == 0, busy.output  # type: ignore[attr-defined]
    output = " ".join(busy.output.split())  # type: ignore[attr-defined]
    assert "warning: the write-ahead log still holds old copies of the erased rows" in output, output
    assert "run the same `socialbot forget` again" in output
    assert "bot.db-wal" in traces(tmp_path)

    again = forget(f"sqlite:///{tmp_path / 'bot.db'}")
    assert again.exit_code == 1 and "nothing stored" in again.output  # type: ignore[attr-defined]
    assert "write-ahead log checkpointed and emptied" in again.output  # type: ignore[attr-defined]
    assert traces(tmp_path) == {}


@pytest.mark.postgres
def test_forget_vacuums_the_tables_it_touched_on_postgresql(postgres_url: str) -> None:
    with Store.open(postgres_url, clock=FrozenClock(NOW)) as store:
        store.upgrade()
        fill(store)
    result = forget(postgres_url)
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    assert "VACUUM run on" in result.output  # type: ignore[attr-defined]
    touched = {"social_user", "mention", "interaction", "inbox", "outbox", "coupon", "optout", "graph_score"}
    admin = sa.create_engine(postgres_url)
    try:
        with admin.connect() as conn:
            vacuumed = set(
                conn.execute(sa.text("SELECT relname FROM pg_stat_user_tables WHERE last_vacuum IS NOT NULL")).scalars()
            )
    finally:
        admin.dispose()
    assert touched <= vacuumed, touched - vacuumed
