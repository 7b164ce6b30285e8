"""Set-based reads and writes at the driver, for a million rows (imports, issuance): IN lists in chunks (= ANY of
an array on PostgreSQL), executemany with each column's own bind processor, COPY on PostgreSQL; and one hot
statement at the driver (DriverStatement). Values go through the columns' own processors, so they are stored and
read exactly as through Core."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from bot.adapters.store.types import StorableString, storable

IN_CHUNK = 900  # values per IN (...) list
ANY_CHUNK = 20_000  # values per = ANY(array) on PostgreSQL


def chunks(values: Sequence[Any], size: int = IN_CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def bind_processor(column_type: Any, dialect: Any) -> Callable[[Any], Any] | None:
    """What Core applies to a bound value of this type; StorableString's own function directly (3 calls fewer)."""
    if isinstance(column_type, StorableString) and column_type.impl_instance.bind_processor(dialect) is None:
        return _storable_or_none
    return column_type.dialect_impl(dialect).bind_processor(dialect)  # type: ignore[no-any-return]


def _storable_or_none(value: Any) -> Any:
    return storable(value) if value.__class__ is str else value


def bulk(conn: Connection, statement: sa.Executable, keys: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> None:
    """executemany of `statement` (an INSERT or UPDATE whose bind parameters are `keys`; `rows` hold their values
    in that order) at the driver. SQLAlchemy builds the parameters row by row (~25 us a row); here each column's
    own bind processor (UTC datetimes, storable text) is mapped over the column, once per distinct value, so the
    values are stored exactly as through Core, several times faster."""
    if not rows:
        return
    dialect = conn.dialect
    compiled = statement.compile(dialect=dialect, column_keys=list(keys))
    names = list(compiled.positiontup or []) if compiled.positional else list(compiled.binds)
    columns = dict(zip(keys, zip(*rows, strict=True), strict=True))
    processed: list[Sequence[Any]] = []
    for name in names:
        bind = compiled.binds[name]
        values = columns[bind.key]
        process = bind_processor(bind.type, dialect)
        if process is None:
            processed.append(values)
            continue
        distinct = set(values)
        if 2 * len(distinct) <= len(values):  # e.g. one import time for every row
            done = {value: process(value) for value in distinct}
            processed.append(list(map(done.__getitem__, values)))
        else:
            processed.append(list(map(process, values)))
    if compiled.positional:
        params: list[Any] = list(zip(*processed, strict=True))
    else:
        params = [dict(zip(names, values, strict=True)) for values in zip(*processed, strict=True)]
    conn.exec_driver_sql(compiled.string, params)


def processed_columns(
    conn: Connection, table: sa.Table, keys: Sequence[str], rows: Sequence[tuple[Any, ...]]
) -> list[Sequence[Any]]:
    """`rows` column by column, each value through its column's bind processor (as Core would)."""
    out: list[Sequence[Any]] = []
    for key, values in zip(keys, zip(*rows, strict=True), strict=True):
        process = bind_processor(table.c[key].type, conn.dialect)
        out.append(values if process is None else list(map(process, values)))
    return out


def copy_in(conn: Connection, table: sa.Table, keys: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> None:
    """PostgreSQL: the rows with COPY, in the current transaction (executemany costs a round trip a row)."""
    if not rows:
        return
    quote = conn.dialect.identifier_preparer.quote
    columns = processed_columns(conn, table, keys, rows)
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    with cursor.copy(f"COPY {quote(table.name)} ({', '.join(map(quote, keys))}) FROM STDIN") as copy:
        for row in zip(*columns, strict=True):
            copy.write_row(row)


def select_in(
    conn: Connection, table: sa.Table, key: str, values: Iterable[Any], columns: Sequence[str]
) -> Iterator[tuple[Any, ...]]:
    """SELECT `columns` FROM `table` WHERE `key` IN `values` (PostgreSQL: = ANY of an array), IN_CHUNK values a
    statement, at the driver (Core
    expands and processes every value of an IN list, ~8 us a value). Bind and result values go through the
    columns' own processors, as in Core."""
    dialect = conn.dialect
    quote = dialect.identifier_preparer.quote
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    bind = bind_processor(table.c[key].type, dialect)
    readers = [table.c[name].type.dialect_impl(dialect).result_processor(dialect, None) for name in columns]
    head = f"SELECT {', '.join(map(quote, columns))} FROM {quote(table.name)} WHERE {quote(key)}"
    postgres = dialect.name == "postgresql"  # one array parameter: = ANY(...) plans fast, a long IN list does not
    for chunk in chunks(list(values), ANY_CHUNK if postgres else IN_CHUNK):
        params = tuple(chunk) if bind is None else tuple(map(bind, chunk))
        if postgres:
            rows = conn.exec_driver_sql(f"{head} = ANY(%s)", (list(params),)).fetchall()
        else:
            rows = conn.exec_driver_sql(f"{head} IN ({', '.join([mark] * len(chunk))})", params).fetchall()
        if not rows:
            continue
        read: list[Sequence[Any]] = []
        for reader, column in zip(readers, zip(*rows, strict=True), strict=True):
            if reader is None:
                read.append(column)
            else:  # once per distinct value: coupons issued together share one expiry
                done = {value: reader(value) for value in set(column)}
                read.append(list(map(done.__getitem__, column)))
        yield from zip(*read, strict=True)


class DriverStatement:
    """One statement compiled once for a dialect and run at the driver, autocommitted, its values through the
    columns' own bind processors: the check before every send on SQLite (outbox.begin_attempt) skips the
    BEGIN IMMEDIATE ... COMMIT round trip (one UPDATE is atomic on its own) and Core's per-call parameter building
    (0.19 ms -> 0.03 ms)."""

    def __init__(self, statement: sa.Executable, dialect: Any) -> None:
        compiled = statement.compile(dialect=dialect)
        self.sql = compiled.string
        self._binds = [
            (bind.key, bind.value, bind_processor(bind.type, dialect))
            for bind in (compiled.binds[name] for name in compiled.positiontup or [])
        ]

    def parameters(self, values: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(
            (process(v) if process is not None else v)
            for key, default, process in self._binds
            for v in (values.get(key, default),)
        )

    def scalar(self, conn: Connection, values: dict[str, Any]) -> Any:
        """The first column of the first row (None without one), autocommitted."""
        parameters = self.parameters(values)
        try:
            row = conn.connection.driver_connection.execute(self.sql, parameters).fetchone()  # type: ignore[union-attr]
        except sqlite3.Error as exc:
            raise sa.exc.DBAPIError.instance(self.sql, parameters, exc, sqlite3.Error) from exc
        return row[0] if row is not None else None
