"""Fixtures for the persistence tests, on the suite's database fixtures (tests/db_fixtures.py:
`database_url` gives an empty SQLite and an empty PostgreSQL database)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

from cardsvc.db import migrate
from cardsvc.db.engine import make_engine
from cardsvc.db.models import (
    Card,
    CardState,
    EmploymentStatus,
    Person,
    Sex,
    Site,
    SiteLevel,
)
from cardsvc.db.uow import make_session_factory

SQLITE_TRIGGERS = (
    "journal_entries_no_update",
    "journal_entries_no_delete",
    "journal_entries_append_at_head",
    "journal_head_advance",
    "journal_head_no_delete",
)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    eng = make_engine(database_url, busy_timeout_s=10)
    try:
        yield eng
    finally:
        eng.dispose()


@pytest.fixture
def migrated_engine(engine: Engine) -> Engine:
    migrate.upgrade(engine)
    return engine


@pytest.fixture
def pg_engine(pg_database_url: str) -> Iterator[Engine]:
    eng = make_engine(pg_database_url, busy_timeout_s=10)
    migrate.upgrade(eng)
    try:
        yield eng
    finally:
        eng.dispose()


@pytest.fixture
def session_factory(migrated_engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(migrated_engine)


@contextlib.contextmanager
def _journal_guards_off(engine: Engine) -> Iterator[Connection]:
    """A connection on which the journal triggers do not fire (what a superuser can do).

    PostgreSQL: SET LOCAL session_replication_role = replica (superuser only).
    SQLite: the triggers are dropped (anyone with the file can).
    """
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
        else:
            for trigger in SQLITE_TRIGGERS:
                conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {trigger}")
        yield conn
        conn.commit()


SITE_CODE = "370402"
NOW = datetime(2025, 3, 1, 8, 30, 0, 123456, tzinfo=UTC)


def _add_person(session: Session, ssn: str = "370402199001011238", name: str = "张三") -> Person:
    """A city site and a person living there (flushed, not committed)."""
    if session.get(Site, SITE_CODE) is None:
        session.add(Site(code=SITE_CODE, level=SiteLevel.DISTRICT, name="市中区"))
        session.flush()  # no relationship orders the inserts: the site must exist first
    person = Person(
        ssn=ssn,
        name=name,
        sex=Sex.MALE,
        nationality="01",
        birth_date=date(1990, 1, 1),
        residence_site_code=SITE_CODE,
        employment_status=EmploymentStatus.EMPLOYED,
    )
    session.add(person)
    session.flush()
    return person


def _add_card(session: Session, person: Person, card_number: str = "A00000011") -> Card:
    card = Card(
        card_number=card_number,
        card_id_code="370402D1560000051A2B3C4D00000001",
        person_id=person.id,
        ssn=person.ssn,
        generation=2,
        issued_on=date(2024, 1, 1),
        expires_on=date(2034, 1, 1),
        state=CardState.ISSUED,
        state_changed_at=NOW,
    )
    session.add(card)
    session.flush()
    return card


GuardsOff = Callable[[Engine], contextlib.AbstractContextManager[Connection]]
AddPerson = Callable[..., Person]
AddCard = Callable[..., Card]


@pytest.fixture
def guards_off() -> GuardsOff:
    """`with guards_off(engine) as conn:` a connection that can tamper with the journal."""
    return _journal_guards_off


@pytest.fixture
def add_person() -> AddPerson:
    """`add_person(session, ssn=..., name=...)`: a site and a person (flushed)."""
    return _add_person


@pytest.fixture
def add_card() -> AddCard:
    """`add_card(session, person, card_number=...)`: an issued card (flushed)."""
    return _add_card
