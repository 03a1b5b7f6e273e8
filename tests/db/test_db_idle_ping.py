"""cardsvc.db.idle_ping on PostgreSQL: a pooled connection is pinged only after it sat idle,
and a dead one is replaced at check-out instead of failing the work that gets it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, text

from cardsvc.db import idle_ping
from cardsvc.db.engine import make_engine


@pytest.fixture
def engine(pg_database_url: str) -> Iterator[Engine]:
    eng = make_engine(pg_database_url)
    try:
        yield eng
    finally:
        eng.dispose()


@pytest.fixture
def pings(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The number of pings so far, as a one-element list (the dialect's do_ping counted)."""
    count = [0]
    real = engine.dialect.do_ping

    def counted(dbapi_connection: Any) -> bool:
        count[0] += 1
        return real(dbapi_connection)

    monkeypatch.setattr(engine.dialect, "do_ping", counted)
    return count


def _backend_pid(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())


def _age_the_pool(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every pooled connection looks idle for longer than the window from now on."""
    real = idle_ping.time.monotonic
    monkeypatch.setattr(
        idle_ping.time, "monotonic", lambda: real() + idle_ping.PING_AFTER_IDLE_S + 1
    )


def test_a_connection_in_use_is_not_pinged(engine: Engine, pings: list[int]) -> None:
    first = _backend_pid(engine)  # a new connection: alive, not pinged
    for _ in range(5):
        assert _backend_pid(engine) == first  # given back a moment ago: used as it is
    assert pings == [0]


def test_an_idle_connection_is_pinged_before_use(
    engine: Engine, pings: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _backend_pid(engine)
    _age_the_pool(monkeypatch)
    assert _backend_pid(engine) == first
    assert pings == [1]


def test_a_dead_idle_connection_is_replaced_at_check_out(
    engine: Engine, pg_database_url: str, pings: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _backend_pid(engine)
    other = make_engine(pg_database_url)
    try:
        with other.connect() as conn:  # what a server restart or an idle timeout does
            assert conn.execute(text(f"SELECT pg_terminate_backend({first})")).scalar_one()
    finally:
        other.dispose()
    _age_the_pool(monkeypatch)
    replacement = _backend_pid(engine)  # no error: the ping failed, another connection
    assert replacement != first
    assert pings[0] >= 1
