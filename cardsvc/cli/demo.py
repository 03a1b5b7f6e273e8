"""`cardsvc demo`: the whole service on this machine, and a counter and a kiosk using it.

The README's main command. It seeds a small city into an SQLite database in a
work directory, starts a private pcscd with simulated readers (seeded residents'
cards, the example cards of generations 1-3 and a PSAM), shows what a terminal
does with a card on its own (the authenticated basic read through the PSAM, the
reader-interface string, a PIN check, a forged card refused), starts the HTTP
API and the counter's and the kiosk's station agents, and runs `cardsvc counter
--script` and `cardsvc kiosk --script`, printing each step and its result:
enquiries, eligibility answers, changes, a PIN reload with the card present, a
pension certification, a hotlisted card blocked and refused, a card un-lost
while blocked unblocked. Without `--once` it then leaves the service, the
stations and the readers running, with instructions for trying them by hand
(which card file to insert, whom to sign in as, the commands), until
interrupted. Where pcscd cannot run it says why and uses the in-process reader
instead.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from cardsvc.demo.runner import DemoOptions, run_demo


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="the service, simulated readers, a counter and a kiosk on this machine",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--once", action="store_true", help="run the scripted part only and exit with its status"
    )
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="skip pcscd: drive the simulated cards in-process (what the demo falls back to)",
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        default=None,
        metavar="DIR",
        help="keep the database, card files and logs in DIR (default: a temporary directory, "
        "removed at the end)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    return run_demo(DemoOptions(once=args.once, in_process=args.in_process, workdir=args.workdir))
