"""Database.single_statements and sharing_statements: autocommit sessions on PostgreSQL,
units of work on SQLite, and one session for the steps of a request when shared."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text

from cardsvc.db import Database
from cardsvc.db.engine import in_autocommit, make_engine
from cardsvc.db.uow import make_session_factory


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    engine = make_engine(database_url)
    db = Database(
        engine=engine,
        session_factory=make_session_factory(engine),
        read_only_session_factory=make_session_factory(engine, read_only=True),
    )
    try:
        yield db
    finally:
        db.dispose()


def _engine_name(database: Database) -> str:
    engine: Engine = database.engine
    return engine.dialect.name


def test_each_block_has_its_own_session_unless_shared(database: Database) -> None:
    with database.single_statements(writes=True) as first:
        first.execute(text("SELECT 1"))
    with database.single_statements(writes=False) as second:
        second.execute(text("SELECT 1"))
    assert first is not second
    with database.sharing_statements():
        with database.single_statements(writes=True) as a:
            a.execute(text("SELECT 1"))
        with database.single_statements(writes=False) as b:
            b.execute(text("SELECT 1"))
        # nested: the outer session stays
        with database.sharing_statements(), database.single_statements(writes=True) as c:
            c.execute(text("SELECT 1"))
    if _engine_name(database) == "postgresql":
        assert a is b is c  # one session, one pooled connection, in autocommit
        assert in_autocommit(a.connection())
    else:
        assert a is not b  # SQLite: each block a unit of work of its own
    with database.single_statements(writes=True) as after:
        after.execute(text("SELECT 1"))
    assert after is not a


def test_a_shared_session_is_per_thread_and_ends_with_the_block(database: Database) -> None:
    seen: dict[str, object] = {}

    def other_thread() -> None:
        with database.single_statements(writes=False) as session:
            seen["other"] = session

    with database.sharing_statements():
        with database.single_statements(writes=False) as mine:
            seen["mine"] = mine
            worker = threading.Thread(target=other_thread)
            worker.start()
            worker.join(10)
        with database.single_statements(writes=False) as again:
            assert (again is mine) == (_engine_name(database) == "postgresql")
    assert seen["other"] is not seen["mine"]
    with database.single_statements(writes=False) as after:
        assert after is not mine
