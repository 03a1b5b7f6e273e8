"""The dependency aliases route modules use (``Annotated`` types, FastAPI style).

==========================  =================================================
alias                       what the route gets
==========================  =================================================
``ContextDep``              the process's ApiContext (settings, database,
                            clock, password hasher, service context)
``SettingsDep``             the Settings
``DatabaseDep``             the Database (units of work)
``PrincipalDep``            the authenticated caller: actor, token id, expiry
                            (401 without a valid bearer token, 429 over the
                            rate limit)
``ActorDep``                the services' actor: OperatorActor | DeviceActor
``OperatorDep``             an OperatorActor (403 for a device)
``DeviceDep``               a DeviceActor (403 for an operator)
``IdempotencyKeyDep``       the claimed ``Idempotency-Key`` of a write (the
                            header is required and documented; replays, 409
                            and 422 are handled, see api.idempotency)
==========================  =================================================

The enquiry routes (``GET /v1/persons/{ssn}`` and E01-E05) take
``api.enquiry_caller.EnquiryCallerDep`` instead of ``ActorDep`` and ``PresenceDep``:
the bearer lookup and the enquiry then share one thread-pool hand-off.

Declare the problems a route can answer with
``responses=problem_responses(404, 409)`` (api.problems); the shared ones
(401/429 with a bearer, 409/422 with an Idempotency-Key, 413, 422, 500, 503)
are added to the OpenAPI document automatically.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from api.context import ApiContext, context_of, get_context
from api.idempotency import IdempotencyKey, require_idempotency_key
from api.security import (
    Principal,
    authenticate,
    current_actor,
    current_device,
    current_operator,
)
from cardsvc.db import Database
from cardsvc.services.actors import Actor, DeviceActor, OperatorActor
from cardsvc.settings import Settings


async def _settings(request: Request) -> Settings:
    return context_of(request).settings


async def _database(request: Request) -> Database:
    return context_of(request).database


ContextDep = Annotated[ApiContext, Depends(get_context)]
SettingsDep = Annotated[Settings, Depends(_settings)]
DatabaseDep = Annotated[Database, Depends(_database)]
PrincipalDep = Annotated[Principal, Depends(authenticate)]
ActorDep = Annotated[Actor, Depends(current_actor)]
OperatorDep = Annotated[OperatorActor, Depends(current_operator)]
DeviceDep = Annotated[DeviceActor, Depends(current_device)]
IdempotencyKeyDep = Annotated[IdempotencyKey, Depends(require_idempotency_key)]

__all__ = [
    "ActorDep",
    "ContextDep",
    "DatabaseDep",
    "DeviceDep",
    "IdempotencyKeyDep",
    "OperatorDep",
    "PrincipalDep",
    "SettingsDep",
]
