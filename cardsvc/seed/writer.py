"""Bulk loading: COPY on PostgreSQL (psycopg 3), executemany on SQLite.

Both write inside the caller's transaction, table by table, parents first. Rows
come as tuples of Python values (see cardsvc.seed.tables); the SQLite writer turns
them into what SQLAlchemy itself stores there (dates as ``YYYY-MM-DD``, times as
``YYYY-MM-DD HH:MM:SS.ffffff`` in UTC, decimals as floats, booleans as 0/1), so the
ORM reads seeded rows exactly as rows it wrote.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Protocol

from sqlalchemy import Boolean, Connection, Date, Enum, Numeric, String

from cardsvc.db.models import Base, UtcDateTime
from cardsvc.seed.errors import SeedError
from cardsvc.seed.tables import COLUMNS, ID_TABLES, Row

logger = logging.getLogger(__name__)


class BulkWriter(Protocol):
    def write(self, table: str, rows: Sequence[Row]) -> None: ...

    def finish(self) -> None:
        """After the last batch, inside the transaction (e.g. move id sequences on)."""


def _sqlite_datetime(value: object) -> object:
    assert isinstance(value, datetime)
    naive = value.astimezone(UTC).replace(tzinfo=None)
    return naive.isoformat(sep=" ", timespec="microseconds")


def _sqlite_date(value: object) -> object:
    assert isinstance(value, date)
    return value.isoformat()


def _sqlite_decimal(value: object) -> object:
    assert isinstance(value, Decimal)
    return float(value)


def _sqlite_bool(value: object) -> object:
    return int(bool(value))


def _converters(table: str) -> list[tuple[int, Callable[[object], object]]]:
    columns = Base.metadata.tables[table].c
    found: list[tuple[int, Callable[[object], object]]] = []
    for i, name in enumerate(COLUMNS[table]):
        kind = columns[name].type
        if isinstance(kind, UtcDateTime):
            found.append((i, _sqlite_datetime))
        elif isinstance(kind, Date):
            found.append((i, _sqlite_date))
        elif isinstance(kind, Numeric):
            found.append((i, _sqlite_decimal))
        elif isinstance(kind, Boolean):
            found.append((i, _sqlite_bool))
    return found


def _insert_sql(table: str, columns: Sequence[str]) -> str:
    marks = ", ".join("?" * len(columns))
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"  # noqa: S608


class SqliteWriter:
    """executemany into the connection's open transaction (BEGIN IMMEDIATE)."""

    def __init__(self, dbapi_connection: Any) -> None:
        self._conn = dbapi_connection
        # table and column names come from cardsvc.seed.tables, never from input
        self._sql = {table: _insert_sql(table, cols) for table, cols in COLUMNS.items()}
        self._convert = {table: _converters(table) for table in COLUMNS}

    def write(self, table: str, rows: Sequence[Row]) -> None:
        if not rows:
            return
        converters = self._convert[table]
        data: Sequence[Row] = rows
        if converters:
            out: list[Row] = []
            for row in rows:
                values = list(row)
                for i, convert in converters:
                    value = values[i]
                    if value is not None:
                        values[i] = convert(value)
                out.append(tuple(values))
            data = out
        self._conn.executemany(self._sql[table], data)

    def finish(self) -> None:
        return None


_NULL = "\\N"
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _pg_text(value: object) -> str:
    """A free-text value for COPY's text format (backslash, tab, newline, CR escaped)."""
    if value is None:
        return _NULL
    return str(value).translate(_ESCAPES)


def _pg_plain(value: object) -> str:
    """Numbers, dates, times, enum values: their str() needs no escaping."""
    if value is None:
        return _NULL
    if value is True:
        return "t"
    if value is False:
        return "f"
    return str(value)


def _pg_formatter(table: str) -> Callable[[Sequence[Row]], str]:
    columns = Base.metadata.tables[table].c
    convert = tuple(
        _pg_text
        if isinstance(columns[name].type, String) and not isinstance(columns[name].type, Enum)
        else _pg_plain
        for name in COLUMNS[table]
    )

    def lines(rows: Sequence[Row]) -> str:
        return "".join(
            ["\t".join([f(v) for f, v in zip(convert, row, strict=True)]) + "\n" for row in rows]
        )

    return lines


def _contribution_lines(rows: Sequence[Row]) -> str:
    # the hot path (most rows): integers and enum values only
    return "".join(
        [
            f"{a}\t{b}\t{c}\t{d}\t{e}\t{f}\t{g}\t{_NULL if h is None else h}"
            f"\t{_NULL if i is None else i}\n"
            for a, b, c, d, e, f, g, h, i in rows
        ]
    )


def _payment_lines(rows: Sequence[Row]) -> str:
    return "".join(
        [f"{a}\t{b}\t{c}\t{d}\t{e}\t{_NULL if f is None else f}\n" for a, b, c, d, e, f in rows]
    )


class PostgresWriter:
    """COPY … FROM STDIN (text format) through psycopg 3, in the open transaction.

    Rows are formatted to COPY text here (psycopg's per-row write_row costs several
    times more): NULL is ``\\N``, booleans ``t``/``f``, dates and times their ISO
    forms, free text with backslash, tab, newline and CR escaped.
    """

    def __init__(self, dbapi_connection: Any) -> None:
        self._conn = dbapi_connection
        self._sql = {
            table: f"COPY {table} ({', '.join(cols)}) FROM STDIN" for table, cols in COLUMNS.items()
        }
        self._format = {table: _pg_formatter(table) for table in COLUMNS}
        self._format["contributions"] = _contribution_lines
        self._format["benefit_payments"] = _payment_lines

    def write(self, table: str, rows: Sequence[Row]) -> None:
        if not rows:
            return
        data = self._format[table](rows)
        with self._conn.cursor() as cursor, cursor.copy(self._sql[table]) as copy:
            copy.write(data)

    def finish(self) -> None:
        """Move every id sequence past the ids written explicitly."""
        with self._conn.cursor() as cursor:
            for table in ID_TABLES:
                cursor.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
                    f"COALESCE((SELECT max(id) FROM {table}), 0) + 1, false)"
                )


def make_writer(conn: Connection) -> BulkWriter:
    """The writer for `conn`'s engine; `conn` must be inside a transaction."""
    raw = conn.connection.driver_connection
    if conn.dialect.name == "sqlite":
        return SqliteWriter(raw)
    if conn.dialect.name == "postgresql":
        return PostgresWriter(raw)
    raise SeedError(f"cannot bulk-load into {conn.dialect.name}")  # pragma: no cover
