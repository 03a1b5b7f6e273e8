"""Migrations build exactly the models' schema, from empty, on both engines."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import Engine, inspect, select, text

from cardsvc.db import migrate
from cardsvc.db.errors import MigrationError
from cardsvc.db.journal import GENESIS_HASH
from cardsvc.db.models import Base, JournalHead


def test_upgrade_from_empty_matches_the_models(engine: Engine) -> None:
    assert migrate.current_revision(engine) is None
    migrate.upgrade(engine)
    assert migrate.current_revision(engine) == migrate.head_revision()
    assert migrate.schema_differences(engine) == []
    tables = set(inspect(engine).get_table_names())
    assert set(Base.metadata.tables) <= tables


def test_a_difference_would_be_seen(engine: Engine) -> None:
    """The comparison is not vacuous: a column the models lack is reported."""
    migrate.upgrade(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE persons ADD COLUMN nickname VARCHAR(20)")
    diffs = migrate.schema_differences(engine)
    assert any(d[0] == "remove_column" and d[2] == "persons" for d in diffs)


def test_upgrade_seeds_the_empty_chain_head(migrated_engine: Engine) -> None:
    with migrated_engine.connect() as conn:
        head = conn.execute(
            select(JournalHead.id, JournalHead.last_id, JournalHead.last_hash)
        ).one()
    assert tuple(head) == (1, 0, GENESIS_HASH)


def test_downgrade_to_base_and_up_again(migrated_engine: Engine) -> None:
    migrate.downgrade(migrated_engine, "base")
    assert migrate.current_revision(migrated_engine) is None
    assert set(inspect(migrated_engine).get_table_names()) <= {"alembic_version"}
    migrate.upgrade(migrated_engine)
    assert migrate.schema_differences(migrated_engine) == []


def test_upgrade_twice_is_a_no_op(migrated_engine: Engine) -> None:
    migrate.upgrade(migrated_engine)
    assert migrate.current_revision(migrated_engine) == migrate.head_revision()


def _rows_at_0003(engine: Engine, *, twice_active: bool) -> None:
    """A person with a card and relations, written at revision 0003 (before 0004)."""
    migrate.upgrade(engine, "0003")
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO sites (code, level, name) VALUES ('370402', 'district', 'x')")
        )
        conn.execute(
            text(
                "INSERT INTO persons (id, ssn, name, sex, nationality, birth_date, "
                "residence_site_code, employment_status) VALUES (1, '370402199001011238', "
                "'张三', 'male', '01', :born, '370402', 'employed')"
            ),
            {"born": date(1990, 1, 1)},
        )
        for status in ("active", "active" if twice_active else "ended"):
            conn.execute(
                text(
                    "INSERT INTO insurance_relations (person_id, scheme, status, start_date) "
                    "VALUES (1, 'resident_medical', :status, :start)"
                ),
                {"status": status, "start": date(2020, 1, 1)},
            )


def test_0004_keeps_the_rows_and_can_be_undone(engine: Engine) -> None:
    _rows_at_0003(engine, twice_active=False)
    migrate.upgrade(engine, "0004")
    with engine.begin() as conn:
        relations = conn.execute(text("SELECT status FROM insurance_relations")).scalars().all()
        assert sorted(relations) == ["active", "ended"]
        conn.execute(
            text(
                "INSERT INTO prior_contribution_months (person_id, scheme, months, before_month) "
                "VALUES (1, 'employee_pension', 120, 202301)"
            )
        )
    migrate.downgrade(engine, "0003")
    assert "prior_contribution_months" not in inspect(engine).get_table_names()
    columns = {c["name"] for c in inspect(engine).get_columns("cards")}
    assert "cancellation_reason" not in columns
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM insurance_relations")).scalar_one() == 2
    migrate.upgrade(engine)
    assert migrate.schema_differences(engine) == []


def test_0004_refuses_two_active_relations_in_one_scheme(engine: Engine) -> None:
    _rows_at_0003(engine, twice_active=True)
    with pytest.raises(MigrationError, match="1 person-and-scheme pairs"):
        migrate.upgrade(engine, "0004")
    assert migrate.current_revision(engine) == "0003"


def test_postgresql_rate_counters_write_no_wal(pg_engine: Engine) -> None:
    """Migration 0007: the per-request counter is UNLOGGED (no WAL, no flush to wait for)."""
    with pg_engine.connect() as conn:
        persistence = conn.execute(
            text("SELECT relpersistence FROM pg_class WHERE relname = 'rate_counters'")
        ).scalar_one()
        journal = conn.execute(
            text("SELECT relpersistence FROM pg_class WHERE relname = 'journal_entries'")
        ).scalar_one()
    assert (persistence, journal) == ("u", "p")  # the journal stays durable
