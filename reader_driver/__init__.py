"""PC/SC reader layer: the only package that imports pyscard (see issue 3).

pyscard is imported lazily (on the first PC/SC call), so importing this
package has no side effects and works without pcscd.

- ports (`backend`): `Backend`, `CardConnection`, `ReaderEvents`, `ReaderInfo`,
  `ReaderEvent`, `EventKind`;
- backends: `PcscBackend` (pcscd), `InProcessBackend` (simulated cards, no pcscd);
- processors: `CardChannel` (T=0 GET RESPONSE / 6Cxx and masked APDU tracing
  over a connection; `run(fn)` for a whole operation with one watchdog
  hand-off), `open_channel`, `T0Processor`, `TraceProcessor`;
- `wait_for_card`; errors from `reader_driver.errors`.
"""

from reader_driver.backend import (
    DEFAULT_TIMEOUT,
    Backend,
    CardConnection,
    EventKind,
    ReaderEvent,
    ReaderEvents,
    ReaderInfo,
)
from reader_driver.errors import (
    CardRemoved,
    CardReset,
    CardUnresponsive,
    ConnectionClosed,
    InvalidApdu,
    NoCard,
    NoReader,
    PcscdError,
    PcscdUnavailable,
    ReaderBusy,
    ReaderError,
    ReaderTimeout,
    TransportError,
)
from reader_driver.events import EventStream, PcscReaderEvents, wait_for_card
from reader_driver.inprocess import InProcessBackend, InProcessConnection
from reader_driver.pcsc import PcscBackend, PcscConnection
from reader_driver.processors import (
    TRACE,
    ApduProcessor,
    CardChannel,
    ConnectionProcessor,
    T0Processor,
    TraceProcessor,
    open_channel,
)
from reader_driver.watchdog import Watchdog

__all__ = [
    "DEFAULT_TIMEOUT",
    "TRACE",
    "ApduProcessor",
    "Backend",
    "CardChannel",
    "CardConnection",
    "CardRemoved",
    "CardReset",
    "CardUnresponsive",
    "ConnectionClosed",
    "ConnectionProcessor",
    "EventKind",
    "EventStream",
    "InProcessBackend",
    "InProcessConnection",
    "InvalidApdu",
    "NoCard",
    "NoReader",
    "PcscBackend",
    "PcscConnection",
    "PcscReaderEvents",
    "PcscdError",
    "PcscdUnavailable",
    "ReaderBusy",
    "ReaderError",
    "ReaderEvent",
    "ReaderEvents",
    "ReaderInfo",
    "ReaderTimeout",
    "T0Processor",
    "TraceProcessor",
    "TransportError",
    "Watchdog",
    "open_channel",
    "wait_for_card",
]
