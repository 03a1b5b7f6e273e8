"""`cardsvc sim`: simulated cards and a PSAM in vpcd readers, with a control channel.

Each `--card` and then the PSAM take the next vpcd port (PORT, PORT+1, ...);
pcscd (with vsmartcard's vpcd driver) shows each as a reader. A tester drives
the running simulator from stdin or the local HTTP endpoint (simulators.control).
"""

from __future__ import annotations

import argparse
import contextlib
import enum
import importlib.resources
import json
import logging
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Final

from reader_driver.errors import PcscdError
from reader_driver.pcscd import PrivatePcscd
from simulators.base import SimulatedCard
from simulators.control import ControlServer, SimulatorControl, reader_name, run_lines
from simulators.errors import SimulatorError
from simulators.floor import FloorCard
from simulators.personalisation import example_profile
from simulators.psam import Psam
from simulators.ssc_card import UserCard
from simulators.vpcd import (
    DEFAULT_HOST,
    DEFAULT_PORT,
    VpcdAddressError,
    VpcdSlot,
    parse_vpcd_address,
)

logger = logging.getLogger(__name__)

SHIPPED_PSAM: Final = "examples/psam.json"
_SHIPPED_MARK: Final = "<shipped>"
EXIT_OK: Final = 0
EXIT_BAD_INPUT: Final = 2
_EXIT_RUNTIME: Final = 1

DESCRIPTION: Final = """\
Run simulated social security cards (and a PSAM) in vsmartcard vpcd readers,
so that pcscd and every PC/SC program see them as cards in real readers.
"""

EPILOG: Final = f"""\
slots and readers:
  Each --card, then the PSAM, then each --floor card takes the next port:
  PORT, PORT+1, PORT+2, ... One reader.conf entry for vpcd
      FRIENDLYNAME "Virtual PCD"
      DEVICENAME   /dev/null:PORT
      LIBPATH      /usr/lib/pcsc/drivers/serial/libifdvpcd.so
      CHANNELID    PORT
  gives two readers, "Virtual PCD 00 00" (PORT) and "Virtual PCD 00 01" (PORT+1).
  Slots beyond two need more entries, each with its own copy of the driver
  (vpcd keeps one slot table per loaded driver) and its own FRIENDLYNAME:
  entry i at PORT+2i is "Virtual PCD i" ("Virtual PCD i 00 00", "... 00 01").
  --pcscd writes all of that for you: it starts a private pcscd with the
  readers the slots need when no pcscd runs, and stops it on exit.

control while running:
  stdin: help, list, state N, insert N, remove N, swap N FILE,
         fault N mid-remove|mute|wrong-atr on|off, fault N slow MS|off,
         fault N corrupt flip|sw|off, fault N clear, quit
  HTTP on 127.0.0.1 (--control-port; 0 picks a free port, printed at start):
         GET /slots, GET /slots/N, POST /slots/N/insert, POST /slots/N/remove,
         POST /slots/N/swap {{"card": "FILE"}},
         POST /slots/N/faults {{"mute": true, "slow_ms": 200, "corrupt": "flip",
                               "remove_mid_command": true, "wrong_atr": false}}

examples:
  cardsvc sim --example --generation 3 > card3.json
  cardsvc sim --pcscd --card card3.json --psam   (then: pcsc_scan, scriptor -r "Virtual PCD 00 00")
  cardsvc -vvv sim --card card3.json --vpcd 127.0.0.1:{DEFAULT_PORT}   (APDU trace, PINs masked)
"""


class SlotKind(enum.Enum):
    USER = "user card"
    PSAM = "PSAM"
    FLOOR = "floor card"


