"""`cardsvc db`: schema migrations (upgrade, current) and the cleanup of expired rows (prune).

The database comes from ``--database URL`` or else from the settings
(``CARDSVC_DATABASE_URL``, default SQLite ``./var/cardsvc.db``).
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator

from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from cardsvc.db import migrate
from cardsvc.db.engine import check_durability, make_engine
from cardsvc.db.errors import DatabaseError
from cardsvc.settings import Settings


def add_database_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database",
        metavar="URL",
        help="database URL (default: $CARDSVC_DATABASE_URL, else sqlite:///./var/cardsvc.db)",
    )


@contextlib.contextmanager
def open_engine(args: argparse.Namespace) -> Iterator[tuple[Engine, str]]:
    """The engine named by --database or the settings, and its URL without password.

    Database errors from SQLAlchemy become DatabaseError with a short message.
    """
    url: str = args.database or Settings.from_env().database_url
    engine = make_engine(url)
    shown = make_url(url).render_as_string(hide_password=True)
    try:
        yield engine, shown
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise DatabaseError(f"database {shown}: {reason}") from exc
    finally:
        engine.dispose()


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "db", help="database schema: apply migrations, show the revision"
    )
    actions = parser.add_subparsers(dest="db_action", metavar="ACTION", required=True)

    upgrade = actions.add_parser(
        "upgrade",
        help="apply the migrations (refuses a database that can lose commits)",
    )
    add_database_argument(upgrade)
    upgrade.add_argument("--revision", default="head", help="target revision (default: the newest)")
    upgrade.set_defaults(func=run_upgrade)

    current = actions.add_parser("current", help="show the database's schema revision")
    add_database_argument(current)
    current.set_defaults(func=run_current)

    prune = actions.add_parser(
        "prune",
        help="delete expired tokens, card challenges and sessions, old idempotency records "
        "and rate counters (never the journal); the service also does it every few minutes",
    )
    add_database_argument(prune)
    prune.set_defaults(func=run_prune)


def run_upgrade(args: argparse.Namespace) -> int:
    with open_engine(args) as (engine, shown):
        check_durability(engine)
        before = migrate.current_revision(engine)
        migrate.upgrade(engine, args.revision)
        after = migrate.current_revision(engine)
    if before == after:
        print(f"{shown}: already at revision {after}")
    else:
        print(f"{shown}: upgraded from {before or 'empty'} to {after}")
    return 0


def run_current(args: argparse.Namespace) -> int:
    with open_engine(args) as (engine, shown):
        current = migrate.current_revision(engine)
    head = migrate.head_revision()
    if current is None:
        print(f"{shown}: empty (no schema); run `cardsvc db upgrade` to create revision {head}")
    elif current == head:
        print(f"{shown}: revision {current} (head)")
    else:
        print(f"{shown}: revision {current}; the code needs {head}: run `cardsvc db upgrade`")
    return 0


def run_prune(args: argparse.Namespace) -> int:
    from api.prune import prune  # noqa: PLC0415 - the API's tables; imported when used
    from cardsvc.db.migrate import assert_schema_current  # noqa: PLC0415
    from cardsvc.db.models import utc_now  # noqa: PLC0415
    from cardsvc.db.uow import UnitOfWork, make_session_factory  # noqa: PLC0415

    settings = Settings.from_env()
    with open_engine(args) as (engine, shown):
        assert_schema_current(engine)
        with UnitOfWork(make_session_factory(engine)) as uow:
            report = prune(uow.session, now=utc_now(), settings=settings)
    print(f"{shown}: {report}")
    return 0
