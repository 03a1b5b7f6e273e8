"""The in-process backend: simulated cards driven directly, without pcscd (fast tests).

Readers are named "Sim 0", "Sim 1", ... (or as given). `insert(card, reader)`
powers the card on, as a reader does; `remove(reader)` powers it off. It
behaves like the PC/SC backend where a caller can tell:

- connecting to an empty reader raises NoCard, to an unknown one NoReader;
- a connection belongs to the card that was there when it was made: once that
  card is removed (or swapped) the connection raises CardRemoved, also when
  the removal happens during a command; a new `connect` reaches the next card;
- `transaction()` holds the card exclusively: other connections' transactions
  and commands wait for it, for at most `transaction_timeout` seconds
  (then ReaderBusy);
- with `timeout` set, each command runs under a Watchdog (a card whose
  `transmit` blocks raises ReaderTimeout); by default calls run directly.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import threading
import weakref
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Final, Self, TypeVar

from reader_driver.backend import EventKind, ReaderEvent, ReaderInfo, check_apdu
from reader_driver.errors import (
    CardRemoved,
    ConnectionClosed,
    NoCard,
    NoReader,
    ReaderBusy,
    ReaderTimeout,
    TransportError,
)
from reader_driver.events import EventStream
from reader_driver.watchdog import Watchdog, run_bounded
from simulators.base import SimulatedCard
from simulators.errors import SimulatorError

logger = logging.getLogger(__name__)

_T = TypeVar("_T")

READER_PREFIX: Final = "Sim"
DEFAULT_TRANSACTION_TIMEOUT: Final = 5.0


@dataclass(eq=False)
class _Slot:
    name: str
    card: SimulatedCard | None = None
    atr: bytes = b""
    # Bumped on every insert and removal: a connection belongs to one generation.
    generation: int = 0
    # The connection holding the card exclusively, and how deep.
    owner: InProcessConnection | None = None
    depth: int = 0
    connections: int = 0
    changed: threading.Condition = field(default_factory=threading.Condition)


class InProcessBackend:
    """Simulated readers in this process; thread-safe."""

    def __init__(
        self,
        readers: int | Sequence[str] = 1,
        *,
        timeout: float | None = None,
        transaction_timeout: float | None = DEFAULT_TRANSACTION_TIMEOUT,
    ) -> None:
        names = (
            [f"{READER_PREFIX} {i}" for i in range(readers)]
            if isinstance(readers, int)
            else list(readers)
        )
        if len(set(names)) != len(names):
            raise ValueError(f"reader names must differ: {names}")
        self.timeout = timeout
        self.transaction_timeout = transaction_timeout
        self._lock = threading.RLock()
        self._slots: dict[str, _Slot] = {name: _Slot(name) for name in names}
        self._streams: weakref.WeakSet[_InProcessEvents] = weakref.WeakSet()
        self._counter = itertools.count(len(names))

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- the Backend port -------------------------------------------------------------

    def readers(self) -> list[ReaderInfo]:
        with self._lock:
            return [
                ReaderInfo(
                    name=slot.name,
                    card_present=slot.card is not None,
                    atr=slot.atr,
                    in_use=slot.connections > 0,
                )
                for slot in self._slots.values()
            ]

    def connect(self, reader: str) -> InProcessConnection:
        with self._lock:
            slot = self._slot(reader)
            if slot.card is None:
                raise NoCard(f"{reader}: no card in the reader", reader=reader)
            slot.connections += 1
            return InProcessConnection(self, slot, slot.card, slot.generation, slot.atr)

    def events(
        self,
        *,
        initial: bool = True,
        on_event: Callable[[ReaderEvent], None] | None = None,
    ) -> EventStream:
        stream = _InProcessEvents(self, on_event)
        with self._lock:
            if initial:
                for slot in self._slots.values():
                    stream.emit(ReaderEvent(EventKind.READER_ADDED, slot.name))
                    if slot.card is not None:
                        stream.emit(ReaderEvent(EventKind.CARD_INSERTED, slot.name, slot.atr))
            self._streams.add(stream)
        return stream

    def close(self) -> None:
        with self._lock:
            streams = list(self._streams)
        for stream in streams:
            stream.stop()

    # --- the tester's hands ------------------------------------------------------------

    def insert(self, card: SimulatedCard, reader: str | int = 0) -> bytes:
        """Put `card` into an empty reader (name or index) and power it on; its ATR."""
        with self._lock:
            slot = self._slot(self._name(reader))
            if slot.card is not None:
                raise ValueError(f"{slot.name} already has a card: remove it first")
            atr = card.power_on()
            with slot.changed:
                slot.card, slot.atr = card, bytes(atr)
                slot.generation += 1
                slot.changed.notify_all()
            self._emit(ReaderEvent(EventKind.CARD_INSERTED, slot.name, slot.atr))
            return slot.atr

    def remove(self, reader: str | int = 0) -> SimulatedCard | None:
        """Pull the card out of a reader (powering it off); the card, or None if empty."""
        with self._lock:
            slot = self._slot(self._name(reader))
            card = slot.card
            if card is None:
                return None
            with slot.changed:
                slot.card, slot.atr = None, b""
                slot.generation += 1
                slot.owner, slot.depth = None, 0
                slot.changed.notify_all()
            card.power_off()
            self._emit(ReaderEvent(EventKind.CARD_REMOVED, slot.name))
            return card

    def swap(self, card: SimulatedCard, reader: str | int = 0) -> SimulatedCard | None:
        """Remove whatever card is in the reader and insert `card`; the old card."""
        with self._lock:
            old = self.remove(reader)
            self.insert(card, reader)
            return old

    def card(self, reader: str | int = 0) -> SimulatedCard | None:
        with self._lock:
            return self._slot(self._name(reader)).card

    def add_reader(self, name: str | None = None) -> str:
        """Plug in a new (empty) reader; its name."""
        with self._lock:
            if name is None:
                name = f"{READER_PREFIX} {next(self._counter)}"
                while name in self._slots:
                    name = f"{READER_PREFIX} {next(self._counter)}"
            if name in self._slots:
                raise ValueError(f"a reader named {name!r} exists already")
            self._slots[name] = _Slot(name)
            self._emit(ReaderEvent(EventKind.READER_ADDED, name))
            return name

    def remove_reader(self, reader: str | int) -> None:
        """Unplug a reader (its card goes with it)."""
        with self._lock:
            name = self._name(reader)
            self._slot(name)
            self.remove(name)
            slot = self._slots.pop(name)
            with slot.changed:
                slot.generation += 1
                slot.changed.notify_all()
            self._emit(ReaderEvent(EventKind.READER_REMOVED, name))

    # --- internals ---------------------------------------------------------------------

    def _name(self, reader: str | int) -> str:
        if isinstance(reader, int):
            names = list(self._slots)
            if not 0 <= reader < len(names):
                raise NoReader(f"no reader number {reader} (there are {len(names)})")
            return names[reader]
        return reader

    def _slot(self, reader: str) -> _Slot:
        try:
            return self._slots[reader]
        except KeyError:
            known = ", ".join(self._slots) or "none"
            raise NoReader(
                f"no reader named {reader!r} (readers: {known})", reader=reader
            ) from None

    def _emit(self, event: ReaderEvent) -> None:
        for stream in list(self._streams):
            stream.emit(event)

    def _released(self, slot: _Slot) -> None:
        with self._lock:
            slot.connections = max(0, slot.connections - 1)

    def _forget_stream(self, stream: _InProcessEvents) -> None:
        with self._lock:
            self._streams.discard(stream)


class _InProcessEvents(EventStream):
    def __init__(
        self, backend: InProcessBackend, on_event: Callable[[ReaderEvent], None] | None
    ) -> None:
        super().__init__(on_event)
        self._backend = backend

    def _stopping(self) -> None:
        self._backend._forget_stream(self)


class InProcessConnection:
    """A connection to one simulated card (the one present when it was made)."""

    def __init__(
        self,
        backend: InProcessBackend,
        slot: _Slot,
        card: SimulatedCard,
        generation: int,
        atr: bytes,
    ) -> None:
        self._backend = backend
        self._slot = slot
        self._card = card
        self._generation = generation
        self._atr = atr
        self._closed = False
        self._dead: TransportError | None = None
        self._watchdog = (
            Watchdog(backend.timeout, name=slot.name, inline_in_region=True)
            if backend.timeout is not None
            else None
        )

    @property
    def reader(self) -> str:
        return self._slot.name

    @property
    def atr(self) -> bytes:
        return self._atr

    @property
    def closed(self) -> bool:
        return self._closed or self._lost() is not None

    def __repr__(self) -> str:
        return f"InProcessConnection({self.reader!r}, {'closed' if self.closed else 'open'})"

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.disconnect()

    def transmit(self, apdu: bytes) -> bytes:
        check_apdu(apdu)
        with self._exclusive():
            response = self._run(lambda: self._card.transmit(bytes(apdu)))
            self._check_card()  # pulled while it was answering
            if len(response) < 2:
                raise TransportError(
                    f"{self.reader}: the simulated card answered {len(response)} bytes",
                    reader=self.reader,
                )
            return bytes(response)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        with self._exclusive():
            yield

    def holds_transaction(self) -> bool:
        """Whether this connection holds the card in a `transaction()` now."""
        return self._slot.owner is self

    def run(self, fn: Callable[[], _T]) -> _T:
        """`fn()` with one watchdog hand-off for all its commands (see `PcscConnection.run`)."""
        if self._watchdog is None:
            return fn()
        return run_bounded(fn)

    def disconnect(self) -> None:
        if self._closed:
            return
        self._closed = True
        slot = self._slot
        with slot.changed:
            if slot.owner is self:
                slot.owner, slot.depth = None, 0
                slot.changed.notify_all()
        self._backend._released(slot)
        if self._watchdog is not None:
            self._watchdog.close()

    # --- internals ---------------------------------------------------------------------

    def _lost(self) -> BaseException | None:
        if self._dead is not None:
            return self._dead
        return self._watchdog.trip_error if self._watchdog is not None else None

    def _check_card(self) -> None:
        dead = self._lost()
        if dead is not None:
            raise ConnectionClosed(
                f"{self.reader}: connection lost ({dead}); connect again", reader=self.reader
            )
        if self._closed:
            raise ConnectionClosed(f"{self.reader}: connection closed", reader=self.reader)
        if self._slot.generation != self._generation:
            self._dead = CardRemoved(f"{self.reader}: the card was removed", reader=self.reader)
            raise self._dead

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[None]:
        """Own the slot (reentrant) for the block; wait for another owner, bounded."""
        slot = self._slot
        wait = self._backend.transaction_timeout
        with slot.changed:
            self._check_card()
            if not slot.changed.wait_for(
                lambda: slot.owner in (None, self) or slot.generation != self._generation, wait
            ):
                raise ReaderBusy(
                    f"{self.reader}: the card stayed in another connection's transaction "
                    f"for {wait:g} s",
                    reader=self.reader,
                )
            self._check_card()
            slot.owner = self
            slot.depth += 1
        try:
            yield
        finally:
            with slot.changed:
                if slot.owner is self:
                    slot.depth -= 1
                    if slot.depth <= 0:
                        slot.owner, slot.depth = None, 0
                        slot.changed.notify_all()

    def _run(self, fn: Callable[[], bytes]) -> bytes:
        try:
            if self._watchdog is None:
                return fn()
            return self._watchdog.call(fn, what="the simulated card")
        except ReaderTimeout as exc:
            self._dead = exc
            raise
        except SimulatorError as exc:
            raise TransportError(
                f"{self.reader}: the simulated card failed: {exc}", reader=self.reader
            ) from exc
