"""`cardsvc journal verify`: walk the hash chain; exit 1 if it was tampered with."""

from __future__ import annotations

import argparse

from cardsvc.cli.db import add_database_argument, open_engine
from cardsvc.db.journal import verify_journal
from cardsvc.db.migrate import assert_schema_current
from cardsvc.db.uow import UnitOfWork, make_session_factory

EXIT_OK = 0
EXIT_TAMPERED = 1


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("journal", help="the transaction journal")
    actions = parser.add_subparsers(dest="journal_action", metavar="ACTION", required=True)
    verify = actions.add_parser(
        "verify",
        help="check every lane of the hash chain; print OK with the count and the anchor of "
        "the lane heads, or the first "
        "edited/deleted/inserted entry (exit 1)",
    )
    add_database_argument(verify)
    verify.set_defaults(func=run_verify)


def run_verify(args: argparse.Namespace) -> int:
    with open_engine(args) as (engine, _shown):
        assert_schema_current(engine)
        with UnitOfWork(make_session_factory(engine, read_only=True)) as uow:
            report = verify_journal(uow.session)
    print(report)
    return EXIT_OK if report.ok else EXIT_TAMPERED
