"""Fixtures of the card-session and card API tests: a REAL served API (uvicorn subprocess)
with the demo key service, over its own migrated database, on SQLite and PostgreSQL.

`card_api` (session scope, parametrised): one server on SQLite, two on PostgreSQL (the
cross-process tests use both). PostgreSQL comes from tests/api/conftest.py (the
tests/db fixtures: CARDSVC_TEST_DATABASE_URL, else a testcontainer, else skipped).
Every test makes its own cards (fresh identities) and callers, so tests do not
depend on each other's writes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from api_harness import Records, migrated
from cards_harness import CardApi, launch_card_servers
from sqlalchemy.engine import URL


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def card_api(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[CardApi]:
    tmp = tmp_path_factory.mktemp(f"cards-{request.param}")
    if request.param == "sqlite":
        url = f"sqlite:///{tmp / 'cards.db'}"
        count = 1
    else:
        create: Callable[[str], URL] = request.getfixturevalue("pg_databases")
        url = create("cards").render_as_string(hide_password=False)
        count = 2
    records = Records(migrated(url))
    records.ensure_sites()
    api = CardApi(request.param, url, records)
    try:
        api.servers = launch_card_servers(url, tmp / "servers", count)
        yield api
    finally:
        api.close()


@pytest.fixture
def pg_card_api(card_api: CardApi) -> CardApi:
    """The PostgreSQL card servers only (two processes on one database)."""
    if card_api.engine_name != "postgresql":
        pytest.skip("two API processes on one database: PostgreSQL only")
    return card_api
