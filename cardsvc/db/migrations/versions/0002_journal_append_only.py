"""Journal guards: append-only entries, a head that only advances.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28

Both engines get triggers that refuse
- UPDATE and DELETE of journal_entries rows;
- an INSERT into journal_entries that does not continue the chain head
  (id = head.last_id + 1 and prev_hash = head.last_hash);
- an UPDATE of journal_head that does not advance it by exactly one onto an
  existing entry with that hash, and DELETE of the head row.
PostgreSQL also refuses TRUNCATE (statement triggers) and revokes UPDATE,
DELETE, TRUNCATE on the journal tables from PUBLIC. The errors are integrity
violations on both engines (SQLAlchemy IntegrityError).

On PostgreSQL the service's role must not own these tables: an owner or a
superuser can still disable the triggers (ALTER TABLE … DISABLE TRIGGER,
SET session_replication_role = replica); `cardsvc journal verify` detects what
they then change. On SQLite whoever can write the file can drop the triggers;
they only stop the service's own code from changing the journal by mistake.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SQLITE_UP = (
    """
    CREATE TRIGGER journal_entries_no_update BEFORE UPDATE ON journal_entries
    BEGIN SELECT RAISE(ABORT, 'journal_entries is append-only: UPDATE refused'); END
    """,
    """
    CREATE TRIGGER journal_entries_no_delete BEFORE DELETE ON journal_entries
    BEGIN SELECT RAISE(ABORT, 'journal_entries is append-only: DELETE refused'); END
    """,
    """
    CREATE TRIGGER journal_entries_append_at_head BEFORE INSERT ON journal_entries
    WHEN NEW.id IS NOT (SELECT last_id + 1 FROM journal_head WHERE id = 1)
      OR NEW.prev_hash IS NOT (SELECT last_hash FROM journal_head WHERE id = 1)
    BEGIN SELECT RAISE(ABORT, 'journal append must continue the chain head'); END
    """,
    """
    CREATE TRIGGER journal_head_advance BEFORE UPDATE ON journal_head
    WHEN NEW.id IS NOT OLD.id OR NEW.last_id IS NOT OLD.last_id + 1
      OR NOT EXISTS (
        SELECT 1 FROM journal_entries WHERE id = NEW.last_id AND hash = NEW.last_hash
      )
    BEGIN SELECT RAISE(ABORT, 'journal head may only advance onto the next entry'); END
    """,
    """
    CREATE TRIGGER journal_head_no_delete BEFORE DELETE ON journal_head
    BEGIN SELECT RAISE(ABORT, 'journal_head is append-only: DELETE refused'); END
    """,
)

_SQLITE_DOWN = (
    "DROP TRIGGER IF EXISTS journal_head_no_delete",
    "DROP TRIGGER IF EXISTS journal_head_advance",
    "DROP TRIGGER IF EXISTS journal_entries_append_at_head",
    "DROP TRIGGER IF EXISTS journal_entries_no_delete",
    "DROP TRIGGER IF EXISTS journal_entries_no_update",
)

_POSTGRESQL_UP = (
    """
    CREATE FUNCTION journal_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
            USING ERRCODE = 'integrity_constraint_violation';
    END
    $$
    """,
    """
    CREATE FUNCTION journal_append_at_head() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        head_last_id bigint;
        head_last_hash varchar;
    BEGIN
        SELECT last_id, last_hash INTO head_last_id, head_last_hash
            FROM journal_head WHERE id = 1;
        IF NOT FOUND OR NEW.id <> head_last_id + 1 OR NEW.prev_hash <> head_last_hash THEN
            RAISE EXCEPTION 'journal append must continue the chain head (entry %, head %)',
                NEW.id, head_last_id
                USING ERRCODE = 'integrity_constraint_violation';
        END IF;
        RETURN NEW;
    END
    $$
    """,
    """
    CREATE FUNCTION journal_head_advance() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF NEW.id <> OLD.id OR NEW.last_id <> OLD.last_id + 1 OR NOT EXISTS (
            SELECT 1 FROM journal_entries WHERE id = NEW.last_id AND hash = NEW.last_hash
        ) THEN
            RAISE EXCEPTION 'journal head may only advance onto the next entry (% to %)',
                OLD.last_id, NEW.last_id
                USING ERRCODE = 'integrity_constraint_violation';
        END IF;
        RETURN NEW;
    END
    $$
    """,
    """
    CREATE TRIGGER journal_entries_no_change BEFORE UPDATE OR DELETE ON journal_entries
    FOR EACH ROW EXECUTE FUNCTION journal_refuse_change()
    """,
    """
    CREATE TRIGGER journal_entries_no_truncate BEFORE TRUNCATE ON journal_entries
    FOR EACH STATEMENT EXECUTE FUNCTION journal_refuse_change()
    """,
    """
    CREATE TRIGGER journal_entries_append_at_head BEFORE INSERT ON journal_entries
    FOR EACH ROW EXECUTE FUNCTION journal_append_at_head()
    """,
    """
    CREATE TRIGGER journal_head_advance BEFORE UPDATE ON journal_head
    FOR EACH ROW EXECUTE FUNCTION journal_head_advance()
    """,
    """
    CREATE TRIGGER journal_head_no_delete BEFORE DELETE ON journal_head
    FOR EACH ROW EXECUTE FUNCTION journal_refuse_change()
    """,
    """
    CREATE TRIGGER journal_head_no_truncate BEFORE TRUNCATE ON journal_head
    FOR EACH STATEMENT EXECUTE FUNCTION journal_refuse_change()
    """,
    "REVOKE UPDATE, DELETE, TRUNCATE ON journal_entries FROM PUBLIC",
    "REVOKE DELETE, TRUNCATE ON journal_head FROM PUBLIC",
)

_POSTGRESQL_DOWN = (
    "DROP TRIGGER IF EXISTS journal_head_no_truncate ON journal_head",
    "DROP TRIGGER IF EXISTS journal_head_no_delete ON journal_head",
    "DROP TRIGGER IF EXISTS journal_head_advance ON journal_head",
    "DROP TRIGGER IF EXISTS journal_entries_append_at_head ON journal_entries",
    "DROP TRIGGER IF EXISTS journal_entries_no_truncate ON journal_entries",
    "DROP TRIGGER IF EXISTS journal_entries_no_change ON journal_entries",
    "DROP FUNCTION IF EXISTS journal_head_advance()",
    "DROP FUNCTION IF EXISTS journal_append_at_head()",
    "DROP FUNCTION IF EXISTS journal_refuse_change()",
)


def _statements(sqlite: Sequence[str], postgresql: Sequence[str]) -> Sequence[str]:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        return sqlite
    if dialect == "postgresql":
        return postgresql
    raise NotImplementedError(f"no journal guards for {dialect}")


def upgrade() -> None:
    for statement in _statements(_SQLITE_UP, _POSTGRESQL_UP):
        op.execute(statement)


def downgrade() -> None:
    for statement in _statements(_SQLITE_DOWN, _POSTGRESQL_DOWN):
        op.execute(statement)
