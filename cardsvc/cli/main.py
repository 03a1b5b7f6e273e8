"""Entry point of the `cardsvc` console script.

Each subcommand lives in its own module under cardsvc.cli and exposes
`register(subparsers) -> None`, which adds its parser and sets `func` to a
callable taking the parsed namespace and returning an exit code.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Callable, Sequence

from cardsvc import __version__
from cardsvc.apdu import TRACE
from cardsvc.errors import CardsvcError
from simulators.errors import SimulatorError

# Subcommand modules, in the order `cardsvc --help` lists them.
COMMAND_MODULES: tuple[str, ...] = (
    "cardsvc.cli.demo",
    "cardsvc.cli.sim",
    "cardsvc.cli.db",
    "cardsvc.cli.journal",
    "cardsvc.cli.reader",
    "cardsvc.cli.person",
    "cardsvc.cli.serve",
)



def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cardsvc",
        description="Social security card service: simulators, readers, service and API.",
    )
    parser.add_argument("--version", action="version", version=f"cardsvc {__version__}")
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="more logging: -v info, -vv debug, -vvv APDU trace",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def configure_logging(verbosity: int) -> None:
    logging.addLevelName(TRACE, "TRACE")
    level = {0: logging.WARNING, 1: logging.INFO, 2: logging.DEBUG}.get(verbosity, TRACE)
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(args.verbose)
    func: Callable[[argparse.Namespace], int] | None = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        return func(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # the reader of our output went away (e.g. `| head`): not an error worth a message
        sys.stderr.close()
        return 0
    except (CardsvcError, SimulatorError, OSError) as exc:
        print(f"cardsvc {args.command}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
