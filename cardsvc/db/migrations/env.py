"""Alembic environment for cardsvc; run through cardsvc.db.migrate, not the alembic CLI.

The caller passes an open connection in ``config.attributes["connection"]``
(cardsvc.db.migrate does), or a URL in ``config.attributes["url"]``. Nothing is
read from alembic.ini or from paths relative to the working directory.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from cardsvc.db.engine import make_engine
from cardsvc.db.errors import MigrationError
from cardsvc.db.models import Base

config = context.config
target_metadata = Base.metadata


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )


def _run(connection: Connection) -> None:
    _configure(connection)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_offline() -> None:
    url = config.attributes.get("url") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise MigrationError("no database URL for offline migrations")
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=str(url).startswith("sqlite"),
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.attributes.get("url") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise MigrationError("pass a connection or a URL in config.attributes")
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            _run(conn)
            conn.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
