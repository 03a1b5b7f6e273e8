"""Rate counters in an UNLOGGED table (PostgreSQL): no WAL, no flush, for every request.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28

Every authenticated request adds one to its caller's counter in ``rate_counters``
(api.caller_lookup). In a logged table that write goes to the WAL, and the statement,
committed on its own, waits for the WAL flush before the request goes on: a disk
flush per request for a number that only matters for the current window. An
UNLOGGED table writes no WAL, and a transaction that wrote nothing else commits
without waiting for a flush.

What that gives up: after a crash of the database server (not a clean restart) the
table is emptied, so every caller's current window starts again from zero, and a
standby does not have the counters (a promoted standby starts from zero too). A
request window is a minute by default. The table also counts a device's failed
sign-ins (api.login, ``device-login:<id>``): a crash lifts a device's sign-in lock
early, as it lifts its rate limit. Operators' lockouts live with the operator row
(logged) and are not affected. SQLite has no such table kind: nothing changes there.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE rate_counters SET UNLOGGED")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE rate_counters SET LOGGED")