@dataclass(frozen=True, slots=True)
class SlotPlan:
    """What goes into one slot: the kind of card and the file it comes from."""

    kind: SlotKind
    source: str  # a file path, _SHIPPED_MARK for the shipped PSAM, "" for a floor card

    @property
    def label(self) -> str:
        if self.kind is SlotKind.FLOOR:
            return "floor card (answers 9000)"
        if self.source == _SHIPPED_MARK:
            return f"{self.kind.value} (shipped {SHIPPED_PSAM})"
        return f"{self.kind.value} from {self.source}"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "sim",
        help="run simulated cards and a PSAM in vpcd readers",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--card",
        action="append",
        default=[],
        metavar="FILE",
        help="personalisation file (JSON or YAML) of a user card; repeat for more cards",
    )
    parser.add_argument(
        "--psam",
        nargs="?",
        const=_SHIPPED_MARK,
        default=None,
        metavar="FILE",
        help="add a PSAM after the cards; without FILE, the shipped example PSAM",
    )
    parser.add_argument(
        "--floor",
        type=int,
        default=0,
        metavar="N",
        help="add N floor cards (answer 9000 to everything; for benchmarks) after the PSAM",
    )
    parser.add_argument(
        "--vpcd",
        default=f"{DEFAULT_HOST}:{DEFAULT_PORT}",
        metavar="HOST:PORT",
        help="where vpcd listens; slot k uses PORT+k (default %(default)s)",
    )
    parser.add_argument(
        "--control-port",
        type=int,
        default=0,
        metavar="N",
        help="port of the HTTP control endpoint on 127.0.0.1 (default 0: a free port, printed)",
    )
    parser.add_argument(
        "--pcscd",
        action="store_true",
        help="start a private pcscd with the vpcd readers the slots need when none runs "
        "(stopped on exit); a running pcscd that has them is reused",
    )
    parser.add_argument(
        "--no-stdin",
        action="store_true",
        help="do not read control commands from stdin (for services and scripts)",
    )
    parser.add_argument(
        "--example",
        action="store_true",
        help="print a valid personalisation file as JSON and exit",
    )
    parser.add_argument(
        "--generation",
        type=int,
        default=None,
        choices=(1, 2, 3),
        help="card generation of --example (default 2)",
    )
    parser.set_defaults(func=run)


