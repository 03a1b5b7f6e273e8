"""Prebuilt Core statements run on the driver's cursor: the hot path's statements.

SQLAlchemy's execution of a Core statement costs more Python than the driver's own
``cursor.execute``: the compiled-cache lookup (hashing the statement's cache key),
the execution context, parameter construction and the result object. For the few
statements every enquiry runs (the bearer lookup, a page of contributions, the
journal entry) that was about 0.05 ms each, a tenth of an answer's Python (see
docs/benchmarks.md, "HTTP API"). A :class:`DriverStatement` does that work once:

- it compiles the Core statement for the connection's dialect on first use and
  keeps the SQL text, its parameter names, and the bind and result processors of
  the statement's types (an ``Enum`` column's, a ``TypeDecorator``'s);
- :meth:`DriverStatement.rows` applies exactly those processors, so the driver
  receives the values SQLAlchemy would have sent and the caller gets the values
  SQLAlchemy would have returned;
- it runs on the session's pooled connection (same transaction, same autocommit
  setting), on one cursor kept per driver connection, and fires the engine's
  ``before_cursor_execute`` and ``after_cursor_execute`` events (when something
  listens), so statement counters and tracers still see it;
- a driver error becomes SQLAlchemy's (``OperationalError``, ``IntegrityError`` …,
  via :meth:`sqlalchemy.exc.DBAPIError.instance`), and a lost connection is
  invalidated in the pool, as on SQLAlchemy's own path.

What it does not do: SQL echo logging (``echo=True`` does not show these statements) and
``executemany``. A statement it cannot run as one text with named parameters (SQLite's
driver takes positional ones; expanding ``IN`` lists) runs through SQLAlchemy's own
``execute``, with the same answer. Build the statement once (a module-level or
``functools.cache`` builder) and call :meth:`rows`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import PoolProxiedConnection
from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement

from cardsvc.db.errors import DatabaseError

Processor = Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class _Compiled:
    dialect_name: str
    sql: str | None
    """None: the statement runs through SQLAlchemy's execute on this dialect."""
    names: frozenset[str]
    """The parameters a caller gives (the statement's named, value-less binds)."""
    fixed: dict[str, Any]
    """The statement's own literal values (constants built into it), by parameter name."""
    binds: tuple[tuple[str, Processor], ...]
    """(parameter name, bind processor) for the parameters whose type has one."""
    results: tuple[Processor | None, ...] | None
    """One result processor (or None) per selected column; None when no column has one."""
    returns_rows: bool
    """A SELECT, or DML with RETURNING (asking the cursor costs a description of it)."""


