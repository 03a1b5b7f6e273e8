"""INSERT … ON CONFLICT for both engines (SQLite ≥ 3.35 and PostgreSQL share the syntax)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def upsert_insert(session: Session, entity: Any) -> postgresql.Insert | sqlite.Insert:
    """An INSERT on `entity` that supports ``on_conflict_do_update/nothing`` on this engine."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(entity)
    if dialect == "sqlite":
        return sqlite.insert(entity)
    raise NotImplementedError(f"no upsert for {dialect!r}")  # normalise_url refuses others
