"""The test harness for the real PC/SC stack: a private pcscd with vpcd readers, cards in slots.

Registered as a pytest plugin by conftest.py. It gives:

- `pcsc_session` (session): takes the machine-wide test lock (one test session
  at a time drives the vpcd slots: the readers and their TCP ports are
  per machine) and starts the stack lazily;
- `pcsc_stack` (session): a `PcscStack` with 3 vpcd entries on ports 35963,
  35965, 35967 (6 slots; CARDSVC_TEST_VPCD_PORTS="p1,p2,p3" overrides), run by a
  `PrivatePcscd`: a running pcscd that has those readers is reused, otherwise
  the suite starts its own and stops it at the end; anything in the way fails
  the test with what to do;
- `plug` (function): `plug(card, slot=0, faults=None)` puts a simulated card into
  a slot with `VpcdSlot` and waits (bounded) until pcscd sees it; every card
  plugged by a test is pulled out, and seen gone, when the test ends.

Tests that use these fixtures get the `pcsc` marker (`-m "not pcsc"` skips them).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import pytest
from bench_process import run_bench_script
from smartcard import scard

from reader_driver.pcscd import PrivatePcscd
from simulators.base import SimulatedCard
from simulators.faults import Faults
from simulators.vpcd import VpcdSlot

logger = logging.getLogger(__name__)

DEFAULT_PORTS: tuple[int, ...] = (35963, 35965, 35967)
PORTS_ENV = "CARDSVC_TEST_VPCD_PORTS"
LOCK_PATH = Path("/tmp/cardsvc-pcsc-tests.lock")
LOCK_WAIT_ENV = "CARDSVC_TEST_PCSC_LOCK_WAIT"
DEFAULT_LOCK_WAIT_S = 60.0
CARD_WAIT_S = 5.0
_POLL_S = 0.05


class PcscHarnessError(Exception):
    """The harness cannot give a test what it asked for; the message says why."""


def configured_ports() -> tuple[int, ...]:
    text = os.environ.get(PORTS_ENV, "").strip()
    if not text:
        return DEFAULT_PORTS
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError:
        raise PcscHarnessError(
            f"{PORTS_ENV}={text!r}: expected base ports separated by commas, e.g. 35963,35965,35967"
        ) from None


# --- the machine-wide lock -----------------------------------------------------------


class MachineLock:
    """An exclusive flock on LOCK_PATH, waited for (bounded); the file names the holder's pid."""

    def __init__(self, path: Path = LOCK_PATH, wait: float | None = None) -> None:
        self.path = path
        self.wait = (
            float(os.environ.get(LOCK_WAIT_ENV, DEFAULT_LOCK_WAIT_S)) if wait is None else wait
        )
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        handle = self.path.open("a+")
        deadline = time.monotonic() + self.wait
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    handle.seek(0)
                    holder = handle.read().strip() or "unknown"
                    handle.close()
                    raise PcscHarnessError(
                        f"another test session (pid {holder}) has been using the PC/SC test "
                        f"stack for more than {self.wait:.0f} s (lock {self.path}): wait until it "
                        f"ends and retry, or raise {LOCK_WAIT_ENV}"
                    ) from None
                time.sleep(0.2)
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._file = handle

    def release(self) -> None:
        handle, self._file = self._file, None
        if handle is not None:
            handle.truncate(0)
            fcntl.flock(handle, fcntl.LOCK_UN)
            handle.close()


# --- card presence through pyscard -------------------------------------------------------


def reader_state(reader: str) -> tuple[int, bytes] | None:
    """(SCARD_STATE_* flags, ATR) of a reader as pcscd sees it now; None if it cannot tell."""
    hresult, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    if hresult != scard.SCARD_S_SUCCESS:
        return None
    try:
        hresult, states = scard.SCardGetStatusChange(
            context, 0, [(reader, scard.SCARD_STATE_UNAWARE)]
        )
        if hresult != scard.SCARD_S_SUCCESS or not states:
            return None
        _, flags, atr = states[0]
        return int(flags), bytes(atr)
    finally:
        scard.SCardReleaseContext(context)


def card_atr(reader: str) -> bytes | None:
    """The ATR of the card in `reader`, or None when pcscd sees no card there."""
    state = reader_state(reader)
    if state is None or not state[0] & scard.SCARD_STATE_PRESENT:
        return None
    return state[1] or None


