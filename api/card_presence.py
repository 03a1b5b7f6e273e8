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

from typing import Annotated

from fastapi import Depends, Header
from sqlalchemy import select

from api.context import ApiContext, get_context
from api.errors import ApiError
from api.problem_types import ProblemType
from api.security import Principal, authenticate
from cardsvc.db.models import CardChallenge, CardSession
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


def is_owner(row: CardSession | CardChallenge, actor: Actor) -> bool:
    """Whether `row` belongs to `actor` (sessions are never shared between callers)."""
    owner = owner_filter(actor)
    return row.operator_id == owner["operator_id"] and row.device_id == owner["device_id"]


def resolve_presence(context: ApiContext, actor: Actor, session_id: str) -> CardPresence:
    """The presence of the verified, live card session `session_id` of `actor`."""
    now = context.now()
    with context.database.read_only_unit_of_work() as uow:
        row = uow.session.execute(
            select(CardSession).where(CardSession.id == session_id)
        ).scalar_one_or_none()
    if row is None or not is_owner(row, actor):
        raise CardSessionRefused(
            "no verified card session with this id for this caller: present the card "
            "(POST /v1/card-sessions, then /proof)"
        )
    if row.ended_at is not None:
        raise CardSessionRefused("the card session has ended (card out): present the card again")
    if row.expires_at <= now:
        raise CardSessionRefused("the card session has expired: present the card again")
    return CardPresence(
        card_number=row.card_number, person_id=row.person_id, pin_verified=row.pin_verified
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
    "card_presence",
    "resolve_presence",
]
