"""The journal head's advance check always reads the entry by its index (PostgreSQL).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28

``journal_head_advance()`` (0005) checks, on every append, that the head moves onto
an entry that exists: ``SELECT 1 FROM journal_entries WHERE lane = … AND lane_seq =
…``, a lookup in the unique index on (lane, lane_seq). PL/pgSQL caches that
statement's plan for the life of the connection, and after five executions keeps a
generic plan when it looks no dearer than the custom ones. A connection whose first
appends ran on a new, empty journal (a fresh database, just analysed while empty)
planned a sequential scan — cheapest on a table of one page — and kept it: every
later append on that connection read the whole journal (measured: 16,000 appends
on one pool read 133 million journal rows, and the API's enquiry rate fell by a
third within minutes). Only a new ANALYZE of journal_entries re-plans, and with
autovacuum off that never comes.

The function now runs with ``enable_seqscan = off``: its one query has a unique
index to use, and every plan (generic or custom, new or cached) takes it. The body
is unchanged. SQLite's trigger (its planner uses the index for an equality on a
unique index regardless of size) needs nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER FUNCTION journal_head_advance() SET enable_seqscan = off")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER FUNCTION journal_head_advance() RESET enable_seqscan")
