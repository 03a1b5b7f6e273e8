"""The database fixtures of the whole suite (a pytest plugin, listed in tests/conftest.py).

SQLite (a temp file) and PostgreSQL. PostgreSQL: set CARDSVC_TEST_DATABASE_URL to a
server URL, for example postgresql+psycopg://postgres@127.0.0.1:5432/test. The test
session creates its own databases (random names) on that server and drops them at the
end; `pg_database_url` empties the session's database before each test. If the
variable is set and the server does not answer, the tests FAIL. Without the variable,
a Docker engine with the `testcontainers[postgres]` package provides a throwaway
server; without either, the PostgreSQL cases are skipped.

Fixtures: `pg_server_url`, `pg_databases` (create more databases for this session),
`pg_session_url`, `pg_database_url`, `database_url` (each engine, empty). Helpers:
`admin_engine`, `url_text`.
"""

from __future__ import annotations

import importlib
import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

from cardsvc.db.engine import normalise_url

PG_ENV = "CARDSVC_TEST_DATABASE_URL"
HOW_TO_START = (
    "start it with `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`, "
    f"or unset {PG_ENV} to skip the PostgreSQL tests"
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
        if name in created:  # the same suffix asked for again in this session
            name = f"{name}_{len(created)}"
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
