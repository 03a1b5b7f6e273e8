"""Fixtures for the persistence tests: SQLite (a temp file) and PostgreSQL.

PostgreSQL: set CARDSVC_TEST_DATABASE_URL to a server URL, for example
postgresql+psycopg://postgres@127.0.0.1:5432/test. The test session creates its
own database (random name) on that server, empties it before each test, and
drops it at the end. If the variable is set and the server does not answer,
the tests FAIL. Without the variable, a Docker engine with the
`testcontainers[postgres]` package provides a throwaway server; without either,
the PostgreSQL cases are skipped.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import secrets
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, create_engine
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from cardsvc.db import migrate
from cardsvc.db.engine import make_engine, normalise_url
from cardsvc.db.models import (
    Card,
    CardState,
    EmploymentStatus,
    Person,
    Sex,
    Site,
    SiteLevel,
)
from cardsvc.db.uow import make_session_factory

PG_ENV = "CARDSVC_TEST_DATABASE_URL"
HOW_TO_START = (
    "start it with `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`, "
    f"or unset {PG_ENV} to skip the PostgreSQL tests"
)
SQLITE_TRIGGERS = (
    "journal_entries_no_update",
    "journal_entries_no_delete",
    "journal_entries_append_at_head",
    "journal_head_advance",
    "journal_head_no_delete",
)


def admin_engine(url: URL) -> Engine:
    """A superuser engine in autocommit mode, no pooling (for CREATE/DROP DATABASE)."""
    return create_engine(
        url, isolation_level="AUTOCOMMIT", poolclass=NullPool, connect_args={"connect_timeout": 5}
    )


def url_text(url: URL) -> str:
    return url.render_as_string(hide_password=False)


def _docker_answers() -> bool:
    try:
        import docker  # noqa: PLC0415 - comes with testcontainers

        docker.from_env(timeout=3).ping()  # type: ignore[attr-defined]
    except Exception:
        return False
    return True


def _testcontainers_server() -> Iterator[URL]:
    try:
        postgres = importlib.import_module("testcontainers.community.postgres")
    except ImportError:
        try:  # testcontainers before 4.10
            postgres = importlib.import_module("testcontainers.postgres")
        except ImportError:
            postgres = None
    if postgres is None:
        pytest.skip(
            f"PostgreSQL tests skipped: set {PG_ENV} "
            "(e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test), or install the dev "
            "extra testcontainers[postgres] and run a Docker engine"
        )
    if not _docker_answers():
        pytest.skip(f"PostgreSQL tests skipped: {PG_ENV} is not set and no Docker engine answers")
    with postgres.PostgresContainer("postgres:15-alpine", driver="psycopg") as container:
        yield make_url(container.get_connection_url())


def _reachable(raw: str) -> URL:
    """The server named by the environment; FAIL (not skip) when it does not answer."""
    url = normalise_url(raw)
    engine = admin_engine(url)
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except OperationalError as exc:
        reason = str(exc.orig or exc).strip().splitlines()[0]
        pytest.fail(
            f"{PG_ENV} is set ({url.render_as_string(hide_password=True)}) but the server "
            f"cannot be reached: {reason}; {HOW_TO_START}",
            pytrace=False,
        )
    finally:
        engine.dispose()
    return url


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[URL]:
    """A PostgreSQL server URL (superuser): from the environment, or a testcontainer."""
    raw = os.environ.get(PG_ENV, "").strip()
    if raw:
        yield _reachable(raw)
    else:
        yield from _testcontainers_server()


@pytest.fixture(scope="session")
def pg_databases(pg_server_url: URL) -> Iterator[Callable[[str], URL]]:
    """Create databases named after this session (dropped at the end of the session)."""
    prefix = f"cardsvc_test_{secrets.token_hex(4)}"
    created: list[str] = []
    admin = admin_engine(pg_server_url)

    def create(suffix: str) -> URL:
        name = f"{prefix}_{suffix}"
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        created.append(name)
        return pg_server_url.set(database=name)

    try:
        yield create
    finally:
        with admin.connect() as conn:
            for name in reversed(created):
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture(scope="session")
def pg_session_url(pg_databases: Callable[[str], URL]) -> URL:
    """This test session's PostgreSQL database."""
    return pg_databases("main")


