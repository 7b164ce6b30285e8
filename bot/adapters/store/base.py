"""What every repository shares: the engine, its dialect, the clock, one guarded transaction, the dialect's
INSERT (with ON CONFLICT), and turning rows into records."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from bot.adapters.store.engine import guarded, safe_url
from bot.core.clock import Clock, ensure_utc

R = TypeVar("R")


class Database:
    """One database: the engine, its dialect name ("sqlite" or "postgresql"), the password-free URL and the clock
    every repository of a Store reads "now" from."""

    def __init__(self, engine: Engine, clock: Clock) -> None:
        self.engine = engine
        self.url = safe_url(engine.url)
        self.dialect = engine.dialect.name
        self.clock = clock

    @contextmanager
    def tx(self, what: str) -> Iterator[Connection]:
        """One transaction; driver errors become StoreError naming `what` (engine.guarded)."""
        with guarded(self.engine.url, what), self.engine.begin() as conn:
            yield conn

    def insert(self, table: sa.Table) -> Any:
        """The dialect's INSERT, which has on_conflict_do_nothing / on_conflict_do_update."""
        return (postgresql.insert if self.dialect == "postgresql" else sqlite.insert)(table)


class Repository:
    """The queries of one aggregate over a Database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    @property
    def dialect(self) -> str:
        return self.db.dialect

    def _tx(self, what: str) -> Any:
        return self.db.tx(what)

    def _insert(self, table: sa.Table) -> Any:
        return self.db.insert(table)

    def _now(self) -> datetime:
        return self.db.clock.now()


def from_row(cls: type[R], row: Any, **overrides: Any) -> R:
    """A record dataclass from a row whose columns include every field (`overrides` replace some)."""
    m = row._mapping
    values = {name: m[name] for name in cls.__dataclass_fields__ if name not in overrides}  # type: ignore[attr-defined]
    values.update(overrides)
    return cls(**values)


def utc_or_none(value: datetime | None) -> datetime | None:
    return ensure_utc(value) if value is not None else None
