"""Engine creation for SQLite (WAL, busy timeout, secure_delete) and PostgreSQL (psycopg 3), DB error mapping,
and the file-level clean-up after a forget (WAL checkpoint, VACUUM)."""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, Engine

from bot.adapters.store.wal import BACKSTOP_PAGES
from bot.core.errors import StoreError, StoreRefused, StoreUnavailable

logger = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_SECONDS = 30
CHECKPOINT_BUSY_TIMEOUT_SECONDS = 3
CHECKPOINT_ATTEMPTS = 3


def normalise_url(url: str) -> URL:
    """Parse `url`; plain postgresql:// / postgres:// URLs use the psycopg 3 driver."""
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError as exc:
        raise StoreError(f"invalid database URL {url.split('@')[-1]!r}: {exc}") from exc
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise StoreError(f"unsupported database {safe_url(parsed)}: use sqlite:/// or postgresql://")
    return parsed


def safe_url(url: URL | str) -> str:
    """The URL with its password hidden, for messages and logs."""
    try:
        parsed = url if isinstance(url, URL) else sa.make_url(url)
    except sa.exc.ArgumentError:
        return "<invalid database URL>"
    return parsed.render_as_string(hide_password=True)


def sqlite_path(url: URL) -> Path | None:
    database = url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def create_engine(url: str, *, create: bool = True, wal_checkpoints: bool = True) -> Engine:
    """An Engine for `url`; for SQLite files the parent folder is created when `create`. `wal_checkpoints`: a
    WalCheckpointer copies the WAL (SQLite's automatic checkpoint in the committing connection only as a backstop);
    False keeps SQLite's own after every 1,000 pages."""
    parsed = normalise_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = sqlite_path(parsed)
        if path is not None:
            if not path.exists() and not create:
                raise StoreError(f"database {safe_url(parsed)} does not exist")
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"cannot create the folder for {safe_url(parsed)}: {exc}") from exc
        engine = sa.create_engine(
            parsed, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "check_same_thread": False}
        )
        _install_sqlite_hooks(engine, autocheckpoint=BACKSTOP_PAGES if wal_checkpoints else None)
        return engine
    return sa.create_engine(
        parsed, pool_pre_ping=True, connect_args={"connect_timeout": 10, "application_name": "socialbot"}
    )


def _install_sqlite_hooks(engine: Engine, *, autocheckpoint: int | None) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # We emit BEGIN ourselves (IMMEDIATE: take the write lock up front, so the busy timeout applies).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_SECONDS * 1000}")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA cache_size=-65536")  # 64 MiB of pages per connection (default 2 MiB)
            cursor.execute("PRAGMA secure_delete=ON")  # deleted and overwritten content zeroed, whatever the build
            if autocheckpoint is not None:
                cursor.execute(f"PRAGMA wal_autocheckpoint={autocheckpoint}")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def checkpoint_wal(engine: Engine) -> str | None:
    """Copy SQLite's WAL into the database file and truncate it to zero bytes, so that old page versions (a
    forgotten person's rows) are no longer in the -wal file. None when done, else why it could not complete
    (readers on an older snapshot kept it busy through every attempt; their next checkpoint finishes it)."""
    raw = engine.raw_connection()
    try:
        sqlite = raw.driver_connection
        sqlite.execute(f"PRAGMA busy_timeout={CHECKPOINT_BUSY_TIMEOUT_SECONDS * 1000}")
        for attempt in range(1, CHECKPOINT_ATTEMPTS + 1):
            try:
                busy, _wal_frames, _copied = sqlite.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            except sqlite3.Error as exc:
                return f"the checkpoint failed: {exc}"
            if not busy:
                return None
            logger.info(
                "WAL checkpoint busy (attempt %d of %d): another connection is reading", attempt, CHECKPOINT_ATTEMPTS
            )
            if attempt < CHECKPOINT_ATTEMPTS:
                time.sleep(0.2 * attempt)
        return (
            f"another process kept reading the database through {CHECKPOINT_ATTEMPTS} checkpoint attempts "
            f"of {CHECKPOINT_BUSY_TIMEOUT_SECONDS} s"
        )
    finally:
        with contextlib.suppress(sqlite3.Error):
            raw.driver_connection.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_SECONDS * 1000}")
        raw.close()


def vacuum(engine: Engine, tables: Iterable[str]) -> None:
    """VACUUM these PostgreSQL tables (outside a transaction, as VACUUM requires): their dead row versions are
    removed from the table and index pages and the space marked free. See docs/deploy.md for what it does not do."""
    quote = engine.dialect.identifier_preparer.quote
    with guarded(engine.url, "vacuuming"), engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for table in tables:
            conn.exec_driver_sql(f"VACUUM {quote(table)}")


def describe_db_error(exc: sa.exc.DBAPIError) -> str:
    orig = getattr(exc, "orig", None) or exc
    text = str(orig).strip().splitlines()
    first = text[0] if text else type(orig).__name__
    lowered = first.lower()
    if "no such table" in lowered or ("relation" in lowered and "does not exist" in lowered):
        first += " (the database is not upgraded: run `socialbot db upgrade`)"
    elif "database is locked" in lowered:
        first += f" (another process held the lock for more than {SQLITE_BUSY_TIMEOUT_SECONDS}s)"
    return first


@contextmanager
def guarded(url: URL | str, what: str) -> Iterator[None]:
    """Map driver errors (unreachable, locked, missing tables) to StoreError at this one boundary."""
    try:
        yield
    except sa.exc.IntegrityError:
        raise
    except sa.exc.DBAPIError as exc:
        message = f"database {safe_url(url)}: {what} failed: {describe_db_error(exc)}"
        if is_unavailable(exc):
            raise StoreUnavailable(message) from exc
        if isinstance(exc, sa.exc.DataError):
            raise StoreRefused(message) from exc
        raise StoreError(message) from exc


_UNAVAILABLE_HINTS = (
    "connection refused",
    "could not connect",
    "timeout expired",
    "timed out",
    "database is locked",
    "server closed the connection",
    "terminating connection",
    "the database system is starting up",
    "the database system is shutting down",
    "the database system is in recovery mode",
    "connection reset",
    "connection is closed",
    "no connection to the server",
    "consuming input failed",
)


def is_unavailable(exc: sa.exc.DBAPIError) -> bool:
    """Whether the failure is one of waiting (unreachable, restarting, locked), not of setup or SQL."""
    if exc.connection_invalidated:
        return True
    lowered = str(getattr(exc, "orig", None) or exc).lower()
    return any(hint in lowered for hint in _UNAVAILABLE_HINTS)
