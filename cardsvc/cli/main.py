"""Entry point of the `cardsvc` console script.

Each subcommand lives in its own module under cardsvc.cli and exposes
`register(subparsers) -> None`, which adds its parser and sets `func` to a
callable taking the parsed namespace and returning an exit code. A new command
gets a line in COMMANDS.
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

# Every command: its module and its line in `cardsvc --help`, in that order. Only the
# module of the command being run is imported, so `cardsvc sim` does not load FastAPI
# or SQLAlchemy; a module may register several commands (reader: readers/watch/read/pin).
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("cardsvc.cli.demo", "the service, simulated readers, a counter and a kiosk"),
    "sim": ("cardsvc.cli.sim", "run simulated cards and a PSAM in vpcd readers"),
    "readers": ("cardsvc.cli.reader", "list the readers and whether a card is in each"),
    "watch": ("cardsvc.cli.reader", "one line per reader or card event until interrupted"),
    "read": ("cardsvc.cli.reader", "the authenticated basic read of the card in a reader"),
    "pin": ("cardsvc.cli.reader", "verify, change, reload the cardholder's PIN"),
    "db": ("cardsvc.cli.db", "database schema: apply migrations, show the revision"),
    "journal": ("cardsvc.cli.journal", "the transaction journal"),
    "seed": ("cardsvc.cli.seed", "fill a database with a synthetic city"),
    "person": ("cardsvc.cli.person", "a person's records through the services"),
    "serve": ("cardsvc.cli.serve", "run the HTTP API with uvicorn"),
    "agent": ("cardsvc.cli.agent", "the station agent: card reader, API, local HTTP interface"),
    "counter": ("cardsvc.cli.counter", "a clerk's station: card holders and business items"),
    "kiosk": ("cardsvc.cli.kiosk", "a self-service kiosk: card, PIN, kiosk items, receipt"),
}

# The modules, once each, in order (what a full parser imports).
COMMAND_MODULES: tuple[str, ...] = tuple(dict.fromkeys(module for module, _ in COMMANDS.values()))


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The whole parser (argv None), or one with only the command named in argv loaded."""
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
    if argv is None:
        wanted = set(COMMAND_MODULES)
    else:
        chosen = next((arg for arg in argv if arg in COMMANDS), None)
        wanted = {COMMANDS[chosen][0]} if chosen else set()
    loaded: set[str] = set()
    for name, (module, help_text) in COMMANDS.items():
        if module in wanted:
            if module not in loaded:
                importlib.import_module(module).register(subparsers)
                loaded.add(module)
        else:
            subparsers.add_parser(name, help=help_text)
    return parser


def configure_logging(verbosity: int) -> None:
    logging.addLevelName(TRACE, "TRACE")
    level = {0: logging.WARNING, 1: logging.INFO, 2: logging.DEBUG}.get(verbosity, TRACE)
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(arguments)
    args = parser.parse_args(arguments)
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
