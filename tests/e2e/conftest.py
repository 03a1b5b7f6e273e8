"""Fixtures of the end-to-end tests: pcscd + vpcd + simulator + station agent + API + database.

`e2e` (session scope, parametrised sqlite / postgresql) seeds a small city (the
demo's, `cardsvc.demo.city`) into a fresh database of that engine, starts the API
(`cardsvc serve`, demo keys) and the two stations' agents on the suite's private
pcscd (`pcsc_stack`), and plugs the counter's PSAM. One stack per engine serves
every e2e module (pytest runs the tests of one engine, then the other); the last
one is stopped as soon as the last e2e test is done, so the readers are free for
the PC/SC tests that follow.

PostgreSQL comes from tests/db_fixtures.py (CARDSVC_TEST_DATABASE_URL; else a
testcontainer; else the PostgreSQL cases are skipped).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from db_fixtures import url_text
from e2e_harness import E2E, start_e2e
from pcsc_harness import PcscStack
from sqlalchemy.engine import URL

_HERE = Path(__file__).resolve().parent


_RUNNING: list[contextlib.ExitStack] = []


def _stop_running() -> None:
    while _RUNNING:
        _RUNNING.pop().close()


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def e2e(
    request: pytest.FixtureRequest,
    pcsc_stack: PcscStack,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[E2E]:
    """The whole stack on one engine, shared by the e2e modules."""
    _stop_running()  # the other engine's stack, if pytest did not finish it yet
    root = tmp_path_factory.mktemp(f"e2e-{request.param}")
    if request.param == "sqlite":
        url = f"sqlite:///{root / 'city.db'}"
    else:
        create: Callable[[str], URL] = request.getfixturevalue("pg_databases")
        url = url_text(create("e2e"))
    exits = contextlib.ExitStack()
    _RUNNING.append(exits)
    try:
        yield exits.enter_context(start_e2e(request.param, url, root, pcsc_stack))
    finally:
        if exits in _RUNNING:
            _RUNNING.remove(exits)
        exits.close()


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """After the last e2e test, stop the stack (agents, API, slots) at once."""
    if nextitem is None or _HERE not in Path(nextitem.path).parents:
        _stop_running()


@pytest.fixture
def desk(e2e: E2E) -> Iterator[E2E]:
    """The stack with both card readers empty before and after the test."""
    e2e.empty_readers()
    try:
        yield e2e
    finally:
        e2e.empty_readers()
