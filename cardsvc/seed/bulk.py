"""Faster loads into empty tables: drop secondary indexes (and on PostgreSQL the foreign
keys and unique constraints) of the tables being filled, load, then build them again.

This is the PostgreSQL manual's recipe for populating a database. Everything happens
in the seeding transaction, and the definitions are read from the database's own
catalog (not from the models), so exactly what was there comes back. Re-creating a
constraint checks every row: a duplicate or a dangling reference fails the seed and
rolls it back, as it would have failed row by row.

SQLite keeps its foreign keys (they are part of the table definition); only the
indexes written with CREATE INDEX are dropped and rebuilt.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

logger = logging.getLogger(__name__)

_PG_CONSTRAINTS = text(
    "SELECT conname, pg_get_constraintdef(oid), contype FROM pg_constraint "
    "WHERE conrelid = CAST(:t AS regclass) AND contype IN ('f', 'u') ORDER BY conname"
)
_PG_INDEXES = text(
    "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x "
    "JOIN pg_class i ON i.oid = x.indexrelid "
    "WHERE x.indrelid = CAST(:t AS regclass) AND NOT x.indisprimary "
    "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid) "
    "ORDER BY i.relname"
)
_SQLITE_INDEXES = text(
    "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
    "AND tbl_name = :t ORDER BY name"
)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def relax(conn: Connection, tables: Sequence[str]) -> list[str]:
    """Drop what slows a bulk load of `tables`; returns the statements that restore it.

    A role that may not alter the tables (it does not own them) loads with everything
    in place instead: the drops are tried in a savepoint and undone on failure.
    """
    try:
        with conn.begin_nested():
            if conn.dialect.name == "postgresql":
                return _relax_postgresql(conn, tables)
            return _relax_sqlite(conn, tables)
    except DBAPIError as exc:
        reason = str(exc.orig or exc).strip().splitlines()[0]
        logger.warning("loading with indexes and constraints in place: %s", reason)
        return []


def restore(conn: Connection, statements: Sequence[str]) -> None:
    for statement in statements:
        conn.exec_driver_sql(statement)
    logger.debug("restored %d indexes and constraints", len(statements))


def _relax_postgresql(conn: Connection, tables: Sequence[str]) -> list[str]:
    foreign: list[tuple[str, str, str]] = []
    unique: list[tuple[str, str, str]] = []
    indexes: list[tuple[str, str, str]] = []
    for table in tables:
        for name, definition, kind in conn.execute(_PG_CONSTRAINTS, {"t": table}):
            (foreign if kind == "f" else unique).append((table, str(name), str(definition)))
        for name, definition in conn.execute(_PG_INDEXES, {"t": table}):
            indexes.append((table, str(name), str(definition)))
    for table, name, _ in foreign + unique:
        conn.exec_driver_sql(f"ALTER TABLE {_quote(table)} DROP CONSTRAINT {_quote(name)}")
    for _, name, _ in indexes:
        conn.exec_driver_sql(f"DROP INDEX {_quote(name)}")
    # unique constraints and indexes first, so that checking the foreign keys can use them
    statements = [f"ALTER TABLE {_quote(t)} ADD CONSTRAINT {_quote(n)} {d}" for t, n, d in unique]
    statements += [d for _, _, d in indexes]
    statements += [f"ALTER TABLE {_quote(t)} ADD CONSTRAINT {_quote(n)} {d}" for t, n, d in foreign]
    return statements


def _relax_sqlite(conn: Connection, tables: Sequence[str]) -> list[str]:
    statements: list[str] = []
    for table in tables:
        for name, sql in conn.execute(_SQLITE_INDEXES, {"t": table}).all():
            conn.exec_driver_sql(f"DROP INDEX {_quote(str(name))}")
            statements.append(str(sql))
    return statements