def _empty_pg(url: URL) -> None:
    engine = admin_engine(url)
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SET lock_timeout = '10s'")
            conn.exec_driver_sql(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            conn.exec_driver_sql("DROP SCHEMA public CASCADE")
            conn.exec_driver_sql("CREATE SCHEMA public")
    finally:
        engine.dispose()


@pytest.fixture
def pg_database_url(pg_session_url: URL) -> str:
    """The session's PostgreSQL database, emptied (no tables) for this test."""
    _empty_pg(pg_session_url)
    return url_text(pg_session_url)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database on each engine."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'cardsvc.db'}"
    url: str = request.getfixturevalue("pg_database_url")
    return url


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    eng = make_engine(database_url, busy_timeout_s=10)
    try:
        yield eng
    finally:
        eng.dispose()


@pytest.fixture
def migrated_engine(engine: Engine) -> Engine:
    migrate.upgrade(engine)
    return engine


@pytest.fixture
def pg_engine(pg_database_url: str) -> Iterator[Engine]:
    eng = make_engine(pg_database_url, busy_timeout_s=10)
    migrate.upgrade(eng)
    try:
        yield eng
    finally:
        eng.dispose()


@pytest.fixture
def session_factory(migrated_engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(migrated_engine)


@contextlib.contextmanager
def _journal_guards_off(engine: Engine) -> Iterator[Connection]:
    """A connection on which the journal triggers do not fire (what a superuser can do).

    PostgreSQL: SET LOCAL session_replication_role = replica (superuser only).
    SQLite: the triggers are dropped (anyone with the file can).
    """
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
        else:
            for trigger in SQLITE_TRIGGERS:
                conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {trigger}")
        yield conn
        conn.commit()


SITE_CODE = "370402"
NOW = datetime(2025, 3, 1, 8, 30, 0, 123456, tzinfo=UTC)


def _add_person(session: Session, ssn: str = "370402199001011238", name: str = "张三") -> Person:
    """A city site and a person living there (flushed, not committed)."""
    if session.get(Site, SITE_CODE) is None:
        session.add(Site(code=SITE_CODE, level=SiteLevel.DISTRICT, name="市中区"))
        session.flush()  # no relationship orders the inserts: the site must exist first
    person = Person(
        ssn=ssn,
        name=name,
        sex=Sex.MALE,
        nationality="01",
        birth_date=date(1990, 1, 1),
        residence_site_code=SITE_CODE,
        employment_status=EmploymentStatus.EMPLOYED,
    )
    session.add(person)
    session.flush()
    return person


def _add_card(session: Session, person: Person, card_number: str = "A00000011") -> Card:
    card = Card(
        card_number=card_number,
        card_id_code="370402D1560000051A2B3C4D00000001",
        person_id=person.id,
        ssn=person.ssn,
        generation=2,
        issued_on=date(2024, 1, 1),
        expires_on=date(2034, 1, 1),
        state=CardState.ISSUED,
        state_changed_at=NOW,
    )
    session.add(card)
    session.flush()
    return card


GuardsOff = Callable[[Engine], contextlib.AbstractContextManager[Connection]]
AddPerson = Callable[..., Person]
AddCard = Callable[..., Card]


@pytest.fixture
def guards_off() -> GuardsOff:
    """`with guards_off(engine) as conn:` a connection that can tamper with the journal."""
    return _journal_guards_off


@pytest.fixture
def add_person() -> AddPerson:
    """`add_person(session, ssn=..., name=...)`: a site and a person (flushed)."""
    return _add_person


@pytest.fixture
def add_card() -> AddCard:
    """`add_card(session, person, card_number=...)`: an issued card (flushed)."""
    return _add_card
