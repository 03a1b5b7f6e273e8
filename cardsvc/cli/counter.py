"""`cardsvc counter`: a clerk's station (the program of cardsvc.counter).

    cardsvc counter --api URL [--agent URL] --operator NAME [--password-file F]
                    [--no-color] [--script FILE|-]

Signs the operator in at the API, waits for cards through the station agent, and runs
the business items the operator's roles allow. ``--script`` reads the commands from a
file (``-``: stdin), one per line, and prints plain output: that is how tests and the
demo drive a whole session.
"""

from __future__ import annotations

import argparse
import getpass
import os
from typing import Final

from cardsvc.counter import exits
from cardsvc.counter.app import run_counter
from cardsvc.counter.errors import InputError
from cardsvc.counter.session import HELP
from cardsvc.counter.wiring import (
    DEFAULT_AGENT,
    DEFAULT_API,
    close_quietly,
    make_agent,
    make_api,
    make_screen,
    open_script,
    read_secret_file,
)

PASSWORD_ENV: Final = "CARDSVC_OPERATOR_PASSWORD"  # noqa: S105 - the variable's name

EPILOG = f"""\
{HELP}

The password comes from --password-file (its first line), else ${PASSWORD_ENV},
else it is asked for without echo. Output is plain (no colour, ASCII tables) with
--no-color, with --script, when stdout is not a terminal, or when NO_COLOR is set.

{exits.EPILOG}"""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "counter",
        help="a clerk's station: sign in, serve card holders, run business items",
        description="A clerk's station: sign in, wait for a card, show its holder, and run "
        "the business items the operator's roles allow through the API.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--api", default=DEFAULT_API, metavar="URL", help="the API (default %(default)s)"
    )
    parser.add_argument(
        "--agent", default=DEFAULT_AGENT, metavar="URL",
        help="the station agent next to the reader (default %(default)s)",
    )  # fmt: skip
    parser.add_argument("--operator", required=True, metavar="NAME", help="e.g. clerk.370402")
    parser.add_argument(
        "--password-file", metavar="F", help="a file whose first line is the password"
    )
    parser.add_argument("--no-color", action="store_true", help="plain output for logs")
    parser.add_argument(
        "--script", metavar="FILE", help="read commands from FILE (- for stdin), one per line"
    )
    parser.add_argument(
        "--timeout", type=float, default=10.0, metavar="SECONDS",
        help="longest wait for one API answer (default %(default)s)",
    )  # fmt: skip
    parser.set_defaults(func=run_counter_command)


def _password(args: argparse.Namespace) -> str:
    if args.password_file:
        return read_secret_file(args.password_file, "--password-file")
    from_env = os.environ.get(PASSWORD_ENV)
    if from_env:
        return from_env
    if args.script == "-":
        raise InputError(
            "--password-file", "the script comes from stdin: give the password in a file"
        )
    try:
        return getpass.getpass(f"password for {args.operator}: ")
    except EOFError:
        raise InputError("--password-file", "no password given") from None


def run_counter_command(args: argparse.Namespace) -> int:
    screen = make_screen(no_color=args.no_color, scripted=args.script is not None)
    try:
        password = _password(args)
        source, stream = open_script(args.script, echo=screen.info)
    except InputError as exc:
        screen.error(f"{exc.field}: {exc.problem}")
        return exits.USAGE
    api = make_api(args.api, timeout=args.timeout)
    try:
        agent = make_agent(args.agent)
    except InputError as exc:
        screen.note(f"{exc.problem}; card items are not available")
        agent = None
    try:
        return run_counter(api, agent, screen, source, username=args.operator, password=password)
    except KeyboardInterrupt:
        return exits.INTERRUPTED
    finally:
        close_quietly(stream)
        close_quietly(agent)
        close_quietly(api)
