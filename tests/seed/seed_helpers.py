"""Helpers shared by the seeder tests (imported by name: `from seed_helpers import ...`)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from sqlalchemy import Engine, select

from cardsvc.db.engine import make_engine
from cardsvc.db.models import Base
from cardsvc.seed.options import SeedOptions
from cardsvc.seed.runner import SeedReport, seed_database
from cardsvc.seed.tables import WRITE_ORDER

AS_OF = date(2026, 6, 30)
"""A fixed as-of day for every seeded test database."""
SMALL = 200


def _normal(value: object) -> object:
    if isinstance(value, Decimal):
        return str(value.normalize())
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, frozenset):
        return sorted(_normal(v) for v in value)  # type: ignore[type-var]
    return value


def content_digest(engine: Engine, tables: tuple[str, ...] = WRITE_ORDER) -> str:
    """SHA-256 over every seeded table's rows in primary-key order (engine-neutral values)."""
    digest = hashlib.sha256()
    with engine.connect() as conn:
        for name in tables:
            table = Base.metadata.tables[name]
            digest.update(name.encode())
            for row in conn.execute(select(table).order_by(*table.primary_key.columns)):
                digest.update(repr([_normal(v) for v in row]).encode())
    return digest.hexdigest()


@dataclass(frozen=True)
class Seeded:
    engine: Engine
    url: str
    report: SeedReport
    backend: str


def seed(url: str, **options: Any) -> tuple[Engine, SeedReport]:
    """Seed `url` (engine left open: dispose it) with the test defaults."""
    options.setdefault("as_of", AS_OF)
    options.setdefault("persons", SMALL)
    options.setdefault("scrypt_n", 2)
    engine = make_engine(url, busy_timeout_s=10)
    return engine, seed_database(engine, SeedOptions(**options))
