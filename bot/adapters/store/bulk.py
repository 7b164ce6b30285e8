"""Set-based reads and writes at the driver, for a million rows (imports, issuance) and for every page of mentions
(mention_unit): IN lists in chunks (= ANY of an array on PostgreSQL), executemany with each column's own bind
processor (BulkStatement), multi-row INSERT ... RETURNING, COPY on PostgreSQL; and one hot statement at the driver
(DriverStatement). Values go through the columns' own processors, so they are stored and read exactly as through
Core."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
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


def _all_storable(values: Sequence[Any]) -> bool:
    """Whether storable() leaves every text of `values` as it is (ASCII without NUL: its own first test), checked
    over the whole column at once."""
    joined = "".join([value for value in values if value.__class__ is str])
    return joined.isascii() and "\x00" not in joined


class BulkStatement:
    """An INSERT or UPDATE (its bind parameters: `keys`) compiled once for a dialect and run as ONE executemany at
    the driver. SQLAlchemy builds the parameters row by row (~25 us a row) and, for INSERT ... RETURNING, a
    multi-row VALUES statement; here each column's own bind processor (UTC datetimes, storable text, JSON) is
    mapped over the column, once per distinct value, so the values are stored exactly as through Core, several
    times faster. run() gives the driver's rowcount: the rows inserted or updated, summed over the rows on sqlite3
    and on psycopg 3 (a row an ON CONFLICT DO NOTHING skipped counts 0)."""

    def __init__(self, statement: sa.Executable, keys: Sequence[str], dialect: Any) -> None:
        compiled = statement.compile(dialect=dialect, column_keys=list(keys))
        self.sql = compiled.string
        self._positional = bool(compiled.positional)
        names = list(compiled.positiontup or []) if compiled.positional else list(compiled.binds)
        self._names = names
        self._binds = [
            (bind.key, bind.value, bind_processor(bind.type, dialect))
            for bind in (compiled.binds[name] for name in names)
        ]

    def run(self, conn: Connection, columns: Mapping[str, Sequence[Any]]) -> int:
        """executemany over `columns` (key -> the values of every row, all of one length; a bind parameter not
        among them keeps the statement's own value); returns the driver's rowcount (0 without rows)."""
        length = len(next(iter(columns.values()))) if columns else 0
        if not length:
            return 0
        processed: list[Sequence[Any]] = []
        for key, default, process in self._binds:
            values = columns[key] if key in columns else [default] * length
            processed.append(values if process is None else processed_values(values, process))
        if self._positional:
            params: list[Any] = list(zip(*processed, strict=True))
        else:
            params = [dict(zip(self._names, values, strict=True)) for values in zip(*processed, strict=True)]
        return int(conn.exec_driver_sql(self.sql, params).rowcount)


def bulk(conn: Connection, statement: sa.Executable, keys: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> int:
    """executemany of `statement` (an INSERT or UPDATE whose bind parameters are `keys`; `rows` hold their values
    in that order) at the driver (BulkStatement); returns the rows inserted or updated."""
    if not rows:
        return 0
    columns = dict(zip(keys, zip(*rows, strict=True), strict=True))
    return BulkStatement(statement, keys, conn.dialect).run(conn, columns)


def insert_returning(
    conn: Connection, table: sa.Table, columns: Mapping[str, Sequence[Any]], conflict: Sequence[str], returning: str
) -> list[Any]:
    """INSERT INTO `table` the rows of `columns` (key -> the values of every row) ON CONFLICT (`conflict`) DO NOTHING
    RETURNING `returning`, at the driver: one multi-row VALUES statement (SQLite: up to IN_CHUNK parameters a
    statement), values through the columns' own bind processors. The returned values of the rows inserted, in no
    particular order."""
    length = len(next(iter(columns.values()))) if columns else 0
    if not length:
        return []
    dialect = conn.dialect
    quote = dialect.identifier_preparer.quote
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    processed: list[Sequence[Any]] = []
    for name, values in columns.items():
        process = bind_processor(table.c[name].type, dialect)
        processed.append(values if process is None else processed_values(values, process))
    rows = list(zip(*processed, strict=True))
    reader = table.c[returning].type.dialect_impl(dialect).result_processor(dialect, None)
    head = f"INSERT INTO {quote(table.name)} ({', '.join(map(quote, columns))}) VALUES "
    tail = f" ON CONFLICT ({', '.join(map(quote, conflict))}) DO NOTHING RETURNING {quote(returning)}"
    one = f"({', '.join([mark] * len(columns))})"
    per_statement = max(1, (IN_CHUNK if dialect.name == "sqlite" else ANY_CHUNK) // len(columns))
    out: list[Any] = []
    for chunk in chunks(rows, per_statement):
        params = tuple(value for row in chunk for value in row)
        found = conn.exec_driver_sql(head + ", ".join([one] * len(chunk)) + tail, params).fetchall()
        out.extend(value if reader is None else reader(value) for (value,) in found)
    return out


def processed_values(values: Sequence[Any], process: Callable[[Any], Any]) -> list[Any]:
    """`process` over `values`, once per distinct value when at most half are distinct (one time, one account for
    every row); lists of strings (JSON columns: mentions, hashtags) are told apart by their items."""
    if process is _storable_or_none and _all_storable(values):
        return list(values)
    try:
        distinct = set(values)
    except TypeError:
        return _processed_lists(values, process)
    if 2 * len(distinct) <= len(values):
        done = {value: process(value) for value in distinct}
        return list(map(done.__getitem__, values))
    return list(map(process, values))


def _processed_lists(values: Sequence[Any], process: Callable[[Any], Any]) -> list[Any]:
    done: dict[tuple[str, ...], Any] = {}
    out: list[Any] = []
    for value in values:
        if value.__class__ is list and all(item.__class__ is str for item in value):
            key = tuple(value)
            result = done.get(key, _MISSING)
            if result is _MISSING:
                result = done[key] = process(value)
            out.append(result)
        else:
            out.append(process(value))
    return out


_MISSING = object()


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
    conn: Connection,
    table: sa.Table,
    key: str,
    values: Iterable[Any],
    columns: Sequence[str],
    *,
    where: Mapping[str, Any] | None = None,
    since: Mapping[str, Any] | None = None,
    not_null: Sequence[str] = (),
    count: bool = False,
    autocommit: bool = False,
) -> Iterator[tuple[Any, ...]]:
    """SELECT `columns` FROM `table` WHERE `key` IN `values` (PostgreSQL: = ANY of an array), IN_CHUNK values a
    statement, at the driver (Core expands and processes every value of an IN list, ~8 us a value), and also
    column = value for each of `where` (never None: no IS NULL here), column >= value for each of `since`,
    column IS NOT NULL for each of `not_null`. `count`: (key, how many rows) per key instead (GROUP BY key;
    `columns` unused). Bind and result values go through the columns' own processors, as in Core. `autocommit`
    (SQLite): outside any transaction, for one read that needs no snapshot shared with others (no BEGIN
    IMMEDIATE, so it waits for no writer)."""
    dialect = conn.dialect
    quote = dialect.identifier_preparer.quote
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    bind = bind_processor(table.c[key].type, dialect)
    conditions: list[str] = []
    fixed: list[Any] = []
    for operator, given in (("=", where or {}), (">=", since or {})):
        for name, value in given.items():
            process = bind_processor(table.c[name].type, dialect)
            conditions.append(f"{quote(name)} {operator} {mark}")
            fixed.append(value if process is None else process(value))
    conditions += [f"{quote(name)} IS NOT NULL" for name in not_null]
    wanted = [key] if count else list(columns)
    readers = [table.c[name].type.dialect_impl(dialect).result_processor(dialect, None) for name in wanted]
    selected = f"{quote(key)}, COUNT(*)" if count else ", ".join(map(quote, columns))
    head = f"SELECT {selected} FROM {quote(table.name)} WHERE {''.join(c + ' AND ' for c in conditions)}{quote(key)}"
    tail = f" GROUP BY {quote(key)}" if count else ""
    postgres = dialect.name == "postgresql"  # one array parameter: = ANY(...) plans fast, a long IN list does not
    run = _autocommitted if autocommit and dialect.name == "sqlite" else _in_transaction
    for chunk in chunks(list(dict.fromkeys(values)), ANY_CHUNK if postgres else IN_CHUNK):  # each value once, as IN
        params = list(chunk) if bind is None else list(map(bind, chunk))
        if postgres:
            rows = run(conn, f"{head} = ANY(%s){tail}", (*fixed, params))
        else:
            rows = run(conn, f"{head} IN ({', '.join([mark] * len(chunk))}){tail}", (*fixed, *params))
        if not rows:
            continue
        read: list[Sequence[Any]] = []
        found = list(zip(*rows, strict=True))
        for reader, column in zip(readers, found, strict=False):
            if reader is None:
                read.append(column)
            else:  # once per distinct value: coupons issued together share one expiry
                done = {value: reader(value) for value in set(column)}
                read.append(list(map(done.__getitem__, column)))
        if count:
            read.append([int(n) for n in found[1]])
        yield from zip(*read, strict=True)


def _in_transaction(conn: Connection, sql: str, params: tuple[Any, ...]) -> Sequence[Any]:
    return conn.exec_driver_sql(sql, params).fetchall()


def _autocommitted(conn: Connection, sql: str, params: tuple[Any, ...]) -> Sequence[Any]:
    """SQLite: on the driver's connection, which autocommits (engine.py sets isolation_level None)."""
    try:
        return conn.connection.driver_connection.execute(sql, params).fetchall()  # type: ignore[union-attr,no-any-return]
    except sqlite3.Error as exc:
        raise sa.exc.DBAPIError.instance(sql, params, exc, sqlite3.Error) from exc


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
