"""Column types shared by tables and migrations."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect


def as_utc(value: datetime) -> datetime:
    """A timezone-aware UTC datetime; naive values are taken to be UTC already."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


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
        value = as_utc(value)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return as_utc(value)


def epoch_seconds(expr: sa.ColumnElement[Any], dialect: str) -> sa.ColumnElement[float]:
    """A UTCDateTime column (or aggregate of one) as seconds since 1970 UTC, computed in the database."""
    if dialect == "postgresql":
        return sa.func.extract("epoch", expr)
    return (sa.func.julianday(expr) - 2440587.5) * 86400.0  # SQLite stores naive UTC text
