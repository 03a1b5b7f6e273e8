"""The unit of work, and the `db` and `journal` commands."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from contextlib import AbstractContextManager

import pytest
from sqlalchemy import Connection, Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from cardsvc.cli import db as cli_db
from cardsvc.cli import journal as cli_journal
from cardsvc.cli.main import COMMAND_MODULES
from cardsvc.db import migrate
from cardsvc.db.errors import DatabaseError
from cardsvc.db.journal import append_entry
from cardsvc.db.models import ItemCode, Outcome, Site, SiteLevel
from cardsvc.db.uow import UnitOfWork

GuardsOff = Callable[[Engine], AbstractContextManager[Connection]]


class Boom(Exception):
    pass


def _sites(factory: sessionmaker[Session]) -> int:
    with UnitOfWork(factory) as uow:
        return uow.session.scalar(select(func.count()).select_from(Site)) or 0


def _add_site_then_fail(factory: sessionmaker[Session]) -> None:
    with UnitOfWork(factory) as uow:
        uow.session.add(Site(code="370403", level=SiteLevel.DISTRICT, name="薛城区"))
        uow.session.flush()
        raise Boom


def test_unit_of_work_commits_on_success(session_factory: sessionmaker[Session]) -> None:
    with UnitOfWork(session_factory) as uow:
        uow.session.add(Site(code="370400", level=SiteLevel.CITY, name="枣庄市"))
    assert _sites(session_factory) == 1


def test_unit_of_work_rolls_back_on_error(session_factory: sessionmaker[Session]) -> None:
    with pytest.raises(Boom):
        _add_site_then_fail(session_factory)
    assert _sites(session_factory) == 0


def test_unit_of_work_session_outside_the_block_is_an_error(
    session_factory: sessionmaker[Session],
) -> None:
    uow = UnitOfWork(session_factory)
    with pytest.raises(DatabaseError, match="not open"):
        _ = uow.session


def _cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="cardsvc")
    subparsers = parser.add_subparsers(dest="command")
    cli_db.register(subparsers)
    cli_journal.register(subparsers)
    args = parser.parse_args(list(argv))
    result: int = args.func(args)
    return result


def test_commands_are_registered() -> None:
    assert {"cardsvc.cli.db", "cardsvc.cli.journal"} <= set(COMMAND_MODULES)


def test_db_upgrade_current_and_journal_verify(
    engine: Engine, database_url: str, guards_off: GuardsOff, capsys: pytest.CaptureFixture[str]
) -> None:
    head = migrate.head_revision()
    assert _cli("db", "current", "--database", database_url) == 0
    assert "empty" in capsys.readouterr().out
    assert _cli("db", "upgrade", "--database", database_url) == 0
    assert f"upgraded from empty to {head}" in capsys.readouterr().out
    assert _cli("db", "current", "--database", database_url) == 0
    assert f"revision {head} (head)" in capsys.readouterr().out

    factory = sessionmaker(bind=engine)
    for _ in range(3):
        with UnitOfWork(factory) as uow:
            append_entry(uow.session, site_code="370402", item=ItemCode.E02, outcome=Outcome.OK)
    assert _cli("journal", "verify", "--database", database_url) == 0
    assert "journal OK: 3 entries" in capsys.readouterr().out

    with guards_off(engine) as conn:
        conn.exec_driver_sql("UPDATE journal_entries SET item = 'E03' WHERE id = 2")
    assert _cli("journal", "verify", "--database", database_url) == 1
    assert "TAMPERED: edited at entry 2" in capsys.readouterr().out


def test_commands_report_an_unreachable_database_clearly() -> None:
    with pytest.raises(DatabaseError, match=r"127\.0\.0\.1"):
        _cli("db", "current", "--database", "postgresql://nobody@127.0.0.1:1/none")


def test_journal_verify_needs_a_migrated_database(database_url: str, engine: Engine) -> None:
    with pytest.raises(DatabaseError, match="cardsvc db upgrade"):
        _cli("journal", "verify", "--database", database_url)
