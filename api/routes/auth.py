"""Signing in and out: ``/v1/auth/login``, ``/v1/auth/device-login``, ``/v1/auth/logout``,
``/v1/auth/me``.

Tokens go in ``Authorization: Bearer <token>``; they expire (``expires_at``) and
a logout revokes them at once in every API process. These routes take no
``Idempotency-Key`` (a sign-in's answer holds a secret that must not be stored
for replay; signing out twice is harmless: the second call gets 401).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field, SecretStr

from api import login, tokens
from api.deps import ContextDep, PrincipalDep
from api.problems import problem_responses
from api.routing import ApiRouter
from cardsvc.db.models import DeviceKind, Role
from cardsvc.services.actors import OperatorActor

_NO_CONTROL_CHARACTERS = r"^[^\x00-\x1f\x7f]+$"
_MAX_ID = 2**31 - 1


class LoginRequest(BaseModel):
    username: str = Field(
        min_length=1, max_length=64, pattern=_NO_CONTROL_CHARACTERS, examples=["clerk.370402"]
    )
    password: SecretStr = Field(min_length=1, max_length=256)


class OperatorInfo(BaseModel):
    id: int
    username: str
    site_code: str = Field(description="the operator's site (administrative division code)")
    roles: list[Role]


class TokenFields(BaseModel):
    access_token: str = Field(description="send as `Authorization: Bearer <access_token>`")
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the token scheme
    expires_at: datetime = Field(description="when the token stops working (UTC)")
    expires_in: int = Field(description="seconds until expires_at")


class LoginResponse(TokenFields):
    operator: OperatorInfo


class DeviceLoginRequest(BaseModel):
    device_id: int = Field(ge=1, le=_MAX_ID, description="the id the device was registered with")
    credential: SecretStr = Field(min_length=1, max_length=256)


class DeviceInfo(BaseModel):
    id: int
    name: str
    kind: DeviceKind
    site_code: str


class DeviceLoginResponse(TokenFields):
    device: DeviceInfo


class WhoAmI(BaseModel):
    kind: Literal["operator", "device"]
    id: int
    site_code: str
    username: str | None = Field(default=None, description="operators only")
    roles: list[Role] | None = Field(default=None, description="operators only")
    device_kind: DeviceKind | None = Field(default=None, description="devices only")
    expires_at: datetime = Field(description="when the token stops working (UTC)")


def _expires_in(issued: tokens.IssuedToken, now: datetime) -> int:
    return max(0, int((issued.expires_at - now).total_seconds()))


def router() -> APIRouter:
    routes = ApiRouter(prefix="/auth", tags=["auth"])

    @routes.post(
        "/login",
        summary="Operator sign-in: username and password → bearer token",
        responses=problem_responses(
            s401="`invalid-credentials`: unknown user or wrong password (never says which)",
            s423="`account-locked`: too many failed sign-ins; Retry-After and `locked_until` "
            "say when to try again",
        ),
    )
    def login_route(body: LoginRequest, context: ContextDep) -> LoginResponse:
        signed = login.login_operator(context, body.username, body.password.get_secret_value())
        return LoginResponse(
            access_token=signed.token.token,
            expires_at=signed.token.expires_at,
            expires_in=_expires_in(signed.token, context.now()),
            operator=OperatorInfo(
                id=signed.operator_id,
                username=signed.username,
                site_code=signed.site_code,
                roles=sorted(signed.roles),
            ),
        )

    @routes.post(
        "/device-login",
        summary="Kiosk or counter terminal sign-in: device id and credential → bearer token",
        responses=problem_responses(
            s401="`invalid-credentials`: unknown device or wrong credential",
            s423="`account-locked`: too many failed sign-ins of this device; see Retry-After",
        ),
    )
    def device_login_route(body: DeviceLoginRequest, context: ContextDep) -> DeviceLoginResponse:
        signed = login.login_device(context, body.device_id, body.credential.get_secret_value())
        return DeviceLoginResponse(
            access_token=signed.token.token,
            expires_at=signed.token.expires_at,
            expires_in=_expires_in(signed.token, context.now()),
            device=DeviceInfo(
                id=signed.device_id,
                name=signed.name,
                kind=signed.kind,
                site_code=signed.site_code,
            ),
        )

    @routes.post(
        "/logout",
        status_code=204,
        summary="Revoke the bearer token of this request (effective at once everywhere)",
        response_class=Response,
    )
    def logout_route(principal: PrincipalDep, context: ContextDep) -> Response:
        with context.database.unit_of_work() as uow:
            tokens.revoke(uow.session, principal.token_id, now=context.now())
        return Response(status_code=204)

    @routes.get("/me", summary="Who the bearer token belongs to, and until when")
    def me_route(principal: PrincipalDep) -> WhoAmI:
        actor = principal.actor
        if isinstance(actor, OperatorActor):
            return WhoAmI(
                kind="operator",
                id=actor.operator_id,
                site_code=actor.site_code,
                username=actor.username,
                roles=sorted(actor.roles),
                expires_at=principal.expires_at,
            )
        return WhoAmI(
            kind="device",
            id=actor.device_id,
            site_code=actor.site_code,
            device_kind=actor.kind,
            expires_at=principal.expires_at,
        )

    return routes
