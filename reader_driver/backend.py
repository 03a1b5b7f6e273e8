"""The reader layer's ports: a backend lists readers, connects to cards and reports events.

Two backends implement them: `reader_driver.pcsc.PcscBackend` (pyscard over
pcscd: real readers, or simulated cards behind vpcd) and
`reader_driver.inprocess.InProcessBackend` (simulated cards driven directly,
for fast tests). Both raise the same errors (reader_driver.errors):
`NoReader`, `NoCard`, `CardRemoved`, `PcscdUnavailable`, `ReaderTimeout`,
`ReaderBusy`, `ConnectionClosed`, `TransportError`.

A `CardConnection` moves raw bytes: `transmit` returns the card's answer as it
is (data || SW1 SW2), with no T=0 handling; `reader_driver.processors` stacks
GET RESPONSE / 6Cxx handling and tracing on top of it.

Both backends' connections also offer two optional methods that the port does
not require (`CardChannel` uses them when present): `run(fn)`, which runs a
whole multi-command operation with at most one watchdog hand-off (none for a
PC/SC connection whose watchdog is interruptible; each command still bounded,
see `reader_driver.watchdog`), and `holds_transaction()`,
which says whether the caller is inside a `transaction()` already.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol, Self

from reader_driver.errors import InvalidApdu

# Default for every bounded wait on a card (seconds): a mute card raises ReaderTimeout.
DEFAULT_TIMEOUT = 5.0
# Short APDUs only: header, Lc, 255 data bytes, Le.
MAX_APDU = 4 + 1 + 255 + 1


def check_apdu(apdu: object) -> None:
    """InvalidApdu unless `apdu` is bytes of a length a short command APDU can have."""
    if not isinstance(apdu, bytes | bytearray):
        raise InvalidApdu(f"a command APDU is bytes, not {type(apdu).__name__}")
    if not 4 <= len(apdu) <= MAX_APDU:
        raise InvalidApdu(f"a command APDU has 4..{MAX_APDU} bytes, not {len(apdu)}")


@dataclass(frozen=True, slots=True)
class ReaderInfo:
    """A reader as listed: its name, and the card in it if there is one."""

    name: str
    card_present: bool
    # The ATR of the card, b"" when there is none (or the card did not answer the reset).
    atr: bytes = b""
    # Another connection (this process or another) is open to the card.
    in_use: bool = False
    # A card is there but did not answer the reset.
    mute: bool = False


class EventKind(enum.Enum):
    """What happened to a reader, a card, or pcscd itself."""

    READER_ADDED = "reader-added"
    READER_REMOVED = "reader-removed"
    CARD_INSERTED = "card-inserted"
    CARD_REMOVED = "card-removed"
    # pcscd went away: every reader and card is reported gone first (READER_REMOVED,
    # CARD_REMOVED), then this event; open connections are lost.
    SERVICE_LOST = "pcscd-lost"
    # pcscd answers again: this event, then READER_ADDED / CARD_INSERTED as found.
    SERVICE_BACK = "pcscd-back"


@dataclass(frozen=True, slots=True)
class ReaderEvent:
    """One event; `reader` is "" for the pcscd events, `atr` is set for CARD_INSERTED."""

    kind: EventKind
    reader: str = ""
    atr: bytes = b""


class CardConnection(Protocol):
    """A connection to the card in one reader (shared: other programs may connect too).

    `transmit` sends one command APDU and returns the whole response APDU
    (data || SW1 SW2) exactly as the card answered. `transaction()` holds the
    card exclusively (no other connection, in this or another program, can
    send anything in between) for a multi-command sequence; transactions nest.
    `disconnect` leaves the card as it is (powered, state kept) and never raises.
    """

    @property
    def reader(self) -> str: ...

    @property
    def atr(self) -> bytes: ...

    @property
    def closed(self) -> bool: ...

    def transmit(self, apdu: bytes) -> bytes: ...

    def transaction(self) -> AbstractContextManager[None]: ...

    def disconnect(self) -> None: ...


class ReaderEvents(Protocol):
    """A running source of reader and card events, until `stop()`.

    Events come either through the `on_event` callback the backend was given
    (called on the watcher thread) or, without one, from `get`/iteration.
    Iteration ends once the source is stopped and its queue is drained.
    """

    @property
    def stopped(self) -> bool: ...

    def get(self, timeout: float | None = None) -> ReaderEvent | None:
        """The next event; None when `timeout` seconds pass first or the source is stopped."""
        ...

    def __iter__(self) -> Iterator[ReaderEvent]: ...

    def stop(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(self, *exc: object) -> None: ...


class Backend(Protocol):
    """Where readers come from."""

    def readers(self) -> list[ReaderInfo]:
        """Every reader, in the backend's order; [] when there is none."""
        ...

    def connect(self, reader: str) -> CardConnection:
        """Connect (shared) to the card in `reader`; NoReader / NoCard / ReaderBusy otherwise."""
        ...

    def events(
        self,
        *,
        initial: bool = True,
        on_event: Callable[[ReaderEvent], None] | None = None,
    ) -> ReaderEvents:
        """Start watching; with `initial`, the present readers and cards come first as events."""
        ...

    def close(self) -> None:
        """Release what the backend holds (not the connections it made)."""
        ...