def wait_until(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(_POLL_S)


def wait_card_present(reader: str, timeout: float = CARD_WAIT_S) -> bytes:
    """Wait until pcscd sees a card in `reader`; returns its ATR."""
    seen: list[bytes] = []

    def present() -> bool:
        atr = card_atr(reader)
        if atr is not None:
            seen.append(atr)
        return atr is not None

    if not wait_until(present, timeout):
        raise PcscHarnessError(f"pcscd saw no card in {reader!r} within {timeout:.0f} s")
    return seen[-1]


def wait_card_absent(reader: str, timeout: float = CARD_WAIT_S) -> None:
    """Wait until pcscd sees no card in `reader`."""
    if not wait_until(lambda: card_atr(reader) is None, timeout):
        raise PcscHarnessError(f"pcscd still sees a card in {reader!r} after {timeout:.0f} s")


# --- the stack -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SlotInfo:
    """One vpcd slot: index 0.. in reader order, its PC/SC name and TCP port."""

    index: int
    reader: str
    port: int


@dataclass(frozen=True)
class PcscStack:
    """A pcscd with vpcd readers; `slots[i]` is reader `readers[i]` on TCP port `ports[i]`."""

    pcscd: PrivatePcscd
    slots: tuple[SlotInfo, ...]

    @property
    def readers(self) -> tuple[str, ...]:
        return tuple(slot.reader for slot in self.slots)

    @property
    def ports(self) -> tuple[int, ...]:
        return tuple(slot.port for slot in self.slots)

    @classmethod
    def of(cls, pcscd: PrivatePcscd) -> PcscStack:
        slots = tuple(
            SlotInfo(index, reader, port)
            for index, (reader, port) in enumerate(
                zip(pcscd.reader_names, pcscd.slot_ports, strict=True)
            )
        )
        return cls(pcscd, slots)


class PcscSession:
    """The session's stack: started on first use, stopped (if the suite started it) at the end."""

    def __init__(self, ports: Sequence[int] | None = None, lock: MachineLock | None = None) -> None:
        self.ports = tuple(ports) if ports is not None else configured_ports()
        self._lock = lock if lock is not None else MachineLock()
        self._locked = False
        self._stack: PcscStack | None = None

    def lock(self) -> None:
        if not self._locked:
            self._lock.acquire()
            self._locked = True

    def stack(self) -> PcscStack:
        self.lock()
        if self._stack is None:
            pcscd = PrivatePcscd(self.ports)
            pcscd.start()
            self._stack = PcscStack.of(pcscd)
        return self._stack

    @contextlib.contextmanager
    def free_machine(self) -> Iterator[None]:
        """No pcscd of this session runs inside; the session's own one is back afterwards.

        For tests that start and stop pcscds themselves. A pcscd the session only
        reuses stays (such tests then meet it as a foreign pcscd).
        """
        self.lock()
        stack = self._stack
        paused = stack is not None and stack.pcscd.owned
        if paused:
            assert stack is not None
            stack.pcscd.stop()
        try:
            yield
        finally:
            if paused:
                assert stack is not None
                stack.pcscd.start()

    def run_bench(
        self, bench: Path, out: Path, *args: str, timeout_s: float
    ) -> tuple[str, dict[str, object]]:
        """Run a PC/SC benchmark script with `args` in a subprocess on the free machine.

        The script gets ``--no-lock --json OUT`` (this session holds the machine's PC/SC
        lock) and must exit 0 within `timeout_s` (else SIGTERM, which the benchmarks
        answer by stopping what they started, then a kill). Returns its standard output
        and the JSON it wrote.
        """
        command = [sys.executable, str(bench), *args, "--no-lock", "--json", str(out)]
        with self.free_machine():
            return run_bench_script(command, out, cwd=bench.parent.parent, timeout_s=timeout_s,
                                    grace_s=20)  # fmt: skip

    def close(self) -> None:
        stack, self._stack = self._stack, None
        try:
            if stack is not None:
                stack.pcscd.stop()
        finally:
            if self._locked:
                self._locked = False
                self._lock.release()


# --- cards in slots ----------------------------------------------------------------------


@dataclass
class PluggedCard:
    """A simulated card served in a slot; `faults` are the slot's switches."""

    card: SimulatedCard
    slot: VpcdSlot
    info: SlotInfo

    @property
    def reader(self) -> str:
        return self.info.reader

    @property
    def faults(self) -> Faults:
        return self.slot.faults

    def remove(self, wait: bool = True) -> None:
        """Pull the card out; with `wait`, until pcscd sees the reader empty."""
        self.slot.remove()
        if wait:
            wait_card_absent(self.reader)

    def insert(self, wait: bool = True) -> bytes | None:
        """Put the card back; with `wait`, until pcscd sees it (returns the ATR it sees)."""
        self.slot.insert()
        return wait_card_present(self.reader) if wait else None


class Plugger:
    """Plugs cards into the stack's slots for one test; `close` pulls them all out."""

    def __init__(self, stack: PcscStack) -> None:
        self.stack = stack
        self._plugged: list[PluggedCard] = []

    def __call__(
        self, card: SimulatedCard, slot: int = 0, faults: Faults | None = None, wait: bool = True
    ) -> PluggedCard:
        info = self.stack.slots[slot]
        if any(p.info.index == slot for p in self._plugged):
            raise PcscHarnessError(f"slot {slot} ({info.reader}) already has a card in this test")
        vpcd = VpcdSlot(card, "127.0.0.1", info.port, faults, name=f"test slot {slot}")
        plugged = PluggedCard(card, vpcd, info)
        self._plugged.append(plugged)
        vpcd.start()
        if wait:
            wait_card_present(info.reader)
        return plugged

    def wait_present(self) -> None:
        """Wait until pcscd sees every card plugged with `wait=False` (and still inserted)."""
        for p in self._plugged:
            if not p.faults.removed:
                wait_card_present(p.reader)

    def close(self) -> None:
        plugged, self._plugged = self._plugged, []
        for p in plugged:
            p.slot.stop()
        problems = []
        for p in plugged:
            try:
                wait_card_absent(p.reader)
            except PcscHarnessError as exc:
                problems.append(str(exc))
        if problems:
            raise PcscHarnessError("; ".join(problems))


# --- pytest plumbing ---------------------------------------------------------------------

PCSC_FIXTURES = frozenset({"pcsc_session", "pcsc_stack", "plug"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if PCSC_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.pcsc)


@pytest.fixture(scope="session")
def pcsc_session() -> Iterator[PcscSession]:
    session = PcscSession()
    try:
        yield session
    finally:
        session.close()


@pytest.fixture(scope="session")
def pcsc_stack(pcsc_session: PcscSession) -> PcscStack:
    try:
        return pcsc_session.stack()
    except Exception as exc:  # the message says what to do; no traceback needed
        pytest.fail(f"PC/SC test stack unavailable: {exc}", pytrace=False)


@pytest.fixture
def plug(pcsc_stack: PcscStack) -> Iterator[Plugger]:
    plugger = Plugger(pcsc_stack)
    try:
        yield plugger
    finally:
        plugger.close()
