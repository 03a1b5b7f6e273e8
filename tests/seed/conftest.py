"""Fixtures for the seeder tests.

The database fixtures (`database_url` over SQLite and PostgreSQL, `pg_databases`, …)
are the suite's (tests/db_fixtures.py, a plugin listed in tests/conftest.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from db_fixtures import url_text
from seed_helpers import Seeded, seed
from sqlalchemy import URL


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
