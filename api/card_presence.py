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

from fastapi import Depends, Header, Request
from starlette.concurrency import run_in_threadpool

from api.context import ApiContext, get_context
from api.presence_lookup import (
    CARD_SESSION_HEADER,
    EARLY_PRESENCE,
    HEADER_DESCRIPTION,
    SESSION_ID_PATTERN,
    CardSessionRefused,
    ResolvedPresence,
    is_owner,
    keep_early_presence,
    owner_filter,
    read_presence,
    resolve_presence,
)
from api.security import Principal, authenticate
from cardsvc.services.actors import Actor, CardPresence


async def card_presence(
    request: Request,
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
    """The card presence named by ``X-Card-Session`` (None without the header).

    Usually :func:`api.security.authenticate` has looked the session up already, on its
    own statement (:func:`keep_early_presence`): its answer is used. ``async``:
    FastAPI hands a plain ``def`` dependency to its thread pool even when it has
    nothing to do; a lookup still needed runs in the thread pool.
    """
    if session_id is None:
        return None
    kept = kept_presence(request, session_id, principal.actor)
    if kept is not None:
        return kept
    return await run_in_threadpool(resolve_presence, context, principal.actor, session_id)


def presence_now(
    request: Request, principal: Principal, context: ApiContext, session_id: str | None
) -> CardPresence | None:
    """:func:`card_presence` for code already in a worker thread (it may block)."""
    if session_id is None:
        return None
    kept = kept_presence(request, session_id, principal.actor)
    if kept is not None:
        return kept
    return resolve_presence(context, principal.actor, session_id)


def kept_presence(request: Request, session_id: str, actor: Actor) -> ResolvedPresence | None:
    """What the bearer lookup found for `session_id` (raised if refused); None: not looked up."""
    early = getattr(request.state, EARLY_PRESENCE, None)
    if early is None or early[0] != session_id or early[1] != actor:
        return None
    found: ResolvedPresence | CardSessionRefused = early[2]
    if isinstance(found, CardSessionRefused):
        raise found
    return found


CardPresenceDep = Annotated[CardPresence | None, Depends(card_presence)]
"""``presence: CardPresenceDep`` — the verified card in the caller's reader, or None."""

__all__ = [
    "CARD_SESSION_HEADER",
    "HEADER_DESCRIPTION",
    "SESSION_ID_PATTERN",
    "CardPresenceDep",
    "CardSessionRefused",
    "ResolvedPresence",
    "card_presence",
    "is_owner",
    "keep_early_presence",
    "kept_presence",
    "owner_filter",
    "presence_now",
    "read_presence",
    "resolve_presence",
]
