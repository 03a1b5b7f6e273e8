"""The bearer lookup's database work: the token's caller, the rate-limit count, the card session.

:func:`api.security.authenticate` needs three things from the database on every
authenticated request: the token with its operator or device, one more hit on the
caller's rate counter, and (when the request names one in ``X-Card-Session``) the
card session. On PostgreSQL they are ONE statement (:func:`lookup`): the token row
in a CTE, the counter's ``INSERT … ON CONFLICT DO UPDATE … RETURNING`` in a
data-modifying CTE that counts only a token that is valid now (not revoked, not
expired, its operator or device active), and the card session joined to the
result. One round trip instead of three, and the statement is built once per
process (SQLAlchemy caches its compiled form; psycopg prepares it).

SQLite runs the same steps as separate statements (they cost no round trip there,
and SQLite has no data-modifying CTEs).

The checks themselves (revoked, expired, disabled, over the limit, whose session)
stay in Python, in :mod:`api.security` and :mod:`api.presence_lookup`: this module
only fetches.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import (
    Select,
    String,
    Table,
    and_,
    bindparam,
    case,
    cast,
    delete,
    false,
    func,
    select,
    true,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from api import ratelimit
from cardsvc.db.driver_statements import DriverStatement
from cardsvc.db.models import ApiToken, Card, CardSession, Device, Operator, Person, RateCounter
from cardsvc.services.person_records import (
    CARD_COLUMNS,
    NOT_ASKED,
    PERSON_COLUMNS,
    NotAsked,
    PersonRecord,
)


@dataclass(frozen=True, slots=True)
class TokenRow:
    """The token and its caller, as stored (the caller's columns are None for the other kind)."""

    token_id: int
    expires_at: datetime
    revoked_at: datetime | None
    operator_id: int | None
    username: str | None
    operator_site: str | None
    roles: Any
    operator_active: bool | None
    device_id: int | None
    device_site: str | None
    kind: Any
    device_active: bool | None

    def valid_at(self, now: datetime) -> bool:
        """Whether this token may be counted: not revoked, not expired, its caller active."""
        if self.revoked_at is not None or self.expires_at <= now:
            return False
        if self.operator_id is not None:
            return bool(self.operator_active)
        return bool(self.device_active)

    @property
    def subject(self) -> str:
        """The rate-limit subject (api.security.actor_scope of the caller)."""
        if self.operator_id is not None:
            return f"operator:{self.operator_id}"
        return f"device:{self.device_id}"


PresenceRow = tuple[Any, ...]
"""The card session's columns in :data:`PRESENCE_COLUMNS` order (api.presence_lookup reads it)."""


@dataclass(frozen=True, slots=True)
class Lookup:
    """What one request's bearer lookup found."""

    token: TokenRow | None
    """None: no token with this hash."""
    hits: int | None
    """The caller's count in the current window after this request (None: not counted)."""
    window_start: datetime
    presence: PresenceRow | None
    """The named card session (None: none asked for, or none with that id)."""
    person: PersonRecord | NotAsked | None = NOT_ASKED
    """The person named by ``person_ssn`` (None: no such person), when it was read ahead."""


def _token_columns() -> tuple[Any, ...]:
    return (
        ApiToken.id.label("token_id"),
        ApiToken.expires_at,
        ApiToken.revoked_at,
        Operator.id.label("operator_id"),
        Operator.username,
        Operator.site_code.label("operator_site"),
        Operator.roles,
        Operator.active.label("operator_active"),
        Device.id.label("device_id"),
        Device.site_code.label("device_site"),
        Device.kind,
        Device.active.label("device_active"),
    )


def _token_select() -> Select[Any]:
    return (
        select(*_token_columns())
        .outerjoin(Operator, Operator.id == ApiToken.operator_id)
        .outerjoin(Device, Device.id == ApiToken.device_id)
        .where(ApiToken.token_hash == bindparam("token_hash"))
    )


def presence_columns() -> tuple[Any, ...]:
    """The card session's columns, the card's and the holder's ID numbers, then the card's
    :class:`~cardsvc.services.person_records.CardFacts` and the holder's
    :class:`~cardsvc.services.person_records.PersonRecord` columns (NULL without a card)."""
    return (
        CardSession.operator_id.label("session_operator_id"),
        CardSession.device_id.label("session_device_id"),
        CardSession.ended_at,
        CardSession.expires_at.label("session_expires_at"),
        CardSession.card_number,
        CardSession.person_id,
        CardSession.pin_verified,
        Card.ssn.label("card_ssn"),
        Person.ssn.label("holder_ssn"),
        # the card and its holder as the enquiries read them (cardsvc.services.person_records)
        *(Card.__table__.c[name].label(f"read_card_{name}") for name in CARD_COLUMNS),
        *(Person.__table__.c[name].label(f"read_holder_{name}") for name in PERSON_COLUMNS),
    )


def presence_select() -> Select[Any]:
    """The card session ``:session_id`` with its card's and holder's ID numbers."""
    return (
        select(*presence_columns())
        .outerjoin(
            Card,
            and_(
                Card.card_number == CardSession.card_number,
                Card.person_id == CardSession.person_id,
            ),
        )
        .outerjoin(Person, Person.id == CardSession.person_id)
        .where(CardSession.id == bindparam("session_id"))
    )


def named_person_select() -> Select[Any]:
    """The person with SSN ``:person_ssn`` as an enquiry reads them (NULLs: no such person)."""
    persons = typing.cast(Table, Person.__table__)
    return select(*(persons.c[name].label(f"named_{name}") for name in PERSON_COLUMNS)).where(
        persons.c.ssn == bindparam("person_ssn")
    )


@cache
def _postgresql_statement(with_presence: bool, with_person: bool = False) -> Select[Any]:
    """The one statement: caller, counted hit, and (optionally) the card session or the
    person the request names by SSN (read ahead for an enquiry: one round trip fewer)."""
    caller = _token_select().cte("caller")
    subject = case(
        (caller.c.operator_id.is_not(None), "operator:" + cast(caller.c.operator_id, String)),
        else_="device:" + cast(caller.c.device_id, String),
    )
    active = case(
        (caller.c.operator_id.is_not(None), caller.c.operator_active),
        else_=func.coalesce(caller.c.device_active, false()),
    )
    counters = typing.cast(Table, RateCounter.__table__)
    counted = (
        postgresql.insert(counters)
        .from_select(
            ["subject", "window_start", "count"],
            select(subject, bindparam("window_start", type_=counters.c.window_start.type), 1)
            .select_from(caller)
            .where(
                caller.c.revoked_at.is_(None),
                caller.c.expires_at > bindparam("now", type_=ApiToken.expires_at.type),
                active,
            ),
        )
        .on_conflict_do_update(
            index_elements=[counters.c.subject, counters.c.window_start],
            set_={"count": counters.c.count + 1},
        )
        .returning(counters.c.count)
        .cte("counted")
    )
    hits = select(counted.c.count).scalar_subquery().label("hits")
    columns = [*caller.c, hits]
    if with_person:
        person = named_person_select().subquery("named_person")
        return select(*columns, *person.c).select_from(caller.outerjoin(person, true()))
    if not with_presence:
        return select(*columns).select_from(caller)
    presence = presence_select().subquery("presence")
    return select(*columns, *presence.c).select_from(caller.outerjoin(presence, true()))


@cache
def _postgresql_lookup(with_presence: bool, with_person: bool) -> DriverStatement:
    """:func:`_postgresql_statement`, run on the driver's cursor (cardsvc.db.driver_statements)."""
    return DriverStatement(_postgresql_statement(with_presence, with_person))


def lookup(
    session: Session,
    token_hash: str,
    *,
    now: datetime,
    window_s: int,
    session_id: str | None,
    person_ssn: str | None = None,
) -> Lookup:
    """Fetch the token's caller, count the hit (valid tokens only), fetch the card session.

    `person_ssn` (an enquiry's path SSN): on PostgreSQL, and when no card session is
    named, the person with that SSN is read in the same statement (``Lookup.person``) for
    the enquiry to use instead of reading it again. It is only read, never shown here:
    the enquiry applies its own checks (the caller's scope) to it.
    """
    start = ratelimit.window_start(now, window_s)
    if session.get_bind().dialect.name == "postgresql":
        ahead = person_ssn if session_id is None else None
        return _lookup_postgresql(
            session, token_hash, now, start, session_id=session_id, person_ssn=ahead
        )
    return _lookup_in_steps(
        session, token_hash, now=now, start=start, window_s=window_s, session_id=session_id
    )


def _lookup_postgresql(
    session: Session,
    token_hash: str,
    now: datetime,
    start: datetime,
    *,
    session_id: str | None,
    person_ssn: str | None,
) -> Lookup:
    params: dict[str, Any] = {"token_hash": token_hash, "now": now, "window_start": start}
    if session_id is not None:
        params["session_id"] = session_id
    if person_ssn is not None:
        params["person_ssn"] = person_ssn
    # On the driver's cursor: SQLAlchemy's execute costs more Python than the statement.
    statement = _postgresql_lookup(session_id is not None, person_ssn is not None)
    values = statement.one_or_none(session.connection(), params)
    if values is None:
        return Lookup(None, None, start, None)
    token = TokenRow(*values[:12])
    hits = values[12]
    if hits == 1:  # the first hit of a new window: drop the caller's older windows
        _forget_older(session, token.subject, start)
    presence: PresenceRow | None = None
    # A session row always has an owner (CHECK one_actor): both owner columns NULL means
    # the outer join found no session with that id.
    if session_id is not None and (values[13] is not None or values[14] is not None):
        presence = values[13:]
    person: PersonRecord | NotAsked | None = NOT_ASKED
    if person_ssn is not None:  # the person's id is NULL when no one has that SSN
        person = PersonRecord(*values[13:]) if values[13] is not None else None
    return Lookup(token, hits, start, presence, person)


def _lookup_in_steps(
    session: Session,
    token_hash: str,
    *,
    now: datetime,
    start: datetime,
    window_s: int,
    session_id: str | None,
) -> Lookup:
    row = session.execute(_token_select(), {"token_hash": token_hash}).one_or_none()
    if row is None:
        return Lookup(None, None, start, None)
    token = TokenRow(*tuple(row))
    hits: int | None = None
    if token.valid_at(now):
        hits = ratelimit.hit(session, token.subject, now=now, window_s=window_s).count
    presence: PresenceRow | None = None
    if session_id is not None:
        found = session.execute(presence_select(), {"session_id": session_id}).one_or_none()
        presence = tuple(found) if found is not None else None
    return Lookup(token, hits, start, presence)


def _forget_older(session: Session, subject: str, start: datetime) -> None:
    session.execute(
        delete(RateCounter).where(RateCounter.subject == subject, RateCounter.window_start < start)
    )
