"""`cardsvc serve`: run the HTTP API with uvicorn.

    cardsvc serve [--host 127.0.0.1] [--port 8000] [--workers N] [--database URL]

The database comes from ``--database URL`` or else from the settings
(``CARDSVC_DATABASE_URL``). Before starting, the database is opened once and
checked: a database that can lose commits, or one whose schema is not at the
code's migration head, is refused with a message that says what to do
(``cardsvc db upgrade``). Each worker process builds its own app from the
environment (``api.app:app_from_env``), so ``--workers N`` works; the API keeps
no state in memory that another process needs.
"""

from __future__ import annotations

import argparse
import logging
import os

from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from cardsvc.db import open_database
from cardsvc.db.errors import DatabaseError
from cardsvc.errors import CardsvcError
from cardsvc.settings import Settings

logger = logging.getLogger(__name__)

APP_FACTORY = "api.app:app_from_env"
_LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "serve", help="run the HTTP API (uvicorn) for counters and kiosks"
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=_port, default=8000, help="TCP port (default 8000)")
    parser.add_argument(
        "--workers",
        type=_positive,
        default=1,
        metavar="N",
        help="worker processes (default 1); they share all state through the database",
    )
    parser.add_argument(
        "--database",
        metavar="URL",
        help="database URL (default: $CARDSVC_DATABASE_URL, else sqlite:///./var/cardsvc.db)",
    )
    parser.add_argument(
        "--log-level",
        choices=_LOG_LEVELS,
        default="info",
        help="uvicorn's log level (default info)",
    )
    parser.set_defaults(func=run_serve)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _port(text: str) -> int:
    value = _positive(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"a TCP port is 1-65535, got {value}")
    return value


def check_database(url: str) -> None:
    """Refuse to serve a database that is unreachable, not durable or not migrated.

    Raises DatabaseError (DurabilityError, MigrationError) with what to do.
    """
    shown = make_url(url).render_as_string(hide_password=True)
    try:
        database = open_database(url)
    except DatabaseError as exc:
        raise DatabaseError(f"cannot serve {shown}: {exc}") from exc
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise DatabaseError(
            f"cannot serve {shown}: the database cannot be reached: {reason}"
        ) from exc
    database.dispose()


def run_serve(args: argparse.Namespace) -> int:
    from api.serving import run_server  # noqa: PLC0415 - only this command needs uvicorn

    if args.database:
        # the workers build their settings from the environment
        os.environ["CARDSVC_DATABASE_URL"] = args.database
    settings = Settings.from_env()
    check_database(settings.database_url)
    # refuse a bad key file here, in one line, rather than once per worker with a traceback
    from api.key_service import load_key_service  # noqa: PLC0415 - only this command needs it

    load_key_service(settings)
    logger.info("serving on http://%s:%d with %d worker(s)", args.host, args.port, args.workers)
    try:
        run_server(
            APP_FACTORY,
            host=args.host,
            port=args.port,
            workers=args.workers,
            log_level=args.log_level,
        )
    except OSError as exc:  # the address is taken (several workers: bound here first)
        raise CardsvcError(
            f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}; stop what "
            "uses the port or choose another with --port"
        ) from None
    return 0
