"""Engines: SQLite pragmas on every connection, the durability check, URL handling."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL
from sqlalchemy.pool import ConnectionPoolEntry, NullPool

from cardsvc.db import migrate
from cardsvc.db.database import open_database
from cardsvc.db.engine import (
    AUTOVACUUM_OFF,
    READ_ONLY,
    check_durability,
    make_engine,
    normalise_url,
)
from cardsvc.db.errors import DatabaseError, DurabilityError, MigrationError


def _pragmas(conn: Connection) -> tuple[str, int, int, int]:
    return (
        str(conn.exec_driver_sql("PRAGMA journal_mode").scalar_one()),
        int(conn.exec_driver_sql("PRAGMA synchronous").scalar_one()),
        int(conn.exec_driver_sql("PRAGMA foreign_keys").scalar_one()),
        int(conn.exec_driver_sql("PRAGMA busy_timeout").scalar_one()),
    )


def test_sqlite_pragmas_hold_on_every_connection(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'p.db'}", busy_timeout_s=7)
    expected = ("wal", 2, 1, 7000)
    try:
        # deferred BEGIN: three connections may read at once (writers would queue)
        with (
            engine.connect().execution_options(**{READ_ONLY: True}) as a,
            engine.connect().execution_options(**{READ_ONLY: True}) as b,
            engine.connect().execution_options(**{READ_ONLY: True}) as c,
        ):
            seen = [_pragmas(conn) for conn in (a, b, c)]
            assert len({id(conn.connection.dbapi_connection) for conn in (a, b, c)}) == 3

        def in_thread() -> tuple[str, int, int, int]:
            with engine.connect() as conn:
                return _pragmas(conn)

        with ThreadPoolExecutor(max_workers=1) as pool:
            seen.append(pool.submit(in_thread).result(timeout=30))
        assert seen == [expected] * 4
    finally:
        engine.dispose()


def test_sqlite_write_transactions_begin_immediate(tmp_path: Path) -> None:
    """A second writer waits on the busy timeout instead of failing."""
    engine = make_engine(f"sqlite:///{tmp_path / 'w.db'}", busy_timeout_s=20)
    holding = threading.Event()
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE t (n INTEGER)")

        def first() -> None:
            with engine.begin() as conn:
                conn.exec_driver_sql("INSERT INTO t VALUES (1)")
                holding.set()
                threading.Event().wait(0.3)

        def second() -> None:
            assert holding.wait(timeout=20)
            with engine.begin() as conn:
                # read-then-write: under a deferred BEGIN this could fail to upgrade its lock
                count = conn.exec_driver_sql("SELECT count(*) FROM t").scalar_one()
                conn.exec_driver_sql("INSERT INTO t VALUES (?)", (count + 1,))

        with ThreadPoolExecutor(max_workers=2) as pool:
            futures = [pool.submit(first), pool.submit(second)]
            for future in futures:
                future.result(timeout=60)
        with engine.connect() as conn:
            rows = conn.exec_driver_sql("SELECT n FROM t ORDER BY n").scalars().all()
        assert rows == [1, 2]
    finally:
        engine.dispose()


def test_durability_check_accepts_both_engines(engine: Engine) -> None:
    check_durability(engine)


def test_durability_check_refuses_sqlite_synchronous_normal(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'n.db'}")

    @event.listens_for(engine, "connect")
    def _weaken(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        dbapi_connection.execute("PRAGMA synchronous = NORMAL")

    try:
        with pytest.raises(DurabilityError, match=r"synchronous is 'NORMAL'") as info:
            check_durability(engine)
        assert info.value.setting == "SQLite synchronous"
        assert info.value.value == "NORMAL"
    finally:
        engine.dispose()


def test_durability_check_refuses_sqlite_without_wal(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'd.db'}")  # not through make_engine
    try:
        with pytest.raises(DurabilityError, match="journal_mode is 'delete'"):
            check_durability(engine)
    finally:
        engine.dispose()


def test_durability_check_refuses_in_memory_sqlite() -> None:
    engine = make_engine("sqlite://")
    try:
        with pytest.raises(DurabilityError, match="in-memory"):
            check_durability(engine)
    finally:
        engine.dispose()


def test_durability_check_refuses_postgresql_synchronous_commit_off(
    pg_databases: Callable[[str], URL], pg_server_url: URL
) -> None:
    url = pg_databases("nosync")  # a throwaway database: the setting sticks to it
    admin = create_engine(pg_server_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)

    def set_synchronous_commit(value: str) -> None:
        with admin.connect() as conn:
            conn.exec_driver_sql(
                f'ALTER DATABASE "{url.database}" SET synchronous_commit = {value}'
            )

    def check() -> None:
        engine = make_engine(url)
        try:
            check_durability(engine)
        finally:
            engine.dispose()

    try:
        set_synchronous_commit("off")
        with pytest.raises(DurabilityError, match="synchronous_commit is 'off'") as info:
            check()
        assert info.value.setting == "PostgreSQL synchronous_commit"
        assert "ALTER DATABASE" in info.value.fix
        set_synchronous_commit("local")  # flushed locally before the commit is acknowledged
        check()
    finally:
        admin.dispose()


def test_durability_check_warns_when_postgresql_runs_without_autovacuum(
    pg_database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A server setting (not per database): the warning follows what this server runs."""
    engine = make_engine(pg_database_url)
    try:
        with engine.connect() as conn:
            autovacuum = str(conn.exec_driver_sql("SHOW autovacuum").scalar_one())
        with caplog.at_level(logging.WARNING, logger="cardsvc.db.engine"):
            check_durability(engine)
    finally:
        engine.dispose()
    warned = [r for r in caplog.records if r.getMessage() == AUTOVACUUM_OFF]
    assert len(warned) == (0 if autovacuum == "on" else 1)


def test_postgresql_url_gets_psycopg() -> None:
    assert normalise_url("postgresql://u@h/db").drivername == "postgresql+psycopg"
    assert normalise_url("postgres://u@h/db").drivername == "postgresql+psycopg"


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("mysql://u@h/db", "unsupported database 'mysql'"),
        ("postgresql+psycopg2://u@h/db", "psycopg2"),
        ("not a url", "not a database URL"),
    ],
)
def test_bad_urls_are_refused_clearly(url: str, problem: str) -> None:
    with pytest.raises(DatabaseError, match=problem):
        normalise_url(url)


def test_url_password_is_not_shown_in_errors() -> None:
    with pytest.raises(DatabaseError) as info:
        normalise_url("mysql://svc:s3cret@h/db")
    assert "s3cret" not in str(info.value)


def test_open_database_refuses_an_unmigrated_schema(engine: Engine, database_url: str) -> None:
    with pytest.raises(MigrationError, match="cardsvc db upgrade"):
        open_database(database_url)
    migrate.upgrade(engine)
    db = open_database(database_url)
    try:
        with db.unit_of_work() as uow:
            assert uow.session.connection().dialect.name == engine.dialect.name
    finally:
        db.dispose()
