"""The demo's simulated readers: a private pcscd with vpcd slots, or the in-process reader.

Six slots (vpcd entries on TCP ports 35963, 35965 and 35967, each two readers):

| slot | reader (pcscd) | what is in it |
|---|---|---|
| 0 | Virtual PCD 00 00 | the counter's card reader (seeded residents' cards go here) |
| 1 | Virtual PCD 00 01 | the counter's PSAM |
| 2 | Virtual PCD 1 00 00 | the kiosk's card reader |
| 3 | Virtual PCD 1 00 01 | the example card of generation 1 |
| 4 | Virtual PCD 2 00 00 | the example card of generation 2 (the card contract's 张三) |
| 5 | Virtual PCD 2 00 01 | the example card of generation 3 |

`PrivatePcscd` reuses a pcscd that already has these readers (the test suite's)
and otherwise starts its own. Where it cannot (not installed, something in the
way), :func:`open_readers` says why and uses reader_driver's in-process backend
with the same six slots: the same card code, without PC/SC.
"""

from __future__ import annotations

import contextlib
import importlib.resources
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Final

from cardsvc.demo.output import Printer
from reader_driver import EventKind, InProcessBackend, PcscBackend, wait_for_card
from reader_driver.backend import Backend
from reader_driver.errors import ReaderError
from reader_driver.pcscd import PrivatePcscd
from simulators.base import SimulatedCard
from simulators.control import ControlServer, SimulatorControl
from simulators.errors import SimulatorError
from simulators.psam import Psam
from simulators.ssc_card import UserCard
from simulators.vpcd import VpcdSlot

PORTS: Final = (35963, 35965, 35967)
COUNTER: Final = 0
SAM: Final = 1
KIOSK: Final = 2
EXAMPLES: Final = {1: 3, 2: 4, 3: 5}  # generation -> slot
SLOT_LABELS: Final = (
    "counter card reader",
    "counter PSAM",
    "kiosk card reader",
    "example card, generation 1",
    "example card, generation 2",
    "example card, generation 3",
)
CARD_WAIT_S: Final = 10.0

CardLoader = Callable[[int, str], SimulatedCard]


def example_card(name: str) -> SimulatedCard:
    """A shipped example (`gen1.json` … `psam.json`)."""
    resource = importlib.resources.files("simulators").joinpath("examples", name)
    with importlib.resources.as_file(resource) as path:
        if name.startswith("psam"):
            return Psam.from_file(path)
        return UserCard.from_file(path)


@dataclass
class Readers:
    """The six readers, whichever backend drives them; `vpcd` is None in-process."""

    backend: Backend
    names: list[str]
    vpcd: list[VpcdSlot] | None
    pcscd: PrivatePcscd | None = None
    control_url: str | None = None
    _control: ControlServer | None = field(default=None, repr=False)

    @property
    def in_process(self) -> bool:
        return self.vpcd is None

    def card(self, slot: int) -> SimulatedCard | None:
        if self.vpcd is None:
            assert isinstance(self.backend, InProcessBackend)
            return self.backend.card(slot)
        vpcd = self.vpcd[slot]
        return None if vpcd.faults.removed else vpcd.card

    def put(self, slot: int, card: SimulatedCard) -> None:
        """Put `card` into the slot (pulling what is there first, as a person would)."""
        self.pull(slot)
        if self.vpcd is None:
            assert isinstance(self.backend, InProcessBackend)
            self.backend.insert(card, slot)
            return
        self.vpcd[slot].swap(card)
        wait_for_card(self.backend, self.names[slot], timeout=CARD_WAIT_S)

    def pull(self, slot: int) -> SimulatedCard | None:
        """Take the card out (and wait until the reader is seen empty); the card or None."""
        if self.vpcd is None:
            assert isinstance(self.backend, InProcessBackend)
            return self.backend.remove(slot)
        vpcd = self.vpcd[slot]
        card = None if vpcd.faults.removed else vpcd.card
        vpcd.remove()
        _wait_until_empty(self.backend, self.names[slot])
        return card

    def start_control(self, loader: CardLoader) -> str | None:
        """The simulator's HTTP control on 127.0.0.1 (pcscd only); its URL."""
        if self.vpcd is None:
            return None
        self._control = ControlServer(SimulatorControl(self.vpcd, loader))
        self._control.start()
        self.control_url = self._control.url
        return self.control_url

    def stop_control(self) -> None:
        control, self._control = self._control, None
        if control is not None:
            control.stop()


@contextlib.contextmanager
def open_readers(
    cards: Sequence[SimulatedCard | None], *, in_process: bool, out: Printer
) -> Iterator[Readers]:
    """pcscd + vpcd + simulators with `cards` in slots 0.., or the in-process fallback."""
    with contextlib.ExitStack() as stack:
        readers: Readers | None = None
        if not in_process:
            try:
                readers = _start_pcsc(stack, cards, out)
            except (ReaderError, SimulatorError, OSError) as exc:
                stack.close()
                out.step("pcscd", f"cannot use it: {exc}")
                out.detail("falling back to the in-process reader (no pcscd, same card code)")
        if readers is None:
            readers = _start_in_process(stack, cards, out)
        stack.callback(readers.stop_control)
        yield readers


def _start_pcsc(
    stack: contextlib.ExitStack, cards: Sequence[SimulatedCard | None], out: Printer
) -> Readers:
    pcscd: PrivatePcscd = stack.enter_context(PrivatePcscd(PORTS))
    how = "reusing the running pcscd" if pcscd.reused else f"started pcscd (pid {pcscd.pid})"
    out.step("pcscd", f"{how}; vpcd readers on TCP ports {PORTS[0]}-{PORTS[-1] + 1}")
    names = list(pcscd.reader_names)
    slots: list[VpcdSlot] = []
    for k, card in enumerate(cards):
        slot = VpcdSlot(card, port=pcscd.slot_ports[k], name=f"demo slot {k}")
        if card is None:
            slot.remove()
        slot.start()
        stack.callback(slot.stop)
        slots.append(slot)
    backend = PcscBackend()
    stack.callback(backend.close)
    for k, card in enumerate(cards):
        if card is not None:
            wait_for_card(backend, names[k], timeout=CARD_WAIT_S)
        out.detail(f'"{names[k]}": {SLOT_LABELS[k]}' + ("" if card else " (empty)"))
    return Readers(backend, names, slots, pcscd)


def _start_in_process(
    stack: contextlib.ExitStack, cards: Sequence[SimulatedCard | None], out: Printer
) -> Readers:
    backend = InProcessBackend(len(cards))
    stack.callback(backend.close)
    names = [info.name for info in backend.readers()]
    for k, card in enumerate(cards):
        if card is not None:
            backend.insert(card, k)
        out.detail(f'"{names[k]}": {SLOT_LABELS[k]}' + ("" if card else " (empty)"))
    return Readers(backend, names, None)


def _wait_until_empty(backend: Backend, reader: str, timeout: float = CARD_WAIT_S) -> None:
    if not any(info.name == reader and info.card_present for info in backend.readers()):
        return
    with backend.events(initial=False) as events:
        while (event := events.get(timeout)) is not None:
            if event.kind is EventKind.CARD_REMOVED and event.reader == reader:
                return
