"""Start-up: open the database once, check it, and hand out units of work.

db = open_database(settings.database_url)   # engine + durability + schema checks
with db.unit_of_work() as uow:
    ...
db.dispose()                                # at shut-down
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property

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
    autocommit_engine: Engine | None = None
    """PostgreSQL: a second engine (its own pool) whose connections stay in autocommit,
    for :meth:`single_statements`; made from `engine`'s URL when not given. (An
    ``isolation_level`` execution option on `engine` would switch connections on every
    check-out, and an autocommit option engine cannot be switched back by another
    option: its connections stay in autocommit.)"""

    def __post_init__(self) -> None:
        if self.autocommit_engine is None and self.engine.dialect.name == "postgresql":
            object.__setattr__(
                self, "autocommit_engine", make_engine(self.engine.url, autocommit=True)
            )

    def unit_of_work(self) -> UnitOfWork:
        """A unit of work for a business operation (commit on success, rollback on error)."""
        return UnitOfWork(self.session_factory)

    def read_only_unit_of_work(self) -> UnitOfWork:
        """A unit of work for enquiries: does not queue behind writers on SQLite."""
        return UnitOfWork(self.read_only_session_factory)

    @contextmanager
    def single_statements(self, *, writes: bool) -> Iterator[Session]:
        """A session whose statements need no transaction around them.

        PostgreSQL: autocommit, so each statement is its own transaction and no
        BEGIN/COMMIT round trips are spent; a row lock is held only while its statement
        runs (write only statements that are complete on their own, such as an upsert
        or the journal's one-statement append). SQLite: a unit of work (a writing one
        when `writes`), committed at the end: SQLite statements cost no round trip, and
        its BEGIN IMMEDIATE keeps a later write from failing on a read snapshot.
        """
        factory = self._autocommit_sessions
        if factory is None:
            unit = self.unit_of_work() if writes else self.read_only_unit_of_work()
            with unit as uow:
                yield uow.session
            return
        shared: Session | None = getattr(self._shared, "session", None)
        if shared is not None:  # inside sharing_statements: autocommit, nothing to join
            yield shared
            return
        with factory() as session:
            yield session

    @contextmanager
    def sharing_statements(self) -> Iterator[None]:
        """Within this block, :meth:`single_statements` in this thread yields ONE session.

        For a request whose steps each ask for single statements (the bearer lookup, then
        an enquiry): one session and one pooled connection instead of one per step. The
        session is in autocommit, so sharing it joins no transaction. SQLite: no effect
        (its single statements are units of work, each committed at its end).
        """
        factory = self._autocommit_sessions
        if factory is None or getattr(self._shared, "session", None) is not None:
            yield
            return
        with factory() as session:
            self._shared.session = session
            try:
                yield
            finally:
                self._shared.session = None

    @cached_property
    def _shared(self) -> threading.local:
        return threading.local()

    @cached_property
    def _autocommit_sessions(self) -> sessionmaker[Session] | None:
        if self.autocommit_engine is None:  # SQLite
            return None
        return sessionmaker(bind=self.autocommit_engine, expire_on_commit=False)

    def dispose(self) -> None:
        self.engine.dispose()
        if self.autocommit_engine is not None:
            self.autocommit_engine.dispose()


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
