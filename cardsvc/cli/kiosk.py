"""`cardsvc kiosk`: a self-service kiosk (the program of cardsvc.kiosk).

    cardsvc kiosk --api URL [--agent URL] --device ID --credential-file F
                  [--script FILE|-] [--receipt-dir DIR] [--idle-timeout 60] [--no-color]

Signs the kiosk in as its device, waits for a card through the station agent, asks
for the PIN, runs the kiosk items and prints a receipt (text, and text + PDF files in
--receipt-dir). Card out, or --idle-timeout seconds without input, ends a session.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from cardsvc.counter import exits
from cardsvc.counter.errors import InputError
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
from cardsvc.kiosk.app import run_kiosk
from cardsvc.kiosk.session import HELP

EPILOG = f"""\
A session: insert the card; enter the PIN (script: `pin NNNNNN`); then
{HELP}

A wrong PIN says how many tries are left and asks again; a blocked PIN sends the
resident to a counter and ends the session. Receipts name the card, the masked ID
number and every item done or refused; never a PIN. Chinese names in the PDF need a
CJK font (fonts-droid-fallback, or CARDSVC_CJK_FONT=FILE); without one they are
written as [U+XXXX].

{exits.EPILOG}"""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "kiosk",
        help="a self-service kiosk: card, PIN, kiosk items, receipt",
        description="A self-service kiosk: card in, PIN, the kiosk items, a receipt; card "
        "out or idle time ends the session.",
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
    parser.add_argument(
        "--device", required=True, metavar="ID",
        help="the kiosk's numeric device id (the API signs devices in by id): "
        '"devices" in index.json next to the seeded card files, or the id `cardsvc demo` '
        "prints",
    )  # fmt: skip
    parser.add_argument(
        "--credential-file", required=True, metavar="F",
        help="a file whose first line is the device's credential",
    )  # fmt: skip
    parser.add_argument(
        "--script", metavar="FILE", help="read commands from FILE (- for stdin), one per line"
    )
    parser.add_argument(
        "--receipt-dir", type=Path, metavar="DIR", help="write each receipt here as .txt and .pdf"
    )
    parser.add_argument(
        "--idle-timeout", type=_seconds, default=60.0, metavar="SECONDS",
        help="end a session after this long without input (default %(default)g)",
    )  # fmt: skip
    parser.add_argument(
        "--card-wait", type=_seconds, default=60.0, metavar="SECONDS",
        help="script mode: longest wait for a card (default %(default)g)",
    )  # fmt: skip
    parser.add_argument("--no-color", action="store_true", help="plain output for logs")
    parser.set_defaults(func=run_kiosk_command)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value <= 86400:
        raise argparse.ArgumentTypeError("seconds: a number above 0 and at most 86400")
    return value


def run_kiosk_command(args: argparse.Namespace) -> int:
    screen = make_screen(no_color=args.no_color, scripted=args.script is not None)
    try:
        credential = read_secret_file(args.credential_file, "--credential-file")
        agent = make_agent(args.agent)
        source, stream = open_script(args.script, echo=screen.info)
    except InputError as exc:
        screen.error(f"{exc.field}: {exc.problem}")
        return exits.USAGE
    api = make_api(args.api)
    try:
        return run_kiosk(
            api,
            agent,
            screen,
            source,
            device=args.device,
            credential=credential,
            idle_timeout=args.idle_timeout,
            receipt_dir=args.receipt_dir,
            card_wait=args.card_wait,
        )
    except KeyboardInterrupt:
        return exits.INTERRUPTED
    finally:
        close_quietly(stream)
        close_quietly(agent)
        close_quietly(api)
