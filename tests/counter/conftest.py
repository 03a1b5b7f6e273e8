"""Fixtures of the counter tests: a seeded demo city served by the real API (one for the
counter tests: they share it and write to it in file order, each writing test using its
own card or resident), and a fake station agent with a simulated card reader."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from station_harness import City, FakeAgent, served_city


@pytest.fixture(scope="session")
def city(tmp_path_factory: pytest.TempPathFactory) -> Iterator[City]:
    with served_city(tmp_path_factory.mktemp("city")) as seeded:
        yield seeded


@pytest.fixture
def agent(city: City) -> FakeAgent:
    return FakeAgent(city.url)
