"""Cleanup of the API's expired rows: `cardsvc db prune`, and now and then in the service.

What goes (``now`` is the server clock; "kept" is `KEEP_EXPIRED_S`, one day, so that
a late client still gets "expired" rather than "unknown" for a while):

==========================  ==========================================================
table                       rows deleted
==========================  ==========================================================
``api_tokens``              expired more than a day ago (revoked or not)
``card_sessions``           expired more than a day ago
``card_challenges``         expired more than a day ago, and no remaining card
                            session was verified with them
``http_idempotency_records``  started longer ago than the retention
                            (``CARDSVC_IDEMPOTENCY_RETENTION``) plus a day
``idempotency_records``     (the services' stored results) the same
``rate_counters``           windows that have ended (request windows and the
                            failed-sign-in windows alike)
==========================  ==========================================================

A key older than the retention is free again anyway (api.idempotency), so deleting
its record changes no answer. The journal is never pruned.

The service prunes in the background: each API process runs `prune` at start-up and
then every `PRUNE_INTERVAL_S` (a task of the app's lifespan, api.app, off the request
path; :class:`Pruner` keeps it to once per interval). Several processes may each do
it; the deletes are idempotent.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, exists, select
from sqlalchemy.orm import Session

from cardsvc.db.models import (
    ApiToken,
    CardChallenge,
    CardSession,
    HttpIdempotencyRecord,
    IdempotencyRecord,
    RateCounter,
)
from cardsvc.settings import Settings

logger = logging.getLogger(__name__)

KEEP_EXPIRED_S = 24 * 3600
PRUNE_INTERVAL_S = 300.0


@dataclass(frozen=True)
class PruneReport:
    """How many rows `prune` deleted, per table."""

    tokens: int
    card_sessions: int
    card_challenges: int
    http_idempotency_records: int
    idempotency_records: int
    rate_counters: int

    @property
    def total(self) -> int:
        return (
            self.tokens
            + self.card_sessions
            + self.card_challenges
            + self.http_idempotency_records
            + self.idempotency_records
            + self.rate_counters
        )

    def __str__(self) -> str:
        return (
            f"pruned {self.total} expired rows: {self.tokens} tokens, {self.card_sessions} "
            f"card sessions, {self.card_challenges} card challenges, "
            f"{self.http_idempotency_records} HTTP idempotency records, "
            f"{self.idempotency_records} service idempotency records, "
            f"{self.rate_counters} rate counters"
        )


def _deleted(session: Session, statement: object) -> int:
    result = session.execute(statement)  # type: ignore[call-overload]
    return int(getattr(result, "rowcount", 0) or 0)


def prune(session: Session, *, now: datetime, settings: Settings) -> PruneReport:
    """Delete the expired rows (see the module docstring) in `session`'s transaction."""
    kept = now - timedelta(seconds=KEEP_EXPIRED_S)
    retained = kept - timedelta(seconds=settings.idempotency_retention_s)
    # A window of W seconds that started before now - W has ended, whichever kind it is
    # (request windows, rate_window_s; failed device sign-ins, login_lockout_s).
    longest_window = max(settings.rate_window_s, settings.login_lockout_s)
    ended_before = now - timedelta(seconds=longest_window)
    sessions = _deleted(session, delete(CardSession).where(CardSession.expires_at < kept))
    challenges = _deleted(
        session,
        delete(CardChallenge).where(
            CardChallenge.expires_at < kept,
            ~exists(select(CardSession.id).where(CardSession.challenge_id == CardChallenge.id)),
        ),
    )
    return PruneReport(
        tokens=_deleted(session, delete(ApiToken).where(ApiToken.expires_at < kept)),
        card_sessions=sessions,
        card_challenges=challenges,
        http_idempotency_records=_deleted(
            session,
            delete(HttpIdempotencyRecord).where(HttpIdempotencyRecord.started_at < retained),
        ),
        idempotency_records=_deleted(
            session, delete(IdempotencyRecord).where(IdempotencyRecord.created_at < retained)
        ),
        rate_counters=_deleted(
            session, delete(RateCounter).where(RateCounter.window_start < ended_before)
        ),
    )


class Pruner:
    """Runs `prune` at most once per `interval_s` in this process (thread-safe)."""

    def __init__(
        self, interval_s: float = PRUNE_INTERVAL_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.interval_s = interval_s
        self._clock = clock
        self._lock = threading.Lock()
        self._next = clock()  # the first request of a process prunes

    def due(self) -> bool:
        """True (once) when it is time to prune; the caller then calls `run`."""
        now = self._clock()
        with self._lock:
            if now < self._next:
                return False
            self._next = now + self.interval_s
            return True

    def run(self, session: Session, *, now: datetime, settings: Settings) -> PruneReport:
        report = prune(session, now=now, settings=settings)
        if report.total:
            logger.info("%s", report)
        return report
