"""Journal lanes: several hash chains instead of one, and a journal event code.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28

journal_entries gains ``lane`` (1 for every existing entry), ``lane_seq`` (the
position in the lane; = id for existing entries), ``event`` ('item', or
'card_authentication' for a card refused by its internal authentication) and
``version`` (the hash format: 1 for the existing entries, which stay verifiable as
they are; 2 for new ones, which also hash lane, lane_seq and event), and a unique
index on (lane, lane_seq). journal_head becomes one row per lane (id = lane,
1-64, new column ``last_seq``); lane 1 continues the existing chain, further
lanes are opened by appends on PostgreSQL (cardsvc.db.journal). PostgreSQL gets
the sequence ``journal_entries_id_seq`` for the global ids.

The 0002 guards are replaced by lane-aware ones (same names where they do the
same job): refuse UPDATE/DELETE of entries, an entry that does not continue its
lane's head, a head update that does not advance by one onto an existing entry
of the lane, a new head row that is not empty, and deleting heads. On
PostgreSQL an AFTER INSERT trigger advances the lane's head in the insert
statement itself; TRUNCATE stays refused and the 0002 REVOKEs stay in force.

Downgrade refuses a journal that already uses lanes or format 2 (it could not be
one chain again without rewriting evidence).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GENESIS = "0" * 64

# --------------------------------------------------------------------------- SQLite

_SQLITE_DROP_0002 = (
    "DROP TRIGGER IF EXISTS journal_head_no_delete",
    "DROP TRIGGER IF EXISTS journal_head_advance",
    "DROP TRIGGER IF EXISTS journal_entries_append_at_head",
    "DROP TRIGGER IF EXISTS journal_entries_no_delete",
    "DROP TRIGGER IF EXISTS journal_entries_no_update",
)

_SQLITE_DROP_0005 = (*_SQLITE_DROP_0002, "DROP TRIGGER IF EXISTS journal_head_open_empty")

_SQLITE_GUARDS = (
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
    WHEN NOT EXISTS (
        SELECT 1 FROM journal_head WHERE id = NEW.lane AND last_seq = NEW.lane_seq - 1
        AND last_hash = NEW.prev_hash AND last_id < NEW.id
    )
    BEGIN SELECT RAISE(ABORT, 'journal append must continue the chain head of its lane'); END
    """,
    """
    CREATE TRIGGER journal_head_advance BEFORE UPDATE ON journal_head
    WHEN NEW.id IS NOT OLD.id OR NEW.last_seq IS NOT OLD.last_seq + 1
      OR NOT EXISTS (
        SELECT 1 FROM journal_entries WHERE lane = NEW.id AND lane_seq = NEW.last_seq
        AND id = NEW.last_id AND hash = NEW.last_hash
      )
    BEGIN SELECT RAISE(ABORT, 'journal head may only advance onto the next entry'); END
    """,
    """
    CREATE TRIGGER journal_head_no_delete BEFORE DELETE ON journal_head
    BEGIN SELECT RAISE(ABORT, 'journal_head is append-only: DELETE refused'); END
    """,
    f"""
    CREATE TRIGGER journal_head_open_empty BEFORE INSERT ON journal_head
    WHEN NEW.last_seq IS NOT 0 OR NEW.last_id IS NOT 0 OR NEW.last_hash IS NOT '{GENESIS}'
    BEGIN SELECT RAISE(ABORT, 'a new journal lane must start empty (chain head advance)'); END
    """,
)

