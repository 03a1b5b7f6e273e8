"""Who is calling: the ``Authorization: Bearer`` dependency and the actors it yields.

:func:`authenticate` looks the token up (by its hash) together with its operator
or device, refuses a missing, malformed, unknown, expired or revoked token, a
disabled operator or device (401 problems with ``WWW-Authenticate: Bearer``),
counts the request against the caller's rate limit (429) and yields a
:class:`Principal` carrying the services' actor
(:class:`~cardsvc.services.actors.OperatorActor` or
:class:`~cardsvc.services.actors.DeviceActor`). The actor is rebuilt from the
database on every request, so role changes and deactivations apply at once.

Route modules use the aliases in :mod:`api.deps` (``PrincipalDep``, ``ActorDep``,
``OperatorDep``, ``DeviceDep``) rather than these functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import select

from api import ratelimit, tokens
from api.context import ApiContext, get_context
from api.errors import Forbidden, InvalidToken, Unauthenticated
from api.presence_lookup import early_presence
from cardsvc.db.models import ApiToken, Device, Operator
from cardsvc.services.actors import Actor, DeviceActor, OperatorActor

BEARER = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    description="A token from POST /v1/auth/login (operators) or /v1/auth/device-login "
    "(kiosks and counter terminals): `Authorization: Bearer <token>`.",
)


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller of this request."""

    actor: Actor
    token_id: int
    expires_at: datetime

    @property
    def scope(self) -> str:
        """``operator:<id>`` or ``device:<id>``: the namespace of the caller's state."""
        return actor_scope(self.actor)


def actor_scope(actor: Actor) -> str:
    if isinstance(actor, OperatorActor):
        return f"operator:{actor.operator_id}"
    return f"device:{actor.device_id}"


def authenticate(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)],
    context: Annotated[ApiContext, Depends(get_context)],
) -> Principal:
    """The caller of this request, rate limit counted; raises a 401 or 429 problem."""
    if credentials is None:
        if request.headers.get("authorization"):
            raise InvalidToken("the Authorization header must read: Bearer <token>")
        raise Unauthenticated()
    token = credentials.credentials
    if not tokens.plausible(token):
        raise InvalidToken()
    now = context.now()
    settings = context.settings
    with context.single_statements(writes=True) as session:
        # Columns, not entities: one row, no ORM identity bookkeeping per request.
        row = session.execute(
            select(
                ApiToken.id,
                ApiToken.expires_at,
                ApiToken.revoked_at,
                Operator.id,
                Operator.username,
                Operator.site_code,
                Operator.roles,
                Operator.active,
                Device.id,
                Device.site_code,
                Device.kind,
                Device.active,
            )
            .outerjoin(Operator, Operator.id == ApiToken.operator_id)
            .outerjoin(Device, Device.id == ApiToken.device_id)
            .where(ApiToken.token_hash == tokens.digest(token))
        ).one_or_none()
        if row is None:
            raise InvalidToken()
        values: tuple[Any, ...] = tuple(row)  # outer joins: the actor columns may be NULL
        (token_id, expires_at, revoked_at, operator_id, username, operator_site, roles,
         operator_active, device_id, device_site, kind, device_active) = values  # fmt: skip
        if revoked_at is not None:
            raise InvalidToken("the token was revoked (signed out): sign in again")
        if expires_at <= now:
            raise InvalidToken("the token has expired: sign in again")
        actor: Actor
        if operator_id is not None:
            if not operator_active:
                raise InvalidToken("the operator account is disabled")
            actor = OperatorActor(
                operator_id=operator_id, username=username, site_code=operator_site, roles=roles
            )
            limit, who = settings.rate_limit_operator, f"operator {username}"
        else:
            if device_id is None:  # the one_actor CHECK constraint forbids it
                raise InvalidToken()
            if not device_active:
                raise InvalidToken("the device is disabled")
            actor = DeviceActor(device_id=device_id, site_code=device_site, kind=kind)
            limit, who = settings.rate_limit_device, f"device {device_id}"
        counted = ratelimit.hit(
            session, actor_scope(actor), now=now, window_s=settings.rate_window_s
        )
        # The card session of the request, if any, on this connection and in this thread
        # (api.card_presence raises or returns what this finds).
        early_presence(request, session, now, actor)
    ratelimit.enforce(counted, limit, now, who)
    return Principal(actor=actor, token_id=token_id, expires_at=expires_at)


async def current_actor(principal: Annotated[Principal, Depends(authenticate)]) -> Actor:
    return principal.actor


async def current_operator(principal: Annotated[Principal, Depends(authenticate)]) -> OperatorActor:
    if not isinstance(principal.actor, OperatorActor):
        raise Forbidden("this needs an operator's sign-in, not a device's")
    return principal.actor


async def current_device(principal: Annotated[Principal, Depends(authenticate)]) -> DeviceActor:
    if not isinstance(principal.actor, DeviceActor):
        raise Forbidden("this needs a device's sign-in (a kiosk or counter terminal)")
    return principal.actor
