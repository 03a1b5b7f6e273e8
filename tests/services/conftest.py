"""Fixtures for the service tests: a tiny city on both engines, and a settable clock.

The database fixtures (`database_url` over SQLite and PostgreSQL, and the PostgreSQL
server/session fixtures behind it) are the suite's (tests/db_fixtures.py). The city
itself is in services_city.py.
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from db_fixtures import admin_engine, url_text
from services_city import T0, City, Clock, seed
from sqlalchemy.engine import URL, make_url

from cardsvc.db import migrate, open_database
from cardsvc.db.engine import make_engine
from cardsvc.db.journal import GENESIS_HASH, verify_journal
from cardsvc.db.models import Base
from cardsvc.services.context import ServiceContext


@pytest.fixture(scope="session")
def pg_services_url(pg_databases: Callable[[str], URL]) -> URL:
    """A PostgreSQL database for the service tests, migrated once per session."""
    url = pg_databases("services")
    engine = make_engine(url, busy_timeout_s=10)
    try:
        migrate.upgrade(engine)
    finally:
        engine.dispose()
    return url


@pytest.fixture
def pg_database_url(pg_services_url: URL) -> str:
    """Overrides tests/db's fixture of the same name, which `database_url` asks for.

    There: an empty database (no tables) per test, migrated again by each test. Here:
    the session's migrated database with every row removed, which is what these tests
    need, at a fraction of the cost (re-creating the schema dominated the run time).
    Rows go by DELETE (cheaper than TRUNCATE for a handful of rows) as the server's
    superuser with the journal's guard triggers off (session_replication_role =
    replica), then the journal head is put back to the genesis state the migration
    creates and the journal's id sequence restarts at 1.
    """
    _empty_rows(pg_services_url)
    return url_text(pg_services_url)


def _empty_rows(url: URL) -> None:
    engine = admin_engine(url)
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
    finally:
        engine.dispose()
    engine = make_engine(url, busy_timeout_s=10)
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SET LOCAL lock_timeout = '10s'")
            conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
            for table in reversed(Base.metadata.sorted_tables):
                conn.execute(table.delete())
            conn.exec_driver_sql(
                "INSERT INTO journal_head (id, last_id, last_hash) VALUES (1, 0, %s)",
                (GENESIS_HASH,),
            )
            # Journal ids come from this sequence (migration 0005): restart it so that
            # each test's entries are numbered from 1, as on a fresh database.
            conn.exec_driver_sql("ALTER SEQUENCE journal_entries_id_seq RESTART")
            conn.commit()
    finally:
        engine.dispose()


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


def _build(url: str, clock: Clock) -> City:
    engine = make_engine(url, busy_timeout_s=10)
    try:
        if migrate.current_revision(engine) != migrate.head_revision():
            migrate.upgrade(engine)
    finally:
        engine.dispose()
    db = open_database(url)
    the_city = City(db=db, ctx=ServiceContext(database=db, clock=clock), clock=clock)
    try:
        seed(db, the_city)
    except BaseException:
        db.dispose()
        raise
    return the_city


@pytest.fixture(scope="session")
def sqlite_city_template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, City]:
    """The seeded city in a SQLite file, built once: tests get a copy (milliseconds)."""
    path = tmp_path_factory.mktemp("city") / "template.db"
    blueprint = _build(f"sqlite:///{path}", Clock(T0))
    blueprint.db.dispose()
    raw = sqlite3.connect(path)  # fold the WAL into the file, so that one file is the copy
    try:
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        raw.close()
    return path, blueprint


@pytest.fixture
def city(database_url: str, clock: Clock, request: pytest.FixtureRequest) -> Iterator[City]:
    """The tiny city, seeded, in the (empty) database `database_url` names.

    SQLite: a copy of a template file seeded once per session. PostgreSQL: the
    session's migrated database, emptied of rows (see `pg_database_url`) and seeded.
    """
    if database_url.startswith("sqlite"):
        template, blueprint = request.getfixturevalue("sqlite_city_template")
        target = make_url(database_url).database
        assert target
        shutil.copyfile(template, target)
        db = open_database(database_url)
        the_city = replace(
            blueprint, db=db, ctx=ServiceContext(database=db, clock=clock), clock=clock
        )
    else:
        the_city = _build(database_url, clock)
    try:
        yield the_city
        with the_city.db.read_only_unit_of_work() as uow:  # after all of it: still intact
            report = verify_journal(uow.session)
        assert report.ok, str(report)
    finally:
        the_city.db.dispose()


@pytest.fixture
def is_postgresql(database_url: str) -> bool:
    return database_url.startswith("postgresql")