_SQLITE_0002_GUARDS = (
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

# --------------------------------------------------------------------------- PostgreSQL

_PG_DROP_0002 = (
    "DROP TRIGGER IF EXISTS journal_head_advance ON journal_head",
    "DROP TRIGGER IF EXISTS journal_entries_append_at_head ON journal_entries",
    "DROP FUNCTION IF EXISTS journal_head_advance()",
    "DROP FUNCTION IF EXISTS journal_append_at_head()",
)

_PG_GUARDS = (
    """
    CREATE FUNCTION journal_append_at_head() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE journal_head
            SET last_seq = NEW.lane_seq, last_id = NEW.id, last_hash = NEW.hash
            WHERE id = NEW.lane AND last_seq = NEW.lane_seq - 1
              AND last_hash = NEW.prev_hash AND last_id < NEW.id;
        IF NOT FOUND THEN
            RAISE EXCEPTION
                'journal append must continue the chain head of its lane (entry %, lane %)',
                NEW.id, NEW.lane
                USING ERRCODE = 'integrity_constraint_violation';
        END IF;
        RETURN NULL;
    END
    $$
    """,
    """
    CREATE FUNCTION journal_head_advance() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF NEW.id <> OLD.id OR NEW.last_seq <> OLD.last_seq + 1 OR NOT EXISTS (
            SELECT 1 FROM journal_entries WHERE lane = NEW.id AND lane_seq = NEW.last_seq
                AND id = NEW.last_id AND hash = NEW.last_hash
        ) THEN
            RAISE EXCEPTION 'journal head may only advance onto the next entry (lane %)',
                OLD.id
                USING ERRCODE = 'integrity_constraint_violation';
        END IF;
        RETURN NEW;
    END
    $$
    """,
    f"""
    CREATE FUNCTION journal_head_open_empty() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF NEW.last_seq <> 0 OR NEW.last_id <> 0 OR NEW.last_hash <> '{GENESIS}' THEN
            RAISE EXCEPTION 'a new journal lane must start empty (chain head advance)'
                USING ERRCODE = 'integrity_constraint_violation';
        END IF;
        RETURN NEW;
    END
    $$
    """,
    """
    CREATE TRIGGER journal_entries_append_at_head AFTER INSERT ON journal_entries
    FOR EACH ROW EXECUTE FUNCTION journal_append_at_head()
    """,
    """
    CREATE TRIGGER journal_head_advance BEFORE UPDATE ON journal_head
    FOR EACH ROW EXECUTE FUNCTION journal_head_advance()
    """,
    """
    CREATE TRIGGER journal_head_open_empty BEFORE INSERT ON journal_head
    FOR EACH ROW EXECUTE FUNCTION journal_head_open_empty()
    """,
)

_PG_DROP_0005 = (
    "DROP TRIGGER IF EXISTS journal_head_open_empty ON journal_head",
    "DROP TRIGGER IF EXISTS journal_head_advance ON journal_head",
    "DROP TRIGGER IF EXISTS journal_entries_append_at_head ON journal_entries",
    "DROP FUNCTION IF EXISTS journal_head_open_empty()",
    "DROP FUNCTION IF EXISTS journal_head_advance()",
    "DROP FUNCTION IF EXISTS journal_append_at_head()",
)

_PG_0002_GUARDS = (
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
    CREATE TRIGGER journal_entries_append_at_head BEFORE INSERT ON journal_entries
    FOR EACH ROW EXECUTE FUNCTION journal_append_at_head()
    """,
    """
    CREATE TRIGGER journal_head_advance BEFORE UPDATE ON journal_head
    FOR EACH ROW EXECUTE FUNCTION journal_head_advance()
    """,
)


def _event_enum() -> sa.Enum:
    return sa.Enum(
        "item",
        "card_authentication",
        name="journal_event",
        native_enum=False,
        create_constraint=True,
        length=32,
    )


def _run(statements: Sequence[str]) -> None:
    for statement in statements:
        op.execute(statement)


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect not in ("sqlite", "postgresql"):
        raise NotImplementedError(f"no journal lanes for {dialect}")
    sqlite = dialect == "sqlite"
    if sqlite:
        _run(_SQLITE_DROP_0002)  # batch mode recreates the tables; the guards come back below
    else:
        _run(_PG_DROP_0002)
        op.execute("ALTER TABLE journal_entries DISABLE TRIGGER journal_entries_no_change")

    with op.batch_alter_table("journal_entries") as batch:
        batch.add_column(
            sa.Column("lane", sa.SmallInteger(), server_default=sa.text("1"), nullable=False)
        )
        batch.add_column(sa.Column("lane_seq", sa.BigInteger(), nullable=True))
        batch.add_column(
            sa.Column("event", _event_enum(), server_default=sa.text("'item'"), nullable=False)
        )
        batch.add_column(
            sa.Column("version", sa.SmallInteger(), server_default=sa.text("1"), nullable=False)
        )
    op.execute("UPDATE journal_entries SET lane_seq = id")
    with op.batch_alter_table("journal_entries") as batch:
        batch.alter_column("lane_seq", existing_type=sa.BigInteger(), nullable=False)
        batch.alter_column(
            "version",
            existing_type=sa.SmallInteger(),
            server_default=sa.text("2"),
            existing_nullable=False,
        )
        batch.create_check_constraint(
            op.f("ck_journal_entries_lane_position"), "lane >= 1 AND lane_seq >= 1"
        )
        batch.create_check_constraint(op.f("ck_journal_entries_version"), "version IN (1, 2)")
        batch.create_index("uq_journal_entries_lane_seq", ["lane", "lane_seq"], unique=True)

    with op.batch_alter_table("journal_head") as batch:
        batch.add_column(
            sa.Column("last_seq", sa.BigInteger(), server_default=sa.text("0"), nullable=False)
        )
        batch.drop_constraint(op.f("ck_journal_head_single_row"), type_="check")
        batch.create_check_constraint(op.f("ck_journal_head_lane_number"), "id BETWEEN 1 AND 64")
        batch.create_check_constraint(op.f("ck_journal_head_last_seq"), "last_seq >= 0")
    op.execute("UPDATE journal_head SET last_seq = last_id")

    if sqlite:
        _run(_SQLITE_GUARDS)
    else:
        op.execute("ALTER TABLE journal_entries ENABLE TRIGGER journal_entries_no_change")
        op.execute("CREATE SEQUENCE journal_entries_id_seq AS bigint MINVALUE 1")
        op.execute(
            "SELECT setval('journal_entries_id_seq', "
            "COALESCE((SELECT max(id) FROM journal_entries), 0) + 1, false)"
        )
        _run(_PG_GUARDS)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    sqlite = dialect == "sqlite"
    bind = op.get_bind()
    in_use = bind.execute(
        sa.text(
            "SELECT count(*) FROM journal_entries WHERE lane <> 1 OR version <> 1 "
            "OR lane_seq <> id OR event <> 'item'"
        )
    ).scalar_one()
    if in_use:
        raise RuntimeError(
            f"cannot downgrade the journal below 0005: {in_use} entries use lanes or the "
            "format-2 hash; the journal cannot become one chain again without rewriting it"
        )
    if sqlite:
        _run(_SQLITE_DROP_0005)
    else:
        _run(_PG_DROP_0005)
        op.execute("DROP SEQUENCE IF EXISTS journal_entries_id_seq")
        op.execute("ALTER TABLE journal_head DISABLE TRIGGER journal_head_no_delete")
    op.execute("DELETE FROM journal_head WHERE id <> 1")
    with op.batch_alter_table("journal_head") as batch:
        batch.drop_constraint(op.f("ck_journal_head_last_seq"), type_="check")
        batch.drop_constraint(op.f("ck_journal_head_lane_number"), type_="check")
        batch.create_check_constraint(op.f("ck_journal_head_single_row"), "id = 1")
        batch.drop_column("last_seq")
    with op.batch_alter_table("journal_entries") as batch:
        batch.drop_index("uq_journal_entries_lane_seq")
        batch.drop_constraint(op.f("ck_journal_entries_version"), type_="check")
        batch.drop_constraint(op.f("ck_journal_entries_lane_position"), type_="check")
        batch.drop_constraint(op.f("ck_journal_entries_journal_event"), type_="check")
        batch.drop_column("version")
        batch.drop_column("event")
        batch.drop_column("lane_seq")
        batch.drop_column("lane")
    if sqlite:
        _run(_SQLITE_0002_GUARDS)
    else:
        op.execute("ALTER TABLE journal_head ENABLE TRIGGER journal_head_no_delete")
        _run(_PG_0002_GUARDS)
