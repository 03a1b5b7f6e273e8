"""Ping a pooled PostgreSQL connection before use only when it has been idle a while.

SQLAlchemy's ``pool_pre_ping`` sends a ``SELECT 1`` on EVERY check-out: one more round
trip and one more statement for the server per unit of work, while a busy API checks
its connections out hundreds of times a second. :func:`ping_when_idle` pings only a
connection that has sat in the pool for :data:`PING_AFTER_IDLE_S` or longer (the ones
a server restart, an idle-connection timeout or a dropped network path is likely to
have killed); a connection given back a moment ago is used as it is.

When the ping fails the listener raises ``DisconnectionError``: the pool discards the
connection and checks out another (opening a new one if needed), as pre-ping does.
A connection that dies within the idle window fails the statement that next uses it
(OperationalError: the API answers 503, the caller may retry); SQLAlchemy then
recycles every connection of the pool older than the failure, so the next unit of
work gets a fresh one.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.pool import ConnectionPoolEntry

PING_AFTER_IDLE_S = 5.0
"""A pooled connection idle this long (seconds) is pinged before it is used again."""

_IDLE_SINCE = "cardsvc_idle_since"


def ping_when_idle(engine: Engine, idle_s: float = PING_AFTER_IDLE_S) -> None:
    """Make `engine`'s pool ping a connection at check-out only after `idle_s` idle."""
    dialect = engine.dialect

    @event.listens_for(engine, "connect")
    def _connected(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()  # just opened: alive

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: Any) -> None:
        since = record.info.get(_IDLE_SINCE)
        if since is not None and time.monotonic() - since < idle_s:
            return
        try:
            alive = dialect.do_ping(dbapi_connection)
        except Exception as exc:  # any failure: use another connection
            raise DisconnectionError(f"the pooled connection failed its ping: {exc}") from exc
        if not alive:
            raise DisconnectionError("the pooled connection failed its ping")
