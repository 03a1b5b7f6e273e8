"""Alembic, driven from code: the scripts ship inside the package (cardsvc/db/migrations).

No alembic.ini and nothing relative to the working directory: the
configuration is built here and env.py receives an open connection (or a URL)
through ``Config.attributes``.

On SQLite, migrations run with ``PRAGMA foreign_keys = OFF`` (batch mode
rebuilds tables by copy-and-rename, which foreign keys would break), inside one
transaction, and ``PRAGMA foreign_key_check`` must come back empty before it
commits.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine

from cardsvc.db.engine import READ_ONLY
from cardsvc.db.errors import MigrationError

logger = logging.getLogger(__name__)

SCRIPT_LOCATION = "cardsvc.db:migrations"


def alembic_config() -> Config:
    """An Alembic configuration pointing at the packaged migration scripts."""
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    config.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    return config


def head_revision() -> str:
    """The newest revision the code knows."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the package always ships revisions
        raise MigrationError("no migration scripts found in cardsvc/db/migrations")
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None for a database never migrated."""
    with engine.connect().execution_options(**{READ_ONLY: True}) as conn:
        revision = MigrationContext.configure(conn).get_current_revision()
        conn.rollback()
    return revision


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply the migrations up to `revision` (default: the newest)."""
    before = current_revision(engine)
    _run(engine, lambda config: command.upgrade(config, revision))
    logger.info("database upgraded from %s to %s", before or "empty", revision)


def downgrade(engine: Engine, revision: str) -> None:
    """Undo migrations down to `revision` ("base" removes every table)."""
    _run(engine, lambda config: command.downgrade(config, revision))


def assert_schema_current(engine: Engine) -> None:
    """Raise MigrationError unless the database is at the newest revision."""
    current = current_revision(engine)
    head = head_revision()
    if current != head:
        state = "empty (never migrated)" if current is None else f"at revision {current}"
        raise MigrationError(
            f"the database schema is {state}, the code needs {head}: run `cardsvc db upgrade`"
        )


def schema_differences(engine: Engine) -> list[Any]:
    """What Alembic's autogenerate sees between the models and the database (empty = equal)."""
    from cardsvc.db.models import Base  # noqa: PLC0415 - only needed here

    with engine.connect().execution_options(**{READ_ONLY: True}) as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diffs: list[Any] = compare_metadata(context, Base.metadata)
        conn.rollback()
    return diffs


def new_revision(engine: Engine, message: str, rev_id: str) -> None:
    """Developer helper: autogenerate a revision script against `engine` (review it!)."""
    _run(
        engine,
        lambda config: command.revision(config, message=message, autogenerate=True, rev_id=rev_id),
    )


def _run(engine: Engine, action: Callable[[Config], object]) -> None:
    config = alembic_config()
    with engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:
            _pragma_outside_transaction(conn, "PRAGMA foreign_keys = OFF")
        try:
            with conn.begin():
                config.attributes["connection"] = conn
                action(config)
                if sqlite:
                    broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise MigrationError(
                            f"migration left {len(broken)} rows with broken foreign keys, "
                            f"first: {tuple(broken[0])}; rolled back"
                        )
        finally:
            if sqlite:
                _pragma_outside_transaction(conn, "PRAGMA foreign_keys = ON")


def _pragma_outside_transaction(conn: Connection, statement: str) -> None:
    """Run a PRAGMA on the raw connection, outside any transaction (where it takes effect)."""
    raw = conn.connection.dbapi_connection
    if raw is None:  # pragma: no cover - an open Connection always has one
        raise MigrationError("no DB-API connection")
    cursor = raw.cursor()
    try:
        cursor.execute(statement)
    finally:
        cursor.close()
