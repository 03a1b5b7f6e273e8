"""Migrations build exactly the models' schema, from empty, on both engines."""

from __future__ import annotations

from sqlalchemy import Engine, inspect, select

from cardsvc.db import migrate
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
