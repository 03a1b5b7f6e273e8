"""Fixtures of the agent tests: the REAL served API (SQLite) and the agent on uvicorn
over a station on the in-process backend (tests/station/station_helpers.py)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

_TESTS = Path(__file__).resolve().parents[1]
if str(_TESTS / "station") not in sys.path:
    sys.path.append(str(_TESTS / "station"))

from station_helpers import TerminalApi  # noqa: E402


@pytest.fixture(scope="session")
def terminal_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TerminalApi]:
    tmp = tmp_path_factory.mktemp("agent-api")
    api = TerminalApi.start("sqlite", f"sqlite:///{tmp / 'agent.db'}", tmp / "servers")
    try:
        yield api
    finally:
        api.close()
