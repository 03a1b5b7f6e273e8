"""Fixtures of the kiosk tests: the counter tests' seeded city and fake station agent
(tests/counter/station_harness.py), one city for the kiosk tests (seeded and served once;
the tests write to it in file order)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "counter"))

from station_harness import City, FakeAgent, served_city


@pytest.fixture(scope="session")
def city(tmp_path_factory: pytest.TempPathFactory) -> Iterator[City]:
    with served_city(tmp_path_factory.mktemp("city")) as seeded:
        yield seeded


@pytest.fixture
def agent(city: City) -> FakeAgent:
    return FakeAgent(city.url)
