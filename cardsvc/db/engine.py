"""Engines for both back ends, one code path: SQLite (embedded default) and PostgreSQL.

`make_engine(url)` returns an Engine configured so that an acknowledged commit
survives a crash, and `check_durability(engine)` refuses a database that is not.
Entry points call both once at start-up (see `open_database`).

SQLite, on every connection (a ``connect`` event listener):

- ``PRAGMA busy_timeout``: a writer that finds the database locked waits (default
  30 s) instead of failing at once;
- ``PRAGMA journal_mode = WAL``: readers do not block the writer and vice versa;
- ``PRAGMA synchronous = FULL``: the WAL is synced on every commit (``NORMAL``
  in WAL mode can lose the last commits on power loss);
- ``PRAGMA foreign_keys = ON``.

Transactions on SQLite start with ``BEGIN IMMEDIATE`` (the driver's own
transaction handling is switched off): the write lock is taken at BEGIN, so two
writers queue on the busy timeout instead of one of them failing with
"database is locked" when its read lock cannot be upgraded. A connection given
the execution option ``{READ_ONLY: True}`` starts with a plain (deferred)
``BEGIN`` so that enquiries do not queue behind writers; never write on one.

PostgreSQL goes through psycopg 3: ``postgresql://`` URLs are rewritten to
``postgresql+psycopg://``. A pooled connection is pinged before use only after it
sat idle for a while (cardsvc.db.idle_ping), not on every check-out.

Durability on PostgreSQL: ``fsync = off`` and ``full_page_writes = off`` can lose
or corrupt committed data after an OS crash; ``synchronous_commit = off``
acknowledges a commit before its WAL is flushed. These are refused.
``synchronous_commit = local`` is accepted: the commit is flushed on this server
before it is acknowledged (it only skips waiting for synchronous standbys, so a
fail-over to a standby could miss it; with no ``synchronous_standby_names`` it
is the same as ``on``). ``remote_write``/``remote_apply``/``on`` are accepted.
A server without autovacuum is accepted with a warning (AUTOVACUUM_OFF).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.pool import ConnectionPoolEntry

from cardsvc.db.errors import DatabaseError, DurabilityError
from cardsvc.db.idle_ping import ping_when_idle

logger = logging.getLogger(__name__)

#: Execution option: start SQLite transactions with a deferred BEGIN (read-only work).
READ_ONLY = "cardsvc_read_only"

DEFAULT_BUSY_TIMEOUT_S = 30.0

_PG_CONNECT_TIMEOUT_S = 10


def normalise_url(url: str | URL) -> URL:
    """Parse `url`; a PostgreSQL URL without a driver gets psycopg 3."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as exc:
        raise DatabaseError(f"not a database URL: {_safe(url)!r} ({exc})") from None
    if parsed.drivername in {"postgresql", "postgres"}:
        parsed = parsed.set(drivername="postgresql+psycopg")
    backend = parsed.get_backend_name()
    if backend not in {"sqlite", "postgresql"}:
        raise DatabaseError(
            f"unsupported database {backend!r} in {_safe(url)!r}: use sqlite:///FILE "
            "or postgresql+psycopg://USER@HOST/DB"
        )
    if backend == "postgresql" and parsed.get_driver_name() != "psycopg":
        raise DatabaseError(
            f"PostgreSQL driver {parsed.get_driver_name()!r} is not supported: "
            "use postgresql+psycopg://"
        )
    return parsed


AUTOCOMMIT = "AUTOCOMMIT"
"""The isolation level (an execution option) of sessions whose statements commit singly."""


def in_autocommit(connection: Connection) -> bool:
    """Whether `connection` (PostgreSQL) commits every statement on its own.

    True on an autocommit engine's connections and on those an ``isolation_level=
    "AUTOCOMMIT"`` execution option switched: either way the driver's connection is
    in autocommit, and there is no transaction to join.
    """
    return bool(getattr(connection.connection.driver_connection, "autocommit", False))


def make_engine(
    url: str | URL,
    *,
    busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S,
    echo: bool = False,
    autocommit: bool = False,
) -> Engine:
    """Create the Engine for `url` with the durability and locking settings above.

    Does not connect. For a SQLite file, creates its parent directory.
    `autocommit=True` (PostgreSQL only): every connection of the engine stays in
    autocommit, so a check-out neither switches it nor switches it back (an
    ``isolation_level`` execution option does both, on every check-out).
    """
    parsed = normalise_url(url)
    if parsed.get_backend_name() == "sqlite":
        if autocommit:
            raise DatabaseError("an autocommit engine is for PostgreSQL only")
        return _sqlite_engine(parsed, busy_timeout_s=busy_timeout_s, echo=echo)
    options: dict[str, Any] = {"isolation_level": AUTOCOMMIT} if autocommit else {}
    engine = create_engine(
        parsed,
        echo=echo,
        connect_args={"connect_timeout": _PG_CONNECT_TIMEOUT_S},
        **options,
    )
    ping_when_idle(engine)  # instead of pool_pre_ping's ping on every check-out
    return engine


