"""Fixtures of the station tests: the REAL served API (SQLite; the engine is the client
and e2e tests' concern) and the station on the in-process backend or the real PC/SC stack."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from station_helpers import TerminalApi


@pytest.fixture(scope="session")
def terminal_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TerminalApi]:
    tmp = tmp_path_factory.mktemp("station-api")
    api = TerminalApi.start("sqlite", f"sqlite:///{tmp / 'station.db'}", tmp / "servers")
    try:
        yield api
    finally:
        api.close()