def _error(message: str) -> int:
    print(f"cardsvc sim: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT


def run(args: argparse.Namespace) -> int:
    if args.example:
        return _print_example(args.generation or 2)
    if args.generation is not None:
        return _error("--generation goes with --example")
    try:
        host, port = parse_vpcd_address(args.vpcd)
    except VpcdAddressError as exc:
        return _error(f"--vpcd: {exc}")
    if args.floor < 0:
        return _error(f"--floor: need 0 or more, not {args.floor}")
    if not 0 <= args.control_port <= 65535:
        return _error(f"--control-port: need 0..65535, not {args.control_port}")
    plans = _plans(args.card, args.psam, args.floor)
    if not plans:
        return _error("nothing to simulate: give --card FILE, --psam or --floor N (or --example)")
    if port + len(plans) - 1 > 65535:
        return _error(f"--vpcd: {len(plans)} slots from port {port} run past 65535")
    cards: list[SimulatedCard] = []
    for plan in plans:
        try:
            cards.append(load_card(plan))
        except OSError as exc:
            return _error(f"{plan.source}: cannot read: {exc.strerror or exc}")
        except SimulatorError as exc:
            return _error(_describe(plan, exc))
    return _serve(args, host, port, plans, cards)


def _describe(plan: SlotPlan, exc: SimulatorError) -> str:
    """One line naming the file (unless the error already does) and the field."""
    source = getattr(exc, "source", None)
    where = SHIPPED_PSAM if plan.source == _SHIPPED_MARK else plan.source
    return str(exc) if source else f"{where}: {exc}"


def _plans(card_files: Sequence[str], psam: str | None, floors: int) -> list[SlotPlan]:
    plans = [SlotPlan(SlotKind.USER, path) for path in card_files]
    if psam is not None:
        plans.append(SlotPlan(SlotKind.PSAM, psam))
    plans.extend(SlotPlan(SlotKind.FLOOR, "") for _ in range(floors))
    return plans


@contextlib.contextmanager
def _card_path(source: str) -> Iterator[Path]:
    if source != _SHIPPED_MARK:
        yield Path(source)
        return
    resource = importlib.resources.files("simulators").joinpath(SHIPPED_PSAM)
    with importlib.resources.as_file(resource) as path:
        yield path


def load_card(plan: SlotPlan) -> SimulatedCard:
    """The card a plan describes (raises PersonalisationError / OSError for bad files)."""
    if plan.kind is SlotKind.FLOOR:
        return FloorCard()
    with _card_path(plan.source) as path:
        if plan.kind is SlotKind.PSAM:
            return Psam.from_file(path)
        return UserCard.from_file(path)


def _print_example(generation: int) -> int:
    try:
        profile = example_profile(generation)
    except SimulatorError as exc:
        return _error(str(exc))
    try:
        print(json.dumps(profile, indent=2, ensure_ascii=False))
    except UnicodeEncodeError:
        print(json.dumps(profile, indent=2))
    return EXIT_OK


def _loader(plans: Sequence[SlotPlan]) -> Callable[[int, str], SimulatedCard]:
    def load(slot: int, path: str) -> SimulatedCard:
        kind = plans[slot].kind
        # a floor slot takes a user card: the floor card has no file
        return load_card(SlotPlan(SlotKind.PSAM if kind is SlotKind.PSAM else SlotKind.USER, path))

    return load


def _banner(
    host: str,
    port: int,
    plans: Sequence[SlotPlan],
    server: ControlServer,
    *,
    stdin: bool,
    pcscd: PrivatePcscd | None,
) -> str:
    lines = [f"cardsvc sim: {len(plans)} slot(s), vpcd at {host}:{port}"]
    pcscd_owned = pcscd is not None
    if pcscd is not None:
        how = "reusing the running pcscd" if pcscd.reused else f"started pcscd (pid {pcscd.pid})"
        lines.append(f"pcscd: {how}")
    for k, plan in enumerate(plans):
        line = f'  slot {k}: port {port + k}  reader "{reader_name(k)}"  {plan.label}'
        if k >= 2 and not pcscd_owned:
            entry = port + 2 * (k // 2)
            line += f"  (needs a reader.conf entry at {entry}; or use --pcscd)"
        lines.append(line)
    lines.append(
        f"control: {server.url}/slots  (GET /slots, POST /slots/N/insert|remove|swap|faults)"
    )
    lines.append(
        "stdin: type help for commands; quit or Ctrl-C stops"
        if stdin
        else "stdin not read (--no-stdin); Ctrl-C or SIGTERM stops"
    )
    return "\n".join(lines)


def _install_signals(stop: threading.Event) -> Callable[[], None]:
    """SIGINT and SIGTERM set `stop`; returns a function that puts the old handlers back."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def handler(signum: int, frame: FrameType | None) -> None:
        logger.info("signal %d: stopping", signum)
        stop.set()

    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in previous:
        signal.signal(sig, handler)

    def restore() -> None:
        for sig, old in previous.items():
            if old is not None:
                signal.signal(sig, old)

    return restore


def _read_stdin(control: SimulatorControl, stop: threading.Event) -> None:
    if run_lines(control, sys.stdin, sys.stdout, stop):
        return
    if not stop.is_set():
        logger.info("stdin closed; the simulator keeps running (Ctrl-C, SIGTERM or HTTP)")


def _serve(
    args: argparse.Namespace,
    host: str,
    port: int,
    plans: Sequence[SlotPlan],
    cards: Sequence[SimulatedCard],
) -> int:
    stop = threading.Event()
    pcscd: PrivatePcscd | None = None
    if args.pcscd:
        if host not in ("127.0.0.1", "localhost"):
            return _error("--pcscd starts pcscd on this machine: use it with a loopback --vpcd")
        pcscd = PrivatePcscd(range(port, port + len(plans), 2))
        try:
            pcscd.start()
        except PcscdError as exc:
            return _error(f"--pcscd: {exc}")
    try:
        return _serve_slots(args, host, port, plans, cards, stop=stop, pcscd=pcscd)
    finally:
        if pcscd is not None:
            pcscd.stop()


def _serve_slots(
    args: argparse.Namespace,
    host: str,
    port: int,
    plans: Sequence[SlotPlan],
    cards: Sequence[SimulatedCard],
    *,
    stop: threading.Event,
    pcscd: PrivatePcscd | None,
) -> int:
    slots = [VpcdSlot(card, host, port + k, name=f"slot {k}") for k, card in enumerate(cards)]
    control = SimulatorControl(slots, _loader(plans), on_quit=stop.set)
    server = ControlServer(control, args.control_port)
    try:
        server.start()
    except OSError as exc:
        print(
            f"cardsvc sim: cannot listen on 127.0.0.1:{args.control_port} for control: "
            f"{exc.strerror or exc}",
            file=sys.stderr,
        )
        return _EXIT_RUNTIME
    restore = _install_signals(stop)
    try:
        for slot in slots:
            slot.start()
        print(_banner(host, port, plans, server, stdin=not args.no_stdin, pcscd=pcscd), flush=True)
        if not args.no_stdin:
            threading.Thread(
                target=_read_stdin, args=(control, stop), name="sim-stdin", daemon=True
            ).start()
        while not stop.wait(0.5):
            pass
    finally:
        restore()
        server.stop()
        for slot in slots:
            slot.stop()
    print("cardsvc sim: stopped", flush=True)
    return EXIT_OK
