"""Looking up the card session an ``X-Card-Session`` header names (api.card_presence uses it).

Kept apart from the dependency so that :func:`api.security.authenticate` can use it
(:func:`keep_early_presence`: the bearer lookup fetches the session in its own
statement, api.caller_lookup) without an import cycle.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from fastapi import Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.caller_lookup import PresenceRow, presence_select
from api.context import ApiContext
from api.errors import ApiError
from api.problem_types import ProblemType
from cardsvc.db.models import Card, CardChallenge, CardSession, Person
from cardsvc.services.actors import Actor, CardPresence, DeviceActor, OperatorActor, Subject
from cardsvc.services.person_records import CARD_COLUMNS, CardAndHolder, CardFacts, PersonRecord

CARD_SESSION_HEADER = "X-Card-Session"
SESSION_ID_PATTERN = r"^[0-9a-f]{32}$"
_SESSION_ID = re.compile(SESSION_ID_PATTERN)
EARLY_PRESENCE = "cardsvc_early_presence"
"""The ``request.state`` attribute :func:`keep_early_presence` leaves its result in."""
HEADER_DESCRIPTION = (
    "The `session_id` of a card session this caller verified "
    "(POST /v1/card-sessions, then …/proof): the card in the caller's reader. "
    "Kiosks must send it; operators send it to act on the card holder "
    "(also outside their sites)."
)


class CardSessionRefused(ApiError):  # noqa: N818 - named for the problem
    """The ``X-Card-Session`` header names no usable card session of this caller."""

    kind = ProblemType.FORBIDDEN

    def __init__(self, detail: str) -> None:
        super().__init__(detail, field=CARD_SESSION_HEADER)


def owner_filter(actor: Actor) -> dict[str, int | None]:
    """The owner columns of a card session/challenge row for `actor`."""
    if isinstance(actor, OperatorActor):
        return {"operator_id": actor.operator_id, "device_id": None}
    assert isinstance(actor, DeviceActor)
    return {"operator_id": None, "device_id": actor.device_id}


def _owned(operator_id: int | None, device_id: int | None, actor: Actor) -> bool:
    owner = owner_filter(actor)
    return operator_id == owner["operator_id"] and device_id == owner["device_id"]


def is_owner(row: CardSession | CardChallenge, actor: Actor) -> bool:
    """Whether `row` belongs to `actor` (sessions are never shared between callers)."""
    owner = owner_filter(actor)
    return row.operator_id == owner["operator_id"] and row.device_id == owner["device_id"]


@dataclass(frozen=True, slots=True)
class ResolvedPresence(CardPresence):
    """A card presence with the ID numbers it stands for (read with the session)."""

    ssns: frozenset[str] = frozenset()
    """The card's ID number and its holder's current one (the same unless R05 changed it)."""


def resolve_presence(context: ApiContext, actor: Actor, session_id: str) -> ResolvedPresence:
    """The presence of the verified, live card session `session_id` of `actor`.

    One statement: the session row with the card's and the holder's ID numbers.
    """
    with context.database.single_statements(writes=False) as session:
        return read_presence(session, context.now(), actor, session_id)


def read_presence(
    session: Session, now: datetime, actor: Actor, session_id: str
) -> ResolvedPresence:
    """:func:`resolve_presence` on an open `session`."""
    found = session.execute(presence_select(), {"session_id": session_id}).one_or_none()
    return presence_of(tuple(found) if found is not None else None, now, actor)


def presence_of(found: PresenceRow | None, now: datetime, actor: Actor) -> ResolvedPresence:
    """The presence a card session row stands for (api.caller_lookup's columns), or refuse.

    Refuses (:class:`CardSessionRefused`) a missing session, another caller's, an ended
    or an expired one.
    """
    if found is None or not _owned(found[0], found[1], actor):
        raise CardSessionRefused(
            "no verified card session with this id for this caller: present the card "
            "(POST /v1/card-sessions, then /proof)"
        )
    (_op, _dev, ended_at, expires_at, card_number, person_id, pin_verified, card_ssn,
     holder_ssn) = found[:_SESSION_COLUMNS]  # fmt: skip
    if ended_at is not None:
        raise CardSessionRefused("the card session has ended (card out): present the card again")
    if expires_at <= now:
        raise CardSessionRefused("the card session has expired: present the card again")
    ssns = frozenset({card_ssn, holder_ssn}) if card_ssn and holder_ssn else frozenset()
    return ResolvedPresence(
        card_number=card_number,
        person_id=person_id,
        pin_verified=pin_verified,
        read=_card_and_holder(found),
        ssns=ssns,
    )


_SESSION_COLUMNS = 9
"""The card session's own columns at the start of a presence row (api.caller_lookup)."""
_CARD_END = _SESSION_COLUMNS + len(CARD_COLUMNS)


def _card_and_holder(found: PresenceRow) -> CardAndHolder | None:
    """The card and holder read with the session (None: the session's card is not found)."""
    card = found[_SESSION_COLUMNS:_CARD_END]
    if card[0] is None:  # outer join: no card with the session's number and person
        return None
    return CardFacts(*card), PersonRecord(*found[_CARD_END:])


def requested_session_id(request: Request) -> str | None:
    """The ``X-Card-Session`` of `request` when it is well formed (else FastAPI answers 422)."""
    session_id = request.headers.get(CARD_SESSION_HEADER)
    if session_id is None or _SESSION_ID.fullmatch(session_id) is None:
        return None
    return session_id


def keep_early_presence(
    request: Request, session_id: str, found: PresenceRow | None, now: datetime, actor: Actor
) -> None:
    """Leave the presence (or the refusal) `found` by the bearer lookup on ``request.state``.

    :func:`api.security.authenticate` fetches the card session in its own statement
    (api.caller_lookup); :func:`api.card_presence.card_presence` raises or returns what
    this keeps, without another database round trip.
    """
    result: ResolvedPresence | CardSessionRefused
    try:
        result = presence_of(found, now, actor)
    except CardSessionRefused as refused:
        result = refused
    setattr(request.state, EARLY_PRESENCE, (session_id, actor, result))


def subject_for(context: ApiContext, ssn: str, presence: CardPresence | None) -> Subject:
    """The card session when it is for the person `ssn` names, else the SSN itself."""
    if presence is None:
        return ssn
    if isinstance(presence, ResolvedPresence):  # the ID numbers came with the session
        return presence if ssn in presence.ssns else ssn
    with context.database.single_statements(writes=False) as session:
        row = session.execute(
            select(Card.ssn, Person.ssn)
            .join(Person, Person.id == Card.person_id)
            .where(
                Card.card_number == presence.card_number,
                Card.person_id == presence.person_id,
            )
        ).one_or_none()
    if row is not None and ssn in (row[0], row[1]):
        return presence
    return ssn
