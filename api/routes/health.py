"""``GET /healthz`` (the process is up) and ``GET /readyz`` (it can serve: the database
answers and its schema is at the code's migration head)."""

from __future__ import annotations

import logging
from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from api.context import ApiContext
from api.deps import ContextDep
from api.errors import ServiceUnavailable
from api.problems import problem_responses
from api.routing import ApiRouter
from cardsvc.db import migrate

logger = logging.getLogger(__name__)


class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    status: Literal["ready"]
    database: str
    """The database engine: sqlite or postgresql."""
    revision: str
    """The schema revision (the code's migration head)."""


def _check(context: ApiContext) -> Readiness:
    engine = context.database.engine
    try:
        current = migrate.current_revision(engine)
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        logger.warning("readiness: database unreachable: %s", reason)
        raise ServiceUnavailable("the database cannot be reached") from None
    head = context.schema_head
    if current != head:
        state = "not migrated" if current is None else f"at revision {current}"
        raise ServiceUnavailable(
            f"the database schema is {state}, the code needs {head}: run `cardsvc db upgrade`"
        )
    return Readiness(status="ready", database=engine.dialect.name, revision=head)


def router() -> APIRouter:
    routes = ApiRouter(tags=["health"])

    @routes.get(
        "/healthz",
        summary="The process is up",
        openapi_extra={"x-database": False},
    )
    async def healthz() -> Health:
        return Health(status="ok")

    @routes.get(
        "/readyz",
        summary="The database is reachable and its schema is current",
        responses=problem_responses(503),
    )
    async def readyz(context: ContextDep) -> Readiness:
        return await run_in_threadpool(_check, context)

    return routes