def _sqlite_engine(url: URL, *, busy_timeout_s: float, echo: bool) -> Engine:
    database = url.database or ""
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, echo=echo, connect_args={"timeout": busy_timeout_s})
    busy_ms = max(0, int(busy_timeout_s * 1000))

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        # Take transaction control away from the sqlite3 module: we emit BEGIN ourselves.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {busy_ms}")
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = FULL")
            cursor.execute("PRAGMA foreign_keys = ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        if conn.get_execution_options().get(READ_ONLY):
            conn.exec_driver_sql("BEGIN")
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def check_durability(engine: Engine) -> None:
    """Raise DurabilityError if `engine`'s database can lose acknowledged commits.

    Connects once and reads the settings that connection sees (so per-database
    and per-role overrides count).
    """
    backend = engine.dialect.name
    with engine.connect().execution_options(**{READ_ONLY: True}) as conn:
        if backend == "sqlite":
            _check_sqlite(conn)
        elif backend == "postgresql":
            _check_postgresql(conn)
        else:  # pragma: no cover - normalise_url refuses other back ends
            raise DatabaseError(f"unsupported database {backend!r}")
        conn.rollback()
    logger.info("durability settings of %s database accepted", backend)


def _check_sqlite(conn: Connection) -> None:
    sqlite_fix = (
        "open the database through cardsvc.db.engine.make_engine, which sets "
        "PRAGMA journal_mode = WAL and PRAGMA synchronous = FULL on every connection"
    )
    journal_mode = str(conn.exec_driver_sql("PRAGMA journal_mode").scalar_one()).lower()
    if journal_mode == "memory":
        raise DurabilityError(
            "SQLite journal_mode",
            journal_mode,
            "an in-memory database cannot be durable: use a file (sqlite:///path/to/cardsvc.db)",
        )
    if journal_mode != "wal":
        raise DurabilityError(
            "SQLite journal_mode", journal_mode, sqlite_fix + " (WAL needs a local file system)"
        )
    synchronous = int(conn.exec_driver_sql("PRAGMA synchronous").scalar_one())
    names = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}
    if synchronous < 2:
        raise DurabilityError(
            "SQLite synchronous", names.get(synchronous, str(synchronous)), sqlite_fix
        )


def _check_postgresql(conn: Connection) -> None:
    def show(name: str) -> str:
        return str(conn.exec_driver_sql(f"SHOW {name}").scalar_one()).strip().lower()

    fsync = show("fsync")
    if fsync != "on":
        raise DurabilityError(
            "PostgreSQL fsync",
            fsync,
            "set fsync = on in postgresql.conf (or ALTER SYSTEM SET fsync = on) and restart",
        )
    full_page_writes = show("full_page_writes")
    if full_page_writes != "on":
        raise DurabilityError(
            "PostgreSQL full_page_writes",
            full_page_writes,
            "ALTER SYSTEM SET full_page_writes = on; SELECT pg_reload_conf();",
        )
    synchronous_commit = show("synchronous_commit")
    if synchronous_commit == "off":
        raise DurabilityError(
            "PostgreSQL synchronous_commit",
            synchronous_commit,
            "remove the override (ALTER DATABASE <db> RESET synchronous_commit; "
            "ALTER ROLE <role> RESET synchronous_commit) or "
            "ALTER SYSTEM SET synchronous_commit = on; SELECT pg_reload_conf();",
        )
    if show("autovacuum") != "on":
        logger.warning(AUTOVACUUM_OFF)


AUTOVACUUM_OFF = (
    "PostgreSQL autovacuum is off: table statistics are never refreshed, so query plans "
    "made while a table was small (a new database) are kept as it grows, and dead rows "
    "pile up; turn it on (ALTER SYSTEM SET autovacuum = on; SELECT pg_reload_conf();) or "
    "run VACUUM ANALYZE regularly"
)
"""Logged (a warning, not a refusal) at start-up when the server runs without autovacuum."""


def _safe(url: str | URL) -> str:
    """The URL with any password hidden, for messages."""
    if isinstance(url, URL):
        return url.render_as_string(hide_password=True)
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return "<unparsable URL>"
