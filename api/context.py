"""What the API's dependencies need at request time, built once per process.

`create_app` builds an :class:`ApiContext` in its lifespan (after opening the
database) and keeps it on ``app.state.context``; nothing is global.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from fastapi import Request
from sqlalchemy.exc import SQLAlchemyError

from api.errors import ServiceUnavailable
from api.passwords import PasswordHasher
from api.prune import Pruner
from cardsvc.db import Database
from cardsvc.db.models import utc_now
from cardsvc.services.context import ServiceContext
from cardsvc.settings import Settings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ApiContext:
    """Settings, database, clock and password hasher of one API process."""

    settings: Settings
    database: Database
    schema_head: str
    """The newest migration revision the code knows (/readyz compares it)."""
    clock: Callable[[], datetime] = utc_now
    passwords: PasswordHasher = field(default_factory=PasswordHasher)
    pruner: Pruner = field(default_factory=Pruner)
    """Deletes expired tokens, sessions, records now and then (api.prune)."""

    def now(self) -> datetime:
        """The server clock, in UTC."""
        return self.clock().astimezone(UTC)

    def prune_if_due(self) -> None:
        """Delete expired API state if this process has not done so for a while.

        Never fails the request that happens to run it: a database error is logged.
        """
        if not self.pruner.due():
            return
        try:
            with self.database.unit_of_work() as uow:
                self.pruner.run(uow.session, now=self.now(), settings=self.settings)
        except SQLAlchemyError as exc:
            logger.warning("pruning expired API state failed (retried later): %s", exc)

    def service_context(self) -> ServiceContext:
        """The services' context on the same database and clock."""
        return ServiceContext(database=self.database, clock=self.clock)


def context_of(request: Request) -> ApiContext:
    """The process's ApiContext (503 when the app has not finished starting)."""
    context = getattr(request.app.state, "context", None)
    if not isinstance(context, ApiContext):
        raise ServiceUnavailable("the service is starting: retry in a moment")
    return context


async def get_context(request: Request) -> ApiContext:
    """:func:`context_of` as a dependency (``Depends(get_context)``).

    ``async`` although it does no I/O: FastAPI runs a plain ``def`` dependency in its
    thread pool, and each such hand-off costs more CPU than this function itself.
    """
    return context_of(request)
