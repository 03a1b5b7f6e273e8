"""The caller of an enquiry, checked in the same worker thread as the enquiry runs.

A route that declares ``ActorDep`` and ``PresenceDep`` (api.deps) has FastAPI run the
bearer lookup (a plain ``def`` dependency) in the thread pool, come back to the event
loop, validate the parameters, and hand the endpoint to the thread pool again: two
hand-offs per request. The enquiries (``GET /v1/persons/{ssn}`` and E01-E05) are the
busiest routes, so they take an :data:`EnquiryCallerDep` instead and make ONE::

    async def get_insurance(*, caller: EnquiryCallerDep, ssn: SsnPath, ...) -> Response:
        def answer(ctx: ServiceContext, actor: Actor, subject: Subject) -> Response:
            ...  # the service call, in the worker thread
        return await caller.run(ssn, answer)

:meth:`EnquiryCaller.run` looks the caller up (api.security.look_up_caller: token,
rate limit, the ``X-Card-Session`` row, and on PostgreSQL the person the path names),
resolves the card session (api.card_presence.presence_now) and whom the enquiry is for
(api.presence_lookup.subject_for), and calls `answer` with the services' context
(holding the person read ahead), in one worker thread and, on PostgreSQL, on one
autocommit session (cardsvc.db.Database.sharing_statements).

What a client sees is the same, in one order changed: a missing or malformed
``Authorization`` header is still a 401 before anything else, but a token the
database refuses (unknown, expired, revoked: 401; over the rate limit: 429) is found
after the parameters were validated, so a request with such a token AND a malformed
parameter gets the 422. The OpenAPI document is unchanged (the bearer scheme and the
``X-Card-Session`` header are declared here).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Annotated, TypeVar

from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials
from starlette.concurrency import run_in_threadpool

from api.card_presence import presence_now
from api.context import ApiContext, get_context
from api.presence_lookup import (
    CARD_SESSION_HEADER,
    HEADER_DESCRIPTION,
    SESSION_ID_PATTERN,
    subject_for,
)
from api.security import BEARER, look_up_caller, person_read_with, presented_token
from cardsvc.services.actors import Actor, Subject
from cardsvc.services.context import ServiceContext

R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class EnquiryCaller:
    """A request's well-formed bearer token and card session id, not yet looked up."""

    request: Request
    token: str
    session_id: str | None
    context: ApiContext

    async def run(self, ssn: str, answer: Callable[[ServiceContext, Actor, Subject], R]) -> R:
        """`answer(ctx, actor, subject)` for the person `ssn` names, after the caller's
        checks, all in one worker thread."""
        return await run_in_threadpool(self._run, ssn, answer)

    def _run(self, ssn: str, answer: Callable[[ServiceContext, Actor, Subject], R]) -> R:
        request, context = self.request, self.context
        with context.database.sharing_statements():  # one session, one check-out
            principal = look_up_caller(request, self.token, context, person_ssn=ssn)
            presence = presence_now(request, principal, context, self.session_id)
            ctx = replace(context.service_context(), known_persons=person_read_with(request))
            return answer(ctx, principal.actor, subject_for(context, ssn, presence))


async def enquiry_caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)],
    context: Annotated[ApiContext, Depends(get_context)],
    session_id: Annotated[
        str | None,
        Header(
            alias=CARD_SESSION_HEADER, pattern=SESSION_ID_PATTERN, description=HEADER_DESCRIPTION
        ),
    ] = None,
) -> EnquiryCaller:
    """The header checks of api.security.authenticate (401 here); the rest is deferred."""
    return EnquiryCaller(request, presented_token(request, credentials), session_id, context)


EnquiryCallerDep = Annotated[EnquiryCaller, Depends(enquiry_caller)]
"""``caller: EnquiryCallerDep`` — then ``return await caller.run(ssn, answer)``."""
