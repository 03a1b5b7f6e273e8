"""The app the API tests serve: the real `create_app` plus a few routes for tests only.

uvicorn imports it in a subprocess (``api_test_server:create_test_app`` with
``--factory --app-dir tests/api``); settings come from the environment.

- ``POST /v1/test/echo``: a write with an Idempotency-Key; waits ``delay_s``, then
  answers 201 with a fresh ``run_id`` (so a replay is told from a second run), or
  raises a Conflict when ``refuse`` is set. Its optional ``X-Note`` header (lower-case
  letters) is a parameter outside the idempotency fingerprint.
- ``GET /v1/test/boom``: an unexpected exception (the catch-all 500).
- ``GET /v1/test/operator-only``: needs an operator (a device gets 403).
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Annotated

from fastapi import FastAPI, Header
from pydantic import BaseModel, Field

from api.app import create_app
from api.deps import IdempotencyKeyDep, OperatorDep
from api.problems import problem_responses
from api.routing import ApiRouter
from cardsvc.services.errors import Conflict
from cardsvc.settings import Settings

SECRET_DETAIL = "secret-internal-detail-4711"


class EchoIn(BaseModel):
    text: str = Field(max_length=100)
    delay_s: float = Field(default=0.0, ge=0, le=5)
    refuse: bool = False


class EchoOut(BaseModel):
    run_id: str
    text: str
    key: str


class Operator(BaseModel):
    username: str


def create_test_app() -> FastAPI:
    app = create_app(Settings.from_env())
    router = ApiRouter(prefix="/v1/test", tags=["test"])

    @router.post("/echo", status_code=201, responses=problem_responses(409))
    async def echo(
        body: EchoIn,
        idem: IdempotencyKeyDep,
        note: Annotated[str | None, Header(alias="X-Note", pattern="^[a-z]{1,20}$")] = None,
    ) -> EchoOut:
        if body.delay_s:
            await asyncio.sleep(body.delay_s)
        if body.refuse:
            raise Conflict("refused on request", current="testing")
        return EchoOut(run_id=uuid.uuid4().hex, text=body.text, key=idem.key)

    @router.get("/boom")
    def boom() -> None:
        raise RuntimeError(SECRET_DETAIL)

    @router.get("/operator-only", responses=problem_responses(403))
    def operator_only(operator: OperatorDep) -> Operator:
        return Operator(username=operator.username)

    app.include_router(router)
    return app
