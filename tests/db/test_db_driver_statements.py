"""cardsvc.db.driver_statements: a Core statement run on the driver's cursor answers as
SQLAlchemy's execute would (types processed both ways), counts as a statement, and fails
as SQLAlchemy's own path fails."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, Table, bindparam, event, insert, literal, select, text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from cardsvc.db import DatabaseError
from cardsvc.db.driver_statements import DriverStatement
from cardsvc.db.models import Card, CardState, Person, Sex

AddPerson = Callable[..., Person]  # the conftest's add_person and add_card fixtures
AddCard = Callable[..., Card]
CARDS: Table = Card.__table__  # type: ignore[assignment]
PERSONS: Table = Person.__table__  # type: ignore[assignment]

BY_NUMBER = DriverStatement(
    select(CARDS.c.card_number, CARDS.c.state, CARDS.c.state_changed_at, literal("fixed"))
    .where(CARDS.c.card_number == bindparam("card_number"))
    .where(CARDS.c.state == bindparam("state", type_=CARDS.c.state.type))
)


def _seeded(
    session_factory: sessionmaker[Session], add_person: AddPerson, add_card: AddCard
) -> None:
    with session_factory() as session:
        person = add_person(session)
        add_card(session, person)
        session.commit()


def test_rows_are_what_sqlalchemy_returns(
    session_factory: sessionmaker[Session], add_person: AddPerson, add_card: AddCard
) -> None:
    _seeded(session_factory, add_person, add_card)
    params = {"card_number": "A00000011", "state": CardState.ISSUED}
    with session_factory() as session:
        connection = session.connection()
        expected = [tuple(row) for row in connection.execute(BY_NUMBER.statement, params)]
        rows = BY_NUMBER.rows(connection, params)
    assert rows == expected
    (number, state, changed_at, constant) = rows[0]
    assert (number, constant) == ("A00000011", "fixed")
    assert state is CardState.ISSUED  # the Enum type's result processor ran
    assert isinstance(changed_at, datetime)
    assert changed_at.tzinfo is not None  # the UtcDateTime decorator's processor ran
    with session_factory() as session:
        assert BY_NUMBER.one_or_none(session.connection(), params) == expected[0]


def test_no_row_and_a_statement_without_rows(
    session_factory: sessionmaker[Session], add_person: AddPerson, add_card: AddCard
) -> None:
    _seeded(session_factory, add_person, add_card)
    with session_factory() as session:
        connection = session.connection()
        assert BY_NUMBER.one_or_none(connection, {"card_number": "X", "state": "active"}) is None
        statement = DriverStatement(
            PERSONS.update().where(PERSONS.c.ssn == bindparam("old")).values(name=bindparam("n"))
        )
        assert statement.rows(connection, {"old": "370402199001011238", "n": "李四"}) == []
        session.commit()
    with session_factory() as session:
        assert session.execute(select(Person.name)).scalar_one() == "李四"


def test_more_than_one_row_is_refused(
    session_factory: sessionmaker[Session], add_person: AddPerson
) -> None:
    with session_factory() as session:
        add_person(session, ssn="370402199001011238")
        add_person(session, ssn="11010519491231002X")
        session.commit()
        every = DriverStatement(select(PERSONS.c.id).where(PERSONS.c.sex == bindparam("sex")))
        assert len(every.rows(session.connection(), {"sex": Sex.MALE})) == 2
        with pytest.raises(DatabaseError, match="at most one row, got 2"):
            every.one_or_none(session.connection(), {"sex": Sex.MALE})


def test_parameters_must_match_the_statement(
    session_factory: sessionmaker[Session], migrated_engine: Engine
) -> None:
    with session_factory() as session:
        connection = session.connection()
        if connection.dialect.name != "postgresql":
            pytest.skip("SQLite runs the statement through SQLAlchemy, which names its own")
        with pytest.raises(DatabaseError, match=r"missing \['state'\], unexpected \['stat'\]"):
            BY_NUMBER.rows(connection, {"card_number": "A00000011", "stat": "active"})


def test_a_statement_is_counted_by_cursor_events(
    migrated_engine: Engine, session_factory: sessionmaker[Session]
) -> None:
    seen: list[tuple[str, str]] = []

    def before(_c: Any, _cur: Any, statement: str, *_: Any) -> None:
        seen.append(("before", statement))

    def after(_c: Any, _cur: Any, statement: str, *_: Any) -> None:
        seen.append(("after", statement))

    event.listen(migrated_engine, "before_cursor_execute", before)
    event.listen(migrated_engine, "after_cursor_execute", after)
    try:
        with session_factory() as session:
            BY_NUMBER.rows(session.connection(), {"card_number": "A", "state": "active"})
    finally:
        event.remove(migrated_engine, "before_cursor_execute", before)
        event.remove(migrated_engine, "after_cursor_execute", after)
    # (SQLite's session may run its own statements first)
    assert [kind for kind, statement in seen if "FROM cards" in statement] == ["before", "after"]


def test_a_driver_error_is_sqlalchemys_and_hides_the_parameters(
    session_factory: sessionmaker[Session], add_person: AddPerson
) -> None:
    with session_factory() as session:
        add_person(session, ssn="370402199001011238")
        session.commit()
    values = {
        "ssn": "370402199001011238",  # taken: the unique constraint refuses it
        "name": "SECRET-NAME",
        "sex": Sex.FEMALE,
        "nationality": "01",
        "birth_date": datetime(1990, 1, 1, tzinfo=UTC).date(),
        "residence_site_code": "370402",
        "employment_status": "employed",
    }
    statement = DriverStatement(insert(PERSONS).values({name: bindparam(name) for name in values}))
    with session_factory() as session, pytest.raises(IntegrityError) as caught:
        statement.rows(session.connection(), values)
    assert "uq_persons_ssn" in str(caught.value) or "UNIQUE" in str(caught.value)
    if session_factory.kw["bind"].dialect.name == "postgresql":  # the driver's own path
        assert "SQL parameters hidden" in str(caught.value)


def test_a_lost_connection_is_invalidated(pg_engine: Engine) -> None:
    """PostgreSQL: a killed backend is an OperationalError, and the pool replaces it."""
    factory = sessionmaker(bind=pg_engine)
    with factory() as session:
        connection = session.connection()
        pid = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
        with pg_engine.connect() as other:
            other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        with pytest.raises(OperationalError) as caught:
            BY_NUMBER.rows(connection, {"card_number": "A", "state": "active"})
        assert caught.value.connection_invalidated
    with pg_engine.connect() as fresh:
        assert fresh.execute(text("SELECT pg_backend_pid()")).scalar_one() != pid
    with factory() as session:  # the replacement connection gets a cursor of its own
        assert BY_NUMBER.rows(session.connection(), {"card_number": "A", "state": "active"}) == []


def test_statements_share_a_cursor_per_connection(pg_engine: Engine) -> None:
    seen: list[Any] = []
    event.listen(pg_engine, "before_cursor_execute", lambda _c, cursor, *_: seen.append(cursor))
    factory = sessionmaker(bind=pg_engine)
    for _ in range(3):
        with factory() as session:  # the pool hands back the same connection each time
            BY_NUMBER.rows(session.connection(), {"card_number": "A", "state": "active"})
    assert len(seen) == 3
    assert seen[0] is seen[1] is seen[2]
    assert not seen[0].closed
