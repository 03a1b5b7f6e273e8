"""`cardsvc demo`: simulated readers on the real PC/SC stack and a terminal reading them.

The README's main command. It starts a private pcscd with vpcd readers (or reuses
one that has them), plugs in the example cards of generations 1, 2 and 3 and the
PSAM, then runs what a counter terminal does with each card: the authenticated
basic read (section 9 of the card contract) through the PSAM, the standard
reader-interface string, a PIN check, and a forged card being refused. Without
`--once` it then leaves the readers running, with instructions for trying them by
hand, until interrupted. Where pcscd cannot run it says why and uses the
in-process reader instead.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.resources
import secrets
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Final

from cardsvc.card.errors import ForgedCard, InvalidPin
from cardsvc.card.reader_string import reader_string
from cardsvc.card.security import PsamSecurityModule
from cardsvc.card.session import SscSession
from cardsvc.errors import CardsvcError
from reader_driver import CardChannel, EventKind, InProcessBackend, PcscBackend, wait_for_card
from reader_driver.backend import Backend
from reader_driver.errors import ReaderError
from reader_driver.pcscd import PrivatePcscd
from simulators.base import SimulatedCard
from simulators.personalisation import example_profile
from simulators.psam import Psam
from simulators.ssc_card import UserCard
from simulators.vpcd import VpcdSlot

DEMO_PORTS: Final = (35963, 35965)
EXAMPLE_PIN: Final = "123456"
EXIT_OK: Final = 0
EXIT_FAILED: Final = 1


@dataclass(frozen=True, slots=True)
class Slot:
    """One reader of the demo and the example file of the card in it."""

    label: str
    example: str


SLOTS: Final = (
    Slot("generation 2 card", "gen2.json"),
    Slot("PSAM", "psam.json"),
    Slot("generation 1 card", "gen1.json"),
    Slot("generation 3 card", "gen3.json"),
)
SAM_SLOT: Final = 1
CARD_SLOTS: Final = (0, 2, 3)
FORGED_SLOT: Final = 2


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="simulated readers on pcscd and a terminal reading the cards (the README's demo)",
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
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    out = _Printer()
    stop = threading.Event()
    with contextlib.ExitStack() as stack:
        cards = [_load(slot) for slot in SLOTS]
        backend, readers, slots = _start_readers(stack, cards, in_process=args.in_process, out=out)
        ok = _script(backend, readers, slots, out)
        if args.once:
            out.line("")
            out.line("demo: all steps passed" if ok else "demo: a step FAILED (see above)")
            return EXIT_OK if ok else EXIT_FAILED
        _hand_over(readers, in_process=slots is None, out=out)
        _wait_for_interrupt(stop)
    out.line("demo: stopped")
    return EXIT_OK if ok else EXIT_FAILED


# --- readers ----------------------------------------------------------------------------


def _load(slot: Slot) -> SimulatedCard:

    resource = importlib.resources.files("simulators").joinpath("examples", slot.example)
    with importlib.resources.as_file(resource) as path:
        if slot.label == "PSAM":
            return Psam.from_file(path)
        return UserCard.from_file(path)


def _start_readers(
    stack: contextlib.ExitStack,
    cards: Sequence[SimulatedCard],
    *,
    in_process: bool,
    out: _Printer,
) -> tuple[Backend, list[str], list[VpcdSlot] | None]:
    """pcscd + vpcd + simulators, or the in-process reader when pcscd cannot run."""

    if not in_process:
        try:
            return _start_pcsc(stack, cards, out)
        except ReaderError as exc:
            out.step("pcscd", f"cannot use it: {exc}")
            out.line("      falling back to the in-process reader (no pcscd, same card code)")
    return _start_in_process(stack, cards, out)


def _start_pcsc(
    stack: contextlib.ExitStack, cards: Sequence[SimulatedCard], out: _Printer
) -> tuple[Backend, list[str], list[VpcdSlot]]:

    pcscd: PrivatePcscd = stack.enter_context(PrivatePcscd(DEMO_PORTS))
    how = "reusing the running pcscd" if pcscd.reused else f"started pcscd (pid {pcscd.pid})"
    out.step("pcscd", f"{how}; vpcd readers on TCP ports {DEMO_PORTS[0]}-{DEMO_PORTS[-1] + 1}")
    readers = list(pcscd.reader_names)
    slots: list[VpcdSlot] = []
    for k, card in enumerate(cards):
        slot = VpcdSlot(card, port=pcscd.slot_ports[k], name=f"slot {k}")
        slot.start()
        stack.callback(slot.stop)
        slots.append(slot)
    backend = PcscBackend()
    stack.callback(backend.close)
    for k, slot_info in enumerate(SLOTS):
        wait_for_card(backend, readers[k], timeout=10.0)
        out.line(f'      "{readers[k]}": {slot_info.label} inserted')
    return backend, readers, slots


def _start_in_process(
    stack: contextlib.ExitStack, cards: Sequence[SimulatedCard], out: _Printer
) -> tuple[Backend, list[str], None]:

    backend = InProcessBackend(len(cards))
    stack.callback(backend.close)
    readers = [info.name for info in backend.readers()]
    for k, card in enumerate(cards):
        backend.insert(card, k)
        out.line(f'      "{readers[k]}": {SLOTS[k].label} inserted')
    return backend, readers, None


# --- the scripted terminal ---------------------------------------------------------------


def _script(
    backend: Backend, readers: Sequence[str], slots: list[VpcdSlot] | None, out: _Printer
) -> bool:
    results = [_read_card(backend, readers, k, out) for k in CARD_SLOTS]
    results.append(_pin_check(backend, readers, out))
    results.append(_forged_card(backend, readers, slots, out))
    return all(results)


@contextlib.contextmanager
def _session(backend: Backend, readers: Sequence[str], slot: int) -> Iterator[object]:

    sam_conn = backend.connect(readers[SAM_SLOT])
    card_conn = backend.connect(readers[slot])
    try:
        with CardChannel(sam_conn) as sam, CardChannel(card_conn) as card:
            yield SscSession(card, PsamSecurityModule.open(sam))
    finally:
        card_conn.disconnect()
        sam_conn.disconnect()


def _read_card(backend: Backend, readers: Sequence[str], slot: int, out: _Printer) -> bool:

    title = f"basic read, {SLOTS[slot].label}"
    try:
        with _session(backend, readers, slot) as session:
            assert isinstance(session, SscSession)
            read = session.basic_read()
            terminal = session.security_module.terminal_number if session.security_module else None
    except (CardsvcError, ReaderError) as exc:
        out.step(title, f"FAILED: {exc}")
        return False
    out.step(title, "internal authentication verified by the PSAM")
    out.line(
        f"      {read.name}  SSN {read.masked_ssn}  card {read.card_number}  "
        f"generation {read.generation} ({read.algorithm.name})  valid to {read.expiry_date}"
    )
    out.line(f"      reader string: {reader_string(read, terminal, 'DEMO-0001')}")
    return True


def _pin_check(backend: Backend, readers: Sequence[str], out: _Printer) -> bool:

    title = f"PIN, {SLOTS[0].label}"
    wrong = "000000"  # not the example PIN
    try:
        with _session(backend, readers, 0) as session:
            assert isinstance(session, SscSession)
            try:
                session.verify_pin(wrong)
            except InvalidPin as exc:
                out.step(title, f"a wrong PIN is refused: {exc.tries_left} tries left")
            else:
                out.step(title, "FAILED: a wrong PIN was accepted")
                return False
            session.verify_pin(EXAMPLE_PIN)
            status = session.pin_status()
    except (CardsvcError, ReaderError) as exc:
        out.step(title, f"FAILED: {exc}")
        return False
    out.line(f"      the right PIN is accepted (verified: {status.verified}); the counter is reset")
    return status.verified


def _forged_card(
    backend: Backend, readers: Sequence[str], slots: list[VpcdSlot] | None, out: _Printer
) -> bool:
    """A card personalised with other masters must be refused as forged, then put back."""

    title = "forged card"
    profile = example_profile(1)
    profile["masters"] = {
        name: secrets.token_hex(16).upper() for name in ("IRK", "UK", "PRK", "STK", "RKSSSE")
    }
    forged = UserCard.from_profile(profile)
    genuine = _swap(backend, readers, slots, FORGED_SLOT, forged)
    try:
        with _session(backend, readers, FORGED_SLOT) as session:
            assert isinstance(session, SscSession)
            session.basic_read()
    except ForgedCard:
        out.step(title, "a card made with other keys is refused: internal authentication failed")
        return True
    except (CardsvcError, ReaderError) as exc:
        out.step(title, f"FAILED: expected a forged-card refusal, got: {exc}")
        return False
    finally:
        _swap(backend, readers, slots, FORGED_SLOT, genuine)
    out.step(title, "FAILED: the forged card was accepted")
    return False


def _swap(
    backend: Backend,
    readers: Sequence[str],
    slots: list[VpcdSlot] | None,
    slot: int,
    card: SimulatedCard,
) -> SimulatedCard:
    """Put `card` into the slot (pulling the old one first, as a person would); the old card."""

    if slots is None:
        assert isinstance(backend, InProcessBackend)
        old = backend.swap(card, slot)
        assert old is not None
        return old
    vpcd = slots[slot]
    old_card = vpcd.card
    assert old_card is not None
    vpcd.remove()
    _wait_until_empty(backend, readers[slot])
    vpcd.swap(card)
    vpcd.insert()
    wait_for_card(backend, readers[slot], timeout=10.0)
    return old_card


def _wait_until_empty(backend: Backend, reader: str, timeout: float = 10.0) -> None:

    if not any(info.name == reader and info.card_present for info in backend.readers()):
        return
    with backend.events(initial=False) as events:
        while (event := events.get(timeout)) is not None:
            if event.kind is EventKind.CARD_REMOVED and event.reader == reader:
                return


# --- after the script ----------------------------------------------------------------------


def _hand_over(readers: Sequence[str], *, in_process: bool, out: _Printer) -> None:
    out.line("")
    if in_process:
        out.line("The readers were in-process only (no pcscd): nothing to try by hand.")
        return
    card, sam = readers[0], readers[SAM_SLOT]
    out.line("The simulated readers stay in until you press Ctrl-C. Try them by hand:")
    out.line("  pcsc_scan                                  # every reader and card")
    out.line(f'  cardsvc read --reader "{card}" --sam-reader "{sam}" --format pipe')
    out.line(f'  cardsvc read --reader "{readers[3]}" --sam-reader "{sam}"   # generation 3')
    out.line(f'  cardsvc pin verify --reader "{card}"          # the example PIN is {EXAMPLE_PIN}')
    out.line(
        f"  echo '00 A4 04 00 0F 73 78 31 2E 73 68 2E C9 E7 BB E1 B1 A3 D5 CF' | "
        f'scriptor -r "{card}"'
    )
    out.line("Run your own cards with: cardsvc sim --pcscd --card FILE --psam (see the README).")


def _wait_for_interrupt(stop: threading.Event) -> None:
    def handler(signum: int, frame: object) -> None:
        stop.set()

    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in previous:
        signal.signal(sig, handler)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        for sig, old in previous.items():
            if old is not None:
                signal.signal(sig, old)


class _Printer:
    """Numbered steps on stdout, flushed at once so a watcher sees progress."""

    def __init__(self) -> None:
        self._n = 0

    def step(self, title: str, result: str) -> None:
        self._n += 1
        self.line(f"[{self._n}] {title}: {result}")

    def line(self, text: str) -> None:
        print(text, flush=True)
        sys.stdout.flush()