class DriverStatement:
    """A Core statement compiled once per dialect, run on the driver's cursor."""

    __slots__ = ("_compiled", "statement")

    def __init__(self, statement: Executable) -> None:
        if not isinstance(statement, ClauseElement):
            raise DatabaseError(f"not a Core statement: {type(statement).__name__}")
        self.statement = statement
        self._compiled: _Compiled | None = None

    def rows(self, connection: Connection, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Execute with `params` (every bound parameter by name); all rows as tuples.

        A statement without result rows (no ``RETURNING``) gives ``[]``.
        """
        compiled = self._compiled
        if compiled is None or compiled.dialect_name != connection.dialect.name:
            compiled = self._compiled = _compile(self.statement, connection.dialect)
        if compiled.sql is None:  # this dialect's driver: SQLAlchemy's own path
            result = connection.execute(self.statement, params)
            return [tuple(row) for row in result] if result.returns_rows else []
        if params.keys() != compiled.names:
            missing = sorted(compiled.names - params.keys())
            extra = sorted(params.keys() - compiled.names)
            raise DatabaseError(f"statement parameters: missing {missing}, unexpected {extra}")
        values = {**compiled.fixed, **params}
        for name, process in compiled.binds:
            values[name] = process(values[name])
        fetched = _execute(connection, compiled.sql, values, returns_rows=compiled.returns_rows)
        if compiled.results is None:
            return fetched
        processors = compiled.results
        return [
            tuple(v if p is None else p(v) for p, v in zip(processors, row, strict=True))
            for row in fetched
        ]

    def one_or_none(
        self, connection: Connection, params: Mapping[str, Any]
    ) -> tuple[Any, ...] | None:
        """The one row, or None; more than one row is a DatabaseError."""
        rows = self.rows(connection, params)
        if len(rows) > 1:
            raise DatabaseError(f"expected at most one row, got {len(rows)}")
        return rows[0] if rows else None


def _execute(
    connection: Connection, sql: str, params: dict[str, Any], *, returns_rows: bool
) -> list[tuple[Any, ...]]:
    dispatch = connection.dispatch
    before, after = dispatch.before_cursor_execute, dispatch.after_cursor_execute
    pooled = connection.connection  # the session's checked-out connection
    cursor = _cursor_of(pooled)
    if before:  # (an event with no listener is skipped: it costs a call per statement)
        before(connection, cursor, sql, params, None, False)
    try:
        cursor.execute(sql, params)
        rows: list[tuple[Any, ...]] = cursor.fetchall() if returns_rows else []
    except connection.dialect.loaded_dbapi.Error as exc:
        lost = connection.dialect.is_disconnect(exc, pooled.dbapi_connection, cursor)
        if lost:
            connection.invalidate(exc)
        raise DBAPIError.instance(
            sql,
            params,
            exc,
            connection.dialect.loaded_dbapi.Error,
            hide_parameters=True,  # the journal's detail and token hashes stay out of logs
            connection_invalidated=lost,
            dialect=connection.dialect,
        ) from exc
    if after:
        after(connection, cursor, sql, params, None, False)
    return rows


_CURSOR = "cardsvc.driver_statements.cursor"


def _cursor_of(pooled: PoolProxiedConnection) -> Any:
    """The driver connection's cursor for these statements, made once per connection.

    Kept in the pool's per-connection ``info`` (emptied when the pool reconnects), with
    the driver connection it belongs to; a connection serves one thread at a time.
    """
    driver = pooled.driver_connection
    kept = pooled.info.get(_CURSOR)
    if kept is not None and kept[0] is driver and not kept[1].closed:
        return kept[1]
    cursor = driver.cursor()  # type: ignore[union-attr]
    pooled.info[_CURSOR] = (driver, cursor)
    return cursor


def _compile(statement: ClauseElement, dialect: Dialect) -> _Compiled:
    compiled = statement.compile(dialect=dialect)
    if not isinstance(compiled, SQLCompiler):  # pragma: no cover - DDL is not run here
        raise DatabaseError(f"cannot run {type(statement).__name__} on the driver's cursor")
    if (
        compiled.positional  # SQLite's driver: its statements cost little anyway
        or compiled.literal_execute_params
        or compiled.post_compile_params
        or any(b.expanding or b.callable is not None for b in compiled.bind_names)
    ):
        return _Compiled(dialect.name, None, frozenset(), {}, (), None, returns_rows=False)
    binds: list[tuple[str, Processor]] = []
    names: set[str] = set()
    fixed: dict[str, Any] = {}
    for bind, name in compiled.bind_names.items():
        if bind.required:
            names.add(name)
        else:
            fixed[name] = bind.effective_value
        process = bind.type._cached_bind_processor(dialect)
        if process is not None:
            binds.append((name, process))
    dml = compiled.isinsert or compiled.isupdate or compiled.isdelete
    return _Compiled(
        dialect_name=dialect.name,
        sql=compiled.string,
        names=frozenset(names),
        fixed=fixed,
        binds=tuple(binds),
        results=_result_processors(statement, dialect),
        returns_rows=bool(compiled.effective_returning) if dml else True,
    )


def _result_processors(
    statement: ClauseElement, dialect: Dialect
) -> tuple[Processor | None, ...] | None:
    columns: Sequence[Any] = getattr(statement, "exported_columns", ())
    processors = tuple(column.type._cached_result_processor(dialect, None) for column in columns)
    return processors if any(p is not None for p in processors) else None
