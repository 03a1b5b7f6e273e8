"""Fixtures for the seeder tests.

The database fixtures (`database_url` over SQLite and PostgreSQL, `pg_databases`, …)
are those of tests/db/conftest.py, loaded from that file and re-exported here (a
conftest below the root may not use `pytest_plugins`).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from seed_helpers import Seeded, seed
from sqlalchemy import URL


def _load_db_fixtures() -> Any:
    path = Path(__file__).resolve().parent.parent / "db" / "conftest.py"
    spec = importlib.util.spec_from_file_location("cardsvc_tests_db_fixtures", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_db = _load_db_fixtures()
pg_server_url = _db.pg_server_url
pg_databases = _db.pg_databases
pg_session_url = _db.pg_session_url
pg_database_url = _db.pg_database_url
database_url = _db.database_url
url_text = _db.url_text


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def seeded(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Seeded]:
    """One database per engine, seeded once for the module (N = 200, seed 7, demo)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('seeded') / 'seeded.db'}"
    else:
        create: Callable[[str], URL] = request.getfixturevalue("pg_databases")
        url = url_text(create(f"seeded_{request.module.__name__.rsplit('.', 1)[-1][-12:]}"))
    engine, report = seed(url, seed=7, demo=True)
    try:
        yield Seeded(engine, url, report, request.param)
    finally:
        engine.dispose()
