"""Column types shared by tables and migrations."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

from bot.core.clock import ensure_utc


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """Always UTC and timezone-aware in Python; naive UTC on SQLite, timestamptz on PostgreSQL.

    SQLite stores a fixed-format string, so comparisons between bound values and columns stay correct.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        value = ensure_utc(value)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return ensure_utc(value)


def epoch_seconds(expr: sa.ColumnElement[Any], dialect: str) -> sa.ColumnElement[float]:
    """A UTCDateTime column (or aggregate of one) as seconds since 1970 UTC, computed in the database."""
    if dialect == "postgresql":
        return sa.func.extract("epoch", expr)
    # SQLite stores naive UTC text; julianday's double is off by some microseconds (10:00:00 -> 09:59:59.99998,
    # the hour before in a weekday x hour grid): rounded to the millisecond, every stored time comes back exact
    return sa.func.round((sa.func.julianday(expr) - 2440587.5) * 86400.0, 3)


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def storable(text: str) -> str:
    """`text` as every database takes it: NUL removed (PostgreSQL refuses it in text) and lone surrogates (not
    encodable as UTF-8) replaced by U+FFFD. Applied to every text the store writes (StorableString)."""
    if text.isascii() and "\x00" not in text:
        return text
    return _UNSTORABLE.sub(lambda m: "" if m.group() == "\x00" else "\ufffd", text)


class StorableString(sa.types.TypeDecorator[str]):
    """VARCHAR whose values are made storable (storable: no NUL, no lone surrogate) on the way in, so
    one customer's text can never make a write fail on one database and pass on another."""

    impl = sa.String
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        return storable(value) if isinstance(value, str) else value


class StorableText(StorableString):
    impl = sa.Text
    cache_ok = True
