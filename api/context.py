"""What the API's dependencies need at request time, built once per process.

`create_app` builds an :class:`ApiContext` in its lifespan (after opening the
database) and keeps it on ``app.state.context``; nothing is global.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from fastapi import Request

from api.errors import ServiceUnavailable
from api.passwords import PasswordHasher
from cardsvc.db import Database
from cardsvc.db.models import utc_now
from cardsvc.services.context import ServiceContext
from cardsvc.settings import Settings


@dataclass(frozen=True)
class ApiContext:
    """Settings, database, clock and password hasher of one API process."""

    settings: Settings
    database: Database
    schema_head: str
    """The newest migration revision the code knows (/readyz compares it)."""
    clock: Callable[[], datetime] = utc_now
    passwords: PasswordHasher = field(default_factory=PasswordHasher)

    def now(self) -> datetime:
        """The server clock, in UTC."""
        return self.clock().astimezone(UTC)

    def service_context(self) -> ServiceContext:
        """The services' context on the same database and clock."""
        return ServiceContext(database=self.database, clock=self.clock)


def get_context(request: Request) -> ApiContext:
    """The process's ApiContext (503 when the app has not finished starting)."""
    context = getattr(request.app.state, "context", None)
    if not isinstance(context, ApiContext):
        raise ServiceUnavailable("the service is starting: retry in a moment")
    return context
