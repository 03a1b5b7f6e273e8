"""Same options → same content (on both engines); modes fresh, force and append."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from seed_helpers import AS_OF, content_digest, seed
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cardsvc.db import migrate
from cardsvc.db.engine import make_engine
from cardsvc.db.journal import append_entry
from cardsvc.db.models import Card, ItemCode, Outcome, Person, Registration, RegistrationStatus
from cardsvc.idcheck import is_valid_ssn
from cardsvc.seed.errors import DatabaseNotEmptyError, SeedStateError
from cardsvc.seed.options import SeedMode


def _persons(engine_url: str) -> int:
    engine = make_engine(engine_url)
    try:
        with Session(engine) as s:
            return int(s.scalar(select(func.count()).select_from(Person)) or 0)
    finally:
        engine.dispose()


def test_same_seed_same_content_and_another_seed_differs(database_url: str) -> None:
    engine, first = seed(database_url, seed=11)
    try:
        assert first.schema_created
        one = content_digest(engine)
        _, again = seed(database_url, seed=11, mode=SeedMode.FORCE)
        assert again.wiped["persons"] == first.added["persons"]
        assert content_digest(engine) == one
        seed(database_url, seed=12, mode=SeedMode.FORCE)
        assert content_digest(engine) != one
    finally:
        engine.dispose()


def test_both_engines_hold_the_same_content(tmp_path: Path, pg_database_url: str) -> None:
    lite, _ = seed(f"sqlite:///{tmp_path / 'a.db'}", seed=5, persons=120)
    pg, _ = seed(pg_database_url, seed=5, persons=120)
    try:
        assert content_digest(lite) == content_digest(pg)
    finally:
        lite.dispose()
        pg.dispose()


def test_batch_size_does_not_change_content(tmp_path: Path) -> None:
    a, _ = seed(f"sqlite:///{tmp_path / 'a.db'}", persons=90, batch_persons=7)
    b, _ = seed(f"sqlite:///{tmp_path / 'b.db'}", persons=90)
    try:
        assert content_digest(a) == content_digest(b)
    finally:
        a.dispose()
        b.dispose()


def test_a_database_with_data_is_refused_and_left_alone(database_url: str) -> None:
    engine, _ = seed(database_url, persons=40)
    try:
        before = content_digest(engine)
        with pytest.raises(DatabaseNotEmptyError, match=r"--append .* --force"):
            seed(database_url, persons=40, seed=99)
        assert content_digest(engine) == before
    finally:
        engine.dispose()


def test_append_continues_ids_and_keeps_numbers_unique(database_url: str) -> None:
    engine, first = seed(database_url, persons=100)
    try:
        _, more = seed(database_url, persons=60, seed=3, mode=SeedMode.APPEND)
        assert more.first_person_id == 101
        assert more.first_card_id == first.added["cards"] + 1
        assert "sites" not in more.added
        assert "operators" not in more.added
        with Session(engine) as s:
            persons = s.scalars(select(Person)).all()
            cards = s.scalars(select(Card)).all()
            open_regs = s.execute(
                select(Registration.person_id, Registration.kind).where(
                    Registration.status == RegistrationStatus.OPEN
                )
            ).all()
        assert len(persons) == 160
        assert len({p.ssn for p in persons}) == 160
        assert all(is_valid_ssn(p.ssn) for p in persons)
        assert len({c.card_number for c in cards}) == len(cards)
        assert len(set(open_regs)) == len(open_regs)
    finally:
        engine.dispose()


def test_append_to_an_empty_database_seeds_it(tmp_path: Path) -> None:
    engine, report = seed(f"sqlite:///{tmp_path / 'a.db'}", persons=20, mode=SeedMode.APPEND)
    try:
        assert report.added["sites"] > 0
        assert report.added["persons"] == 20
        assert report.mode is SeedMode.FRESH
    finally:
        engine.dispose()


def test_force_refuses_to_delete_the_journal(database_url: str) -> None:
    engine, _ = seed(database_url, persons=30)
    try:
        with Session(engine) as s:
            append_entry(
                s,
                at=datetime(2026, 6, 1, tzinfo=UTC),
                site_code="370402",
                item=ItemCode.E01,
                outcome=Outcome.OK,
            )
            s.commit()
        with pytest.raises(SeedStateError, match="journal"):
            seed(database_url, persons=30, mode=SeedMode.FORCE)
        assert _persons(database_url) == 30
    finally:
        engine.dispose()


def test_an_outdated_schema_is_refused(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        migrate.upgrade(engine, "0001")
        with pytest.raises(SeedStateError, match="cardsvc db upgrade"):
            seed(database_url, persons=10)
        assert migrate.current_revision(engine) == "0001"
    finally:
        engine.dispose()


def test_as_of_bounds_every_date(tmp_path: Path) -> None:
    engine, report = seed(f"sqlite:///{tmp_path / 'a.db'}", persons=60, seed=1)
    try:
        assert report.as_of == AS_OF
        with Session(engine) as s:
            latest = s.scalar(select(func.max(Card.state_changed_at)))
            assert latest is not None
            assert latest.date() <= AS_OF
    finally:
        engine.dispose()
