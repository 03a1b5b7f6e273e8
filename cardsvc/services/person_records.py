"""The person an enquiry is about, read as plain values (no ORM entity).

Enquiries (E01-E05, run_read) only read the person: who they are, where they live,
their employment status. Loading an ORM ``Person`` for that cost twice the CPU of
the statement itself (identity map, instance state, attribute events); here the
same columns come back on the driver's cursor (cardsvc.db.driver_statements) as a
frozen :class:`PersonRecord`. Writes keep loading ORM entities (``Call.person``):
they change them.

:class:`PersonFacts` is what the shared helpers (the person summary, the scope
check) read, so they take a record or an ORM ``Person`` alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum
from functools import cache
from typing import Protocol, cast

from sqlalchemy import Connection, Table, bindparam, select

from cardsvc.db.driver_statements import DriverStatement
from cardsvc.db.models import Card, CardState, EmploymentStatus, Person, Sex


class PersonFacts(Protocol):
    """The person's values every item may read (an ORM ``Person`` has them too)."""

    @property
    def id(self) -> int: ...
    @property
    def ssn(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def sex(self) -> Sex: ...
    @property
    def birth_date(self) -> date: ...
    @property
    def residence_site_code(self) -> str: ...
    @property
    def employment_status(self) -> EmploymentStatus: ...
    @property
    def phone(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class PersonRecord:
    """The person's :class:`PersonFacts`, as read for an enquiry."""

    id: int
    ssn: str
    name: str
    sex: Sex
    birth_date: date
    residence_site_code: str
    employment_status: EmploymentStatus
    phone: str | None


@dataclass(frozen=True, slots=True)
class CardFacts:
    """What an enquiry checks of a presented card: whose it is and its state."""

    card_number: str
    person_id: int
    state: CardState
    state_changed_at: datetime


class NotAsked(Enum):
    """The marker of a person that was not read ahead (None means: read, no such person)."""

    NOT_ASKED = "not asked"


NOT_ASKED = NotAsked.NOT_ASKED

CardAndHolder = tuple[CardFacts, PersonRecord]
"""A card and its holder, read together."""

PERSON_COLUMNS: tuple[str, ...] = PersonRecord.__slots__
"""The persons table's columns of a :class:`PersonRecord`, in its fields' order."""
CARD_COLUMNS: tuple[str, ...] = CardFacts.__slots__
"""The cards table's columns of a :class:`CardFacts`, in its fields' order."""

_PERSONS = cast(Table, Person.__table__)
_CARDS = cast(Table, Card.__table__)
_PERSON_COLUMNS = tuple(_PERSONS.c[name] for name in PERSON_COLUMNS)
_CARD_COLUMNS = tuple(_CARDS.c[name] for name in CARD_COLUMNS)


@cache
def _by_ssn() -> DriverStatement:
    return DriverStatement(select(*_PERSON_COLUMNS).where(_PERSONS.c.ssn == bindparam("ssn")))


@cache
def _card_and_holder() -> DriverStatement:
    return DriverStatement(
        select(*_CARD_COLUMNS, *_PERSON_COLUMNS)
        .select_from(_CARDS.join(_PERSONS, _PERSONS.c.id == _CARDS.c.person_id))
        .where(_CARDS.c.card_number == bindparam("card_number"))
    )


def person_by_ssn(connection: Connection, ssn: str) -> PersonRecord | None:
    """The person with this SSN, or None."""
    row = _by_ssn().one_or_none(connection, {"ssn": ssn})
    return None if row is None else PersonRecord(*row)


def card_and_holder(connection: Connection, card_number: str) -> CardAndHolder | None:
    """The card with this number and its holder, in one statement; None if no such card."""
    row = _card_and_holder().one_or_none(connection, {"card_number": card_number})
    if row is None:
        return None
    split = len(_CARD_COLUMNS)
    return CardFacts(*row[:split]), PersonRecord(*row[split:])
