"""Fixtures of the person, site and journal API tests: one seeded mini city and ONE real
server (uvicorn subprocess on a free loopback port) per test module and engine.

`city` is parametrised over SQLite and PostgreSQL (PostgreSQL as in tests/api: from
CARDSVC_TEST_DATABASE_URL, else a testcontainer, else skipped). A test module may set
``SERVER_ENV`` (more CARDSVC_* settings for its server). The tests of a module share
the city, so they must not depend on each other's writes (each write test uses its own
resident or a fresh idempotency key and asserts what holds either way).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from persons_city import SCHEMATHESIS_REPORT, MiniCity, served_city


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def city(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[MiniCity]:
    """The mini city (persons_city.py) served by one API process, per module and engine."""
    with served_city(request, tmp_path_factory, request.param) as seeded:
        yield seeded


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The counts of the schemathesis runs (test_api_persons_schemathesis.py), if any ran."""
    lines = terminalreporter.config.stash.get(SCHEMATHESIS_REPORT, [])
    if lines:
        terminalreporter.section("schemathesis")
        for line in lines:
            terminalreporter.write_line(line)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On PostgreSQL the BOLA matrix runs the cells where the site scope decides the answer
    (Cell.runs_on); the others, which depend only on role or channel, run on SQLite. They
    are deselected on PostgreSQL rather than skipped, so a skip always means a real gap."""
    dropped: list[pytest.Item] = []
    kept: list[pytest.Item] = []
    for item in items:
        callspec = getattr(item, "callspec", None)
        cell = callspec.params.get("cell") if callspec is not None else None
        engine = callspec.params.get("city") if callspec is not None else None
        if cell is not None and engine == "postgresql" and not cell.runs_on("postgresql"):
            dropped.append(item)
        else:
            kept.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept
