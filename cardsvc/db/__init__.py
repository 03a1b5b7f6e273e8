"""Persistence: SQLAlchemy 2 models, engines for SQLite and PostgreSQL, Alembic
migrations, the unit of work, and the hash-chained transaction journal.

Start-up (entry points): ``db = open_database(settings.database_url)``, then
``with db.unit_of_work() as uow: ...``. Importing this package opens nothing.
"""

from cardsvc.db.database import Database, open_database
from cardsvc.db.engine import READ_ONLY, check_durability, make_engine
from cardsvc.db.errors import DatabaseError, DurabilityError, JournalError, MigrationError
from cardsvc.db.uow import UnitOfWork, make_session_factory

__all__ = [
    "READ_ONLY",
    "Database",
    "DatabaseError",
    "DurabilityError",
    "JournalError",
    "MigrationError",
    "UnitOfWork",
    "check_durability",
    "make_engine",
    "make_session_factory",
    "open_database",
]
