"""The per-process cache of site subtrees the scope checks use (cardsvc.services.scope)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from api_harness import migrated
from sqlalchemy import Engine, insert

from cardsvc.db.engine import make_engine
from cardsvc.db.models import Site, SiteLevel
from cardsvc.db.uow import UnitOfWork, make_session_factory
from cardsvc.services.scope import SubtreeCache


def _engine(path: Path) -> Engine:
    engine = make_engine(migrated(f"sqlite:///{path}"))
    with UnitOfWork(make_session_factory(engine)) as uow:
        uow.session.add(Site(code="370402", level=SiteLevel.DISTRICT, name="市中区"))
        uow.session.flush()
        uow.session.add(
            Site(code="370402001", parent_code="370402", level=SiteLevel.TOWNSHIP, name="街道")
        )
    return engine


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    eng = _engine(tmp_path / "a.db")
    try:
        yield eng
    finally:
        eng.dispose()


def _subtree(cache: SubtreeCache, engine: Engine, root: str = "370402") -> frozenset[str]:
    with UnitOfWork(make_session_factory(engine, read_only=True)) as uow:
        return cache.subtree(uow.session, root)


def _add_site_behind_the_orm(engine: Engine, code: str) -> None:
    """A change the cache cannot see (another process, a bulk load)."""
    with engine.begin() as conn:
        conn.execute(
            insert(Site).values(
                code=code, parent_code="370402", level=SiteLevel.TOWNSHIP.value, name="新"
            )
        )


def test_a_subtree_is_reused_until_its_time_runs_out(engine: Engine) -> None:
    clock = [1000.0]
    cache = SubtreeCache(ttl_s=30, clock=lambda: clock[0])
    assert _subtree(cache, engine) == {"370402", "370402001"}
    _add_site_behind_the_orm(engine, "370402002")
    clock[0] += 29
    assert _subtree(cache, engine) == {"370402", "370402001"}  # cached
    clock[0] += 2
    assert _subtree(cache, engine) == {"370402", "370402001", "370402002"}
    _add_site_behind_the_orm(engine, "370402003")
    cache.clear()
    assert "370402003" in _subtree(cache, engine)


def test_a_site_committed_through_the_orm_clears_the_cache_at_once(engine: Engine) -> None:
    cache = SubtreeCache(ttl_s=3600)
    assert _subtree(cache, engine) == {"370402", "370402001"}
    factory = make_session_factory(engine)
    with UnitOfWork(factory) as uow:
        uow.session.add(
            Site(code="370402009", parent_code="370402", level=SiteLevel.TOWNSHIP, name="九")
        )
        uow.session.flush()
        # inside the writing transaction: seen, but not cached (it could roll back)
        assert "370402009" in cache.subtree(uow.session, "370402")
        uow.rollback()
    assert "370402009" not in _subtree(cache, engine)
    with UnitOfWork(factory) as uow:
        uow.session.add(
            Site(code="370402009", parent_code="370402", level=SiteLevel.TOWNSHIP, name="九")
        )
    assert "370402009" in _subtree(cache, engine)


def test_databases_do_not_share_subtrees(engine: Engine, tmp_path: Path) -> None:
    cache = SubtreeCache(ttl_s=3600)
    other = make_engine(migrated(f"sqlite:///{tmp_path / 'b.db'}"))
    try:
        assert _subtree(cache, engine) == {"370402", "370402001"}
        assert _subtree(cache, other) == frozenset()  # no such site there
        assert _subtree(cache, engine, "370402001") == {"370402001"}
    finally:
        other.dispose()
