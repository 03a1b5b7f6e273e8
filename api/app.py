"""The app factory: ``create_app(settings)`` builds the whole API; nothing at import.

- Lifespan: opens the database (``open_database`` refuses a database that can
  lose commits; an outdated schema is tolerated here so that ``/readyz`` can
  say so with 503 — ``cardsvc serve`` itself refuses to start on one), keeps an
  :class:`~api.context.ApiContext` on ``app.state.context``, disposes the
  engine at shut-down; once started, freezes the process's objects out of the
  garbage collector's full passes (api.heap).
- Routes: ``/healthz``, ``/readyz``; versioned areas under ``/v1`` (``auth``).
  Later areas add their ``router()`` to :data:`V1_AREAS`.
- Middleware, outermost first: request id + catch-all 500 (api.problems),
  body limit (api.limits), idempotency (api.idempotency).
- Errors: every error becomes an ``application/problem+json`` response in
  api.problems; the OpenAPI document describes those responses.

``app_from_env`` is the factory uvicorn imports (``cardsvc serve``; works with
``--workers N`` since each worker process builds its own app).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime

from anyio import to_thread
from fastapi import APIRouter, FastAPI
from sqlalchemy import Engine
from sqlalchemy.pool import QueuePool

from api.context import ApiContext
from api.heap import freeze_startup_heap
from api.idempotency import install_idempotency
from api.limits import BodyLimitMiddleware
from api.problems import RequestContextMiddleware, install_problem_handling, install_problem_openapi
from api.routes import (
    auth,
    card_sessions,
    cards,
    eligibility,
    health,
    journal,
    persons,
    registrations,
    sites,
)
from api.routing import ApiRouter
from cardsvc import __version__
from cardsvc.db import migrate, open_database
from cardsvc.db.models import utc_now
from cardsvc.settings import Settings

logger = logging.getLogger(__name__)

V1_AREAS: tuple[Callable[[], APIRouter], ...] = (
    persons.router,
    auth.router,
    card_sessions.router,
    cards.router,
    registrations.router,
    eligibility.router,
    sites.router,
    journal.router,
)
"""The routers mounted under /v1, in the order a request is matched against them.

The enquiries (persons) come first: they are most of the traffic, and FastAPI tries
a request against every route of the areas before the one that holds it, twice (once
to find the area, once inside it). The OpenAPI document lists the areas in reading
order instead (:data:`OPENAPI_TAGS`).
"""

OPENAPI_TAGS: tuple[dict[str, str], ...] = (
    {"name": "auth", "description": "Operators and devices sign in and out."},
    {
        "name": "card sessions",
        "description": "A card in a reader authenticates; kiosks also prove the PIN.",
    },
    {"name": "cards", "description": "C01-C08: loss, replacement, activation, PIN, hotlist."},
    {"name": "persons", "description": "The person and the enquiries E01-E05."},
    {"name": "registrations", "description": "R01-R05: registrations and information changes."},
    {"name": "benefits", "description": "B01-B04: eligibility answers and certifications."},
    {"name": "sites", "description": "Sites, their standards report and daily ledgers."},
    {"name": "journal", "description": "The transaction journal, for supervisors."},
    {"name": "health", "description": "Liveness and readiness."},
)
"""The OpenAPI document's areas, in reading order (whatever order the routes match in)."""

DESCRIPTION = """\
The social security card service for counters and kiosks.

Sign in with `POST /v1/auth/login` (operators) or `POST /v1/auth/device-login`
(kiosks, counter terminals) and send `Authorization: Bearer <token>`.
Every write takes an `Idempotency-Key` header: a retry with the same key and
body gets the first answer again. Errors are RFC 9457 problems
(`application/problem+json`); switch on their `type`
(`https://cardsvc.invalid/problems/<slug>`).
"""


def create_app(settings: Settings, *, clock: Callable[[], datetime] = utc_now) -> FastAPI:
    """The API for `settings`; the database is opened when the app starts (lifespan)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        database = open_database(settings.database_url, require_current_schema=False)
        fit_thread_pool(database.engine)
        try:
            context = ApiContext(
                settings=settings,
                database=database,
                schema_head=migrate.head_revision(),
                clock=clock,
            )
            current = migrate.current_revision(database.engine)
            if current != context.schema_head:
                logger.warning(
                    "database schema is at %s, the code needs %s: run `cardsvc db upgrade`; "
                    "/readyz answers 503 until then",
                    current or "nothing (never migrated)",
                    context.schema_head,
                )
            app.state.context = context
            await to_thread.run_sync(context.prune_if_due)  # before the first request
            pruning = asyncio.create_task(_prune_periodically(context))
            freeze_startup_heap()  # the started app's objects: not walked by the GC again
            try:
                yield
            finally:
                pruning.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await pruning
        finally:
            app.state.context = None
            database.dispose()

    app = FastAPI(
        title="cardsvc",
        version=__version__,
        description=DESCRIPTION,
        openapi_tags=list(OPENAPI_TAGS),
        lifespan=lifespan,
    )
    install_problem_handling(app)
    app.include_router(health.router())
    v1 = ApiRouter(prefix="/v1")
    for area in V1_AREAS:
        v1.include_router(area())
    app.include_router(v1)
    # Starlette wraps each added middleware around the previous ones: add innermost first.
    install_idempotency(app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestContextMiddleware)
    install_problem_openapi(app)
    app.state.settings = settings
    return app


async def _prune_periodically(context: ApiContext) -> None:
    """Delete expired API state every `pruner.interval_s` after start-up (api.prune).

    A background task of the process, off the request path; `prune_if_due` logs and
    survives database errors, and several processes pruning is harmless.
    """
    while True:
        await asyncio.sleep(context.pruner.interval_s)
        await to_thread.run_sync(context.prune_if_due)


def fit_thread_pool(engine: Engine) -> None:
    """Run at most as many ``def`` routes and dependencies at once as the pool keeps connections.

    FastAPI runs them in anyio's thread pool (40 threads by default). A thread uses one
    database connection at a time, and the engine's pool keeps `pool.size()` of them
    (more are opened on demand and CLOSED when given back). With 40 threads, a busy
    process opened and closed a PostgreSQL connection for a good share of its requests
    (a new backend process each time); with as many threads as kept connections it
    reuses them. Requests beyond that wait for a thread (in the event loop, no CPU
    spent), which costs nothing on a machine with few cores.
    """
    pool = engine.pool
    if isinstance(pool, QueuePool):
        to_thread.current_default_thread_limiter().total_tokens = max(pool.size(), 1)


def app_from_env() -> FastAPI:
    """The factory for uvicorn: settings from the environment (CARDSVC_*)."""
    return create_app(Settings.from_env())
