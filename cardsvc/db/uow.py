"""Unit of work: one transaction around one business operation (cosmicpython style).

    factory = make_session_factory(engine)
    with UnitOfWork(factory) as uow:
        card = uow.session.get(Card, card_id)
        ...
    # committed here; an exception inside the block rolls back instead

`uow.commit()` commits early (the rest of the block then runs in a new
transaction); `uow.rollback()` abandons the work so far.
"""

from __future__ import annotations

from types import TracebackType
from typing import Self

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from cardsvc.db.engine import READ_ONLY
from cardsvc.db.errors import DatabaseError


def make_session_factory(engine: Engine, *, read_only: bool = False) -> sessionmaker[Session]:
    """Sessions on `engine`; objects stay readable after commit (expire_on_commit=False).

    `read_only=True` starts SQLite transactions with a deferred BEGIN so that
    enquiries do not queue behind writers; never write through such a session.
    """
    bind = engine.execution_options(**{READ_ONLY: True}) if read_only else engine
    return sessionmaker(bind=bind, expire_on_commit=False)


class UnitOfWork:
    """Commit on a clean exit, roll back on an exception; the session is closed either way."""

    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self._factory = session_factory
        self._session: Session | None = None

    @property
    def session(self) -> Session:
        if self._session is None:
            raise DatabaseError("the unit of work is not open: use it in a `with` block")
        return self._session

    def __enter__(self) -> Self:
        if self._session is not None:
            raise DatabaseError("the unit of work is already open")
        self._session = self._factory()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        session = self.session
        self._session = None
        try:
            if exc_type is None:
                session.commit()
            else:
                session.rollback()
        finally:
            session.close()

    def commit(self) -> None:
        self.session.commit()

    def rollback(self) -> None:
        self.session.rollback()
