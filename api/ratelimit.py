"""Rate limits per operator and per device, counted in the database (fixed windows).

One row per (subject, window start) in ``rate_counters``; every counted request
runs ``INSERT … ON CONFLICT (subject, window_start) DO UPDATE SET count = count + 1
RETURNING count`` — one atomic statement on SQLite and PostgreSQL, so every API
process shares the same budget. The first hit of a new window deletes the
subject's older rows, so the table stays small.

A request over the limit is answered 429 (problem ``rate-limited``) with
``Retry-After`` = seconds until the window ends. Authenticated requests are
counted by the bearer dependency (:func:`api.security.authenticate`), so every
route that needs a caller is limited. On PostgreSQL the count is part of the bearer
lookup's one statement (api.caller_lookup: the same upsert in a data-modifying CTE, in
autocommit, so it holds the counter's row lock only while it runs); :func:`hit` is the
SQLite path and the sign-in counters'. The count is in the database either way, so it
holds across processes. Expired windows are also deleted by api.prune.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from api.errors import RateLimited
from api.sql import upsert_insert
from cardsvc.db.models import RateCounter


def window_start(now: datetime, window_s: int) -> datetime:
    """Start of the fixed window of `window_s` seconds that contains `now` (UTC)."""
    epoch = int(now.timestamp())
    return datetime.fromtimestamp(epoch - epoch % window_s, UTC)


@dataclass(frozen=True, slots=True)
class WindowCount:
    """How many hits `subject` has in the window starting at `start`."""

    subject: str
    count: int
    start: datetime
    window_s: int

    def retry_after_s(self, now: datetime) -> int:
        """Whole seconds until the window ends (at least 1)."""
        end = self.start + timedelta(seconds=self.window_s)
        return max(1, math.ceil((end - now).total_seconds()))


def hit(session: Session, subject: str, *, now: datetime, window_s: int) -> WindowCount:
    """Count one hit for `subject` in the current window; the new count."""
    start = window_start(now, window_s)
    table = RateCounter.__table__  # Core, not the ORM's bulk-insert path: one row, hot
    insert = upsert_insert(session, table).values(subject=subject, window_start=start, count=1)
    statement = insert.on_conflict_do_update(
        index_elements=[table.c.subject, table.c.window_start],
        set_={"count": table.c.count + 1},
    ).returning(table.c.count)
    count = int(session.execute(statement).scalar_one())
    if count == 1:
        session.execute(
            delete(RateCounter).where(
                RateCounter.subject == subject, RateCounter.window_start < start
            )
        )
    return WindowCount(subject, count, start, window_s)


def peek(session: Session, subject: str, *, now: datetime, window_s: int) -> WindowCount:
    """The current window's count for `subject`, without counting."""
    start = window_start(now, window_s)
    count = session.execute(
        select(RateCounter.count).where(
            RateCounter.subject == subject, RateCounter.window_start == start
        )
    ).scalar_one_or_none()
    return WindowCount(subject, int(count or 0), start, window_s)


def forget(session: Session, subject: str) -> None:
    """Drop every counter of `subject` (e.g. failed sign-ins after a success)."""
    session.execute(delete(RateCounter).where(RateCounter.subject == subject))


def enforce(counted: WindowCount, limit: int, now: datetime, who: str) -> None:
    """Raise RateLimited when `counted` is over `limit`."""
    if counted.count > limit:
        retry = counted.retry_after_s(now)
        raise RateLimited(
            f"{who} may make {limit} requests per {counted.window_s} s: retry in {retry} s",
            retry_after_s=retry,
        )
