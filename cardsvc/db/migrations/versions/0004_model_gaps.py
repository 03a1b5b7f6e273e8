"""Model gaps: why an employment ended, when a contribution was paid, months paid
before the detail, why a card was cancelled, one active relation per scheme.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28

- registrations: ``end_date`` (the employment's last day) and ``separation_reason``
  (why it ended; B01 reads it), both only on employment registrations.
- contributions: ``paid_on`` (the day paid, for the yearly resident schemes).
- prior_contribution_months (new): months paid per person and scheme before the
  monthly detail on record begins (``before_month``).
- cards: ``cancellation_reason`` (C08: death, emigration), only on cancelled cards.
- insurance_relations: partial unique index
  ``uq_insurance_relations_one_active_per_scheme`` (person, scheme) WHERE status =
  'active'. The upgrade refuses, naming how many, a database that already holds two
  active relations of one person in one scheme: end the surplus ones first.

Every new column is NULLable, so the upgrade rewrites no existing row: on PostgreSQL
each ADD COLUMN is a catalogue change and the CHECK constraints are validated
against the (NULL) column at once. SQLite cannot add a table constraint to an
existing table without copying it (Alembic batch mode); the checks are attached as
column constraints of the new columns instead (SQLite checks a column constraint
like a table one), so no table is copied and DROP COLUMN can undo them.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from cardsvc.db.errors import MigrationError

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SEPARATION_REASONS = (
    "contract_expired",
    "dismissed",
    "employer_closed",
    "employer_at_fault",
    "mutual_employer_proposed",
    "mutual_employee_proposed",
    "resigned",
    "retired",
)
CANCELLATION_REASONS = ("death", "emigration")
SCHEMES = (
    "employee_pension",
    "resident_pension",
    "employee_medical",
    "resident_medical",
    "unemployment",
    "work_injury",
)
_MONTH_CHECK = "{col} BETWEEN 190001 AND 999912 AND {col} % 100 BETWEEN 1 AND 12"
_ACTIVE = "status = 'active'"


def _in(column: str, values: Sequence[str]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


# (table, column, SQL type, [(constraint name, check)]) — in the order added
_COLUMNS: tuple[tuple[str, str, str, tuple[tuple[str, str], ...]], ...] = (
    (
        "registrations",
        "end_date",
        "DATE",
        (
            (
                "ck_registrations_end_date",
                "end_date IS NULL OR start_date IS NULL OR end_date >= start_date",
            ),
        ),
    ),
    (
        "registrations",
        "separation_reason",
        "VARCHAR(32)",
        (
            (
                "ck_registrations_separation_reason",
                _in("separation_reason", SEPARATION_REASONS),
            ),
            (
                "ck_registrations_separation_fields",
                "kind = 'employment' OR (end_date IS NULL AND separation_reason IS NULL)",
            ),
        ),
    ),
    ("contributions", "paid_on", "DATE", ()),
    (
        "cards",
        "cancellation_reason",
        "VARCHAR(32)",
        (
            (
                "ck_cards_cancellation_reason",
                _in("cancellation_reason", CANCELLATION_REASONS),
            ),
            (
                "ck_cards_cancellation_reason_state",
                "cancellation_reason IS NULL OR state = 'cancelled'",
            ),
        ),
    ),
)


_TWICE_ACTIVE = (
    "SELECT person_id, scheme FROM insurance_relations WHERE status = 'active' "
    "GROUP BY person_id, scheme HAVING count(*) > 1"
)
_COUNT_TWICE_ACTIVE = (
    "SELECT count(*) FROM (SELECT person_id FROM insurance_relations WHERE status = 'active' "
    "GROUP BY person_id, scheme HAVING count(*) > 1) AS twice"
)


def _check_active_relations(bind: sa.Connection) -> None:
    found = bind.execute(sa.text(_COUNT_TWICE_ACTIVE)).scalar_one()
    if found:
        raise MigrationError(
            f"{found} person-and-scheme pairs have more than one active insurance relation; "
            "migration 0004 allows one: end the surplus relations (status 'ended', with an "
            "end_date), then run `cardsvc db upgrade` again. Find them with: " + _TWICE_ACTIVE
        )


def upgrade() -> None:
    bind = op.get_bind()
    sqlite = bind.dialect.name == "sqlite"
    for table, column, sql_type, checks in _COLUMNS:
        if sqlite:
            inline = "".join(f" CONSTRAINT {name} CHECK ({check})" for name, check in checks)
            op.execute(f"ALTER TABLE {table} ADD COLUMN {column} {sql_type}{inline}")
        else:
            op.execute(f"ALTER TABLE {table} ADD COLUMN {column} {sql_type}")
            for name, check in checks:
                op.create_check_constraint(op.f(name), table, sa.text(check))

    op.create_table(
        "prior_contribution_months",
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column(
            "scheme",
            sa.Enum(*SCHEMES, name="scheme", native_enum=False, create_constraint=True, length=32),
            nullable=False,
        ),
        sa.Column("months", sa.Integer(), nullable=False),
        sa.Column("before_month", sa.Integer(), nullable=False),
        sa.CheckConstraint("months >= 0", name=op.f("ck_prior_contribution_months_months")),
        sa.CheckConstraint(
            _MONTH_CHECK.format(col="before_month"),
            name=op.f("ck_prior_contribution_months_before_month"),
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["persons.id"],
            name=op.f("fk_prior_contribution_months_person_id_persons"),
        ),
        sa.PrimaryKeyConstraint("person_id", "scheme", name=op.f("pk_prior_contribution_months")),
    )

    _check_active_relations(bind)
    op.create_index(
        op.f("uq_insurance_relations_one_active_per_scheme"),
        "insurance_relations",
        ["person_id", "scheme"],
        unique=True,
        postgresql_where=sa.text(_ACTIVE),
        sqlite_where=sa.text(_ACTIVE),
    )


def downgrade() -> None:
    bind = op.get_bind()
    sqlite = bind.dialect.name == "sqlite"
    op.drop_index(
        op.f("uq_insurance_relations_one_active_per_scheme"), table_name="insurance_relations"
    )
    op.drop_table("prior_contribution_months")
    for table, column, _sql_type, checks in reversed(_COLUMNS):
        if not sqlite:
            for name, _check in checks:
                op.drop_constraint(op.f(name), table, type_="check")
        op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
