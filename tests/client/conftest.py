"""Fixtures of the API client tests: a REAL served API (uvicorn subprocess) with the demo
key service, on SQLite and PostgreSQL (PostgreSQL from tests/db_fixtures.py:
CARDSVC_TEST_DATABASE_URL, else a testcontainer, else skipped)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from client_harness import TerminalApi
from sqlalchemy.engine import URL

_HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def terminal_api(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TerminalApi]:
    tmp = tmp_path_factory.mktemp(f"client-{request.param}")
    if request.param == "sqlite":
        url = f"sqlite:///{tmp / 'client.db'}"
    else:
        create: Callable[[str], URL] = request.getfixturevalue("pg_databases")
        url = create("client").render_as_string(hide_password=False)
    api = TerminalApi.start(request.param, url, tmp / "servers")
    try:
        yield api
    finally:
        api.close()
