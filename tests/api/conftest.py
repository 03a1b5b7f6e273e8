"""Fixtures for the API tests: the REAL server (uvicorn in a subprocess on a free
loopback port) over a migrated database, on SQLite and PostgreSQL, plus httpx.

- `api` (session scope, parametrised sqlite / postgresql): two running servers and a
  `Records` helper that writes operators, devices and tokens straight into its
  database through the models.
- `pg_pair`: two server processes on ONE PostgreSQL database (cross-process tests).
- `start_server(database_url, **env)`: a server of one's own (stopped after the test).

PostgreSQL comes from tests/db_fixtures.py (CARDSVC_TEST_DATABASE_URL, else a
testcontainer, else the PostgreSQL cases are skipped); its fixtures are re-used
here by loading that module.

The servers run with short, test-friendly limits (see SERVER_ENV): a 2 s login
lockout, 25 requests per actor per window, a 4 KiB body limit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from api_harness import (
    ApiEnv,
    ApiServer,
    Records,
    launch_server,
    launch_servers,
    migrated,
    stop_servers,
)
from db_fixtures import url_text
from sqlalchemy.engine import URL

_HERE = Path(__file__).resolve().parent


class _Stack:
    """Session-wide servers, started on first use and stopped at the end."""

    def __init__(self, request: pytest.FixtureRequest, log_dir: Path) -> None:
        self._request = request
        self._log_dir = log_dir
        self._envs: dict[str, ApiEnv] = {}

    def _url(self, engine_name: str) -> str:
        if engine_name == "sqlite":
            return f"sqlite:///{self._log_dir / 'api.db'}"
        create: Callable[[str], URL] = self._request.getfixturevalue("pg_databases")
        return url_text(create("api"))

    def env(self, engine_name: str, servers: int = 1) -> ApiEnv:
        env = self._envs.get(engine_name)
        if env is None:
            url = migrated(self._url(engine_name))
            records = Records(url)
            records.ensure_sites()
            env = ApiEnv(engine_name, url, records, [])
            self._envs[engine_name] = env
        missing = servers - len(env.servers)
        if missing > 0:
            env.servers += launch_servers(env.url, self._log_dir / engine_name, missing)
        return env

    def close(self) -> None:
        stop_servers([server for env in self._envs.values() for server in env.servers])
        for env in self._envs.values():
            env.records.dispose()


@pytest.fixture(scope="session")
def _api_stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[_Stack]:
    stack = _Stack(request, tmp_path_factory.mktemp("api"))
    try:
        yield stack
    finally:
        stack.close()


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def api(request: pytest.FixtureRequest, _api_stack: _Stack) -> ApiEnv:
    """Two API server processes over one migrated database, on each engine."""
    return _api_stack.env(request.param, servers=2)


@pytest.fixture(scope="session")
def sqlite_api(_api_stack: _Stack) -> ApiEnv:
    """The SQLite servers only (for tests about HTTP mechanics, not the engine)."""
    return _api_stack.env("sqlite", servers=2)


@pytest.fixture(scope="session")
def pg_pair(_api_stack: _Stack) -> ApiEnv:
    """Two API server processes on one PostgreSQL database (`servers[0]`, `servers[1]`)."""
    return _api_stack.env("postgresql", servers=2)


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Callable[..., ApiServer]]:
    """`start_server(database_url, **env)`: a server for this test only."""
    started: list[ApiServer] = []

    def start(url: str, **overrides: str) -> ApiServer:
        server = launch_server(url, tmp_path / "servers", **overrides)
        started.append(server)
        return server

    try:
        yield start
    finally:
        stop_servers(started)
