"""Start-up: open the database once, check it, and hand out units of work.

db = open_database(settings.database_url)   # engine + durability + schema checks
with db.unit_of_work() as uow:
    ...
db.dispose()                                # at shut-down
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.engine import URL
from sqlalchemy.orm import Session, sessionmaker

from cardsvc.db.engine import check_durability, make_engine
from cardsvc.db.migrate import assert_schema_current
from cardsvc.db.uow import UnitOfWork, make_session_factory


@dataclass(frozen=True)
class Database:
    """The engine and its session factories; build it with `open_database`."""

    engine: Engine
    session_factory: sessionmaker[Session]
    read_only_session_factory: sessionmaker[Session]

    def unit_of_work(self) -> UnitOfWork:
        """A unit of work for a business operation (commit on success, rollback on error)."""
        return UnitOfWork(self.session_factory)

    def read_only_unit_of_work(self) -> UnitOfWork:
        """A unit of work for enquiries: does not queue behind writers on SQLite."""
        return UnitOfWork(self.read_only_session_factory)

    def dispose(self) -> None:
        self.engine.dispose()


def open_database(url: str | URL, *, require_current_schema: bool = True) -> Database:
    """Make the engine, refuse a non-durable database, and (by default) an outdated schema.

    Raises DurabilityError or MigrationError (both DatabaseError); a database
    that cannot be reached raises SQLAlchemy's OperationalError.
    """
    engine = make_engine(url)
    try:
        check_durability(engine)
        if require_current_schema:
            assert_schema_current(engine)
    except BaseException:
        engine.dispose()
        raise
    return Database(
        engine=engine,
        session_factory=make_session_factory(engine),
        read_only_session_factory=make_session_factory(engine, read_only=True),
    )
