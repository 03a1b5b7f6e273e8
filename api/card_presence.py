"""The card in the caller's reader: ``X-Card-Session`` → :class:`CardPresence` (or None).

Route authors declare ``presence: CardPresenceDep`` and pass it to the services
(``presence=presence``). The header carries the ``session_id`` of a card session
the same caller verified with ``POST /v1/card-sessions/{id}/proof``::

    X-Card-Session: 6f1c0d2a9b8e4f3a8c7d6e5f4a3b2c1d

- no header → ``None`` (an operator acting on a person of their sites by SSN);
- a verified session of THIS caller (the operator or device that verified it),
  not ended (``DELETE /v1/card-sessions/{id}``) and not expired →
  ``CardPresence(card_number, person_id, pin_verified)``;
- anything else (unknown id, another caller's session, not yet verified, ended,
  expired) → 403 ``forbidden`` with ``field: "X-Card-Session"`` and a detail
  saying which; a malformed id → 422 ``invalid-request`` naming the header.

The services decide what a presence allows: a kiosk acts only for the card of
its session, after the PIN, on kiosk items; an operator with a presence may act
on that card's holder even outside the operator's sites.

The signature is stable: ``CardPresenceDep`` resolves to ``CardPresence | None``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header
from sqlalchemy import and_, select

from api.context import ApiContext, get_context
from api.errors import ApiError
from api.problem_types import ProblemType
from api.security import Principal, authenticate
from cardsvc.db.models import Card, CardChallenge, CardSession, Person
from cardsvc.services.actors import Actor, CardPresence, DeviceActor, OperatorActor

CARD_SESSION_HEADER = "X-Card-Session"
SESSION_ID_PATTERN = r"^[0-9a-f]{32}$"
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
    now = context.now()
    with context.single_statements(writes=False) as session:
        found = session.execute(
            select(
                CardSession.operator_id,
                CardSession.device_id,
                CardSession.ended_at,
                CardSession.expires_at,
                CardSession.card_number,
                CardSession.person_id,
                CardSession.pin_verified,
                Card.ssn,
                Person.ssn,
            )
            .outerjoin(
                Card,
                and_(
                    Card.card_number == CardSession.card_number,
                    Card.person_id == CardSession.person_id,
                ),
            )
            .outerjoin(Person, Person.id == CardSession.person_id)
            .where(CardSession.id == session_id)
        ).one_or_none()
    if found is None or not _owned(found[0], found[1], actor):
        raise CardSessionRefused(
            "no verified card session with this id for this caller: present the card "
            "(POST /v1/card-sessions, then /proof)"
        )
    (_op, _dev, ended_at, expires_at, card_number, person_id, pin_verified, card_ssn,
     holder_ssn) = found  # fmt: skip
    if ended_at is not None:
        raise CardSessionRefused("the card session has ended (card out): present the card again")
    if expires_at <= now:
        raise CardSessionRefused("the card session has expired: present the card again")
    ssns = frozenset({card_ssn, holder_ssn}) if card_ssn and holder_ssn else frozenset()
    return ResolvedPresence(
        card_number=card_number, person_id=person_id, pin_verified=pin_verified, ssns=ssns
    )


def card_presence(
    principal: Annotated[Principal, Depends(authenticate)],
    context: Annotated[ApiContext, Depends(get_context)],
    session_id: Annotated[
        str | None,
        Header(
            alias=CARD_SESSION_HEADER,
            pattern=SESSION_ID_PATTERN,
            description=HEADER_DESCRIPTION,
        ),
    ] = None,
) -> CardPresence | None:
    """The card presence named by ``X-Card-Session`` (None without the header)."""
    if session_id is None:
        return None
    return resolve_presence(context, principal.actor, session_id)


CardPresenceDep = Annotated[CardPresence | None, Depends(card_presence)]
"""``presence: CardPresenceDep`` — the verified card in the caller's reader, or None."""

__all__ = [
    "CARD_SESSION_HEADER",
    "CardPresenceDep",
    "CardSessionRefused",
    "ResolvedPresence",
    "card_presence",
    "resolve_presence",
]
