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
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api import caller_lookup, ratelimit, tokens
from api.context import ApiContext, get_context
from api.errors import Forbidden, InvalidToken, Unauthenticated
from api.presence_lookup import keep_early_presence, requested_session_id
from cardsvc.services.actors import Actor, DeviceActor, OperatorActor
from cardsvc.services.person_records import NOT_ASKED, PersonRecord

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
    return look_up_caller(request, presented_token(request, credentials), context)


_PERSON_READ = "cardsvc_person_read"


def person_read_with(request: Request) -> dict[str, PersonRecord | None]:
    """The person the bearer lookup read for this request, by SSN (empty: none read)."""
    read: tuple[str, PersonRecord | None] | None = getattr(request.state, _PERSON_READ, None)
    return {} if read is None else {read[0]: read[1]}


def presented_token(request: Request, credentials: HTTPAuthorizationCredentials | None) -> str:
    """The bearer token of a well-formed ``Authorization`` header (no database); else 401."""
    if credentials is None:
        if request.headers.get("authorization"):
            raise InvalidToken("the Authorization header must read: Bearer <token>")
        raise Unauthenticated()
    token = credentials.credentials
    if not tokens.plausible(token):
        raise InvalidToken()
    return token


def look_up_caller(
    request: Request, token: str, context: ApiContext, *, person_ssn: str | None = None
) -> Principal:
    """The database half of :func:`authenticate`: the caller of `token`, counted (401/429).

    `person_ssn`: the person an enquiry names, read in the same statement where it can
    be (api.caller_lookup.lookup) and left on the request for it (:func:`person_read_with`).
    Blocks on the database: call it from a worker thread, not the event loop.
    """
    now = context.now()
    settings = context.settings
    session_id = requested_session_id(request)
    with context.database.single_statements(writes=True) as session:
        found = caller_lookup.lookup(
            session,
            tokens.digest(token),
            now=now,
            window_s=settings.rate_window_s,
            session_id=session_id,
            person_ssn=person_ssn,
        )
    row = found.token
    if row is None:
        raise InvalidToken()
    if row.revoked_at is not None:
        raise InvalidToken("the token was revoked (signed out): sign in again")
    if row.expires_at <= now:
        raise InvalidToken("the token has expired: sign in again")
    actor: Actor
    if row.operator_id is not None:
        if not row.operator_active:
            raise InvalidToken("the operator account is disabled")
        actor = OperatorActor(
            operator_id=row.operator_id,
            username=row.username or "",
            site_code=row.operator_site or "",
            roles=row.roles,
        )
        limit, who = settings.rate_limit_operator, f"operator {row.username}"
    else:
        if row.device_id is None:  # the one_actor CHECK constraint forbids it
            raise InvalidToken()
        if not row.device_active:
            raise InvalidToken("the device is disabled")
        actor = DeviceActor(device_id=row.device_id, site_code=row.device_site or "", kind=row.kind)
        limit, who = settings.rate_limit_device, f"device {row.device_id}"
    if found.hits is None:  # the statement counts exactly the tokens valid above
        raise InvalidToken()
    if session_id is not None:
        # The card session of the request, fetched with the token (api.card_presence
        # raises or returns what this keeps).
        keep_early_presence(request, session_id, found.presence, now, actor)
    if person_ssn is not None and found.person is not NOT_ASKED:
        setattr(request.state, _PERSON_READ, (person_ssn, found.person))
    counted = ratelimit.WindowCount(
        actor_scope(actor), found.hits, found.window_start, settings.rate_window_s
    )
    ratelimit.enforce(counted, limit, now, who)
    return Principal(actor=actor, token_id=row.token_id, expires_at=row.expires_at)


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
