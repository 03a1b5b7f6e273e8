"""APDU processors stacked over a card connection (yubikit style).

Each processor has `transmit(apdu) -> response` and wraps the one below it:

    CardChannel(connection)  =  T0Processor( TraceProcessor( ConnectionProcessor(connection) ) )

- `T0Processor` makes T=0 invisible: `61xx` is fetched with GET RESPONSE
  (`00 C0 00 00 xx`, chained 61xx concatenated), and `6Cxx` re-sends the same
  command with Le = xx, so callers see whole responses. The exchange runs
  inside the connection's transaction, so no other program can slip a command
  between a command and its GET RESPONSE.
- `TraceProcessor` logs every APDU on the wire at level TRACE (5, below DEBUG)
  through `cardsvc.apdu.redact` / `redact_response`: PINs, keys, cryptograms
  and MACs show as `**`.

`CardChannel` is what the card session (cardsvc.card) talks to: `transmit`,
`transaction()`, `atr`, `reader`, `close()`.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import replace
from types import TracebackType
from typing import Any, Final, Protocol, Self, TypeVar

from cardsvc.apdu import ApduFormatError, Command, redact, redact_response
from reader_driver.backend import Backend, CardConnection
from reader_driver.errors import ReaderError, TransportError

logger = logging.getLogger(__name__)

_T = TypeVar("_T")

# Below DEBUG: one line per APDU (the same value as cardsvc.cli.main.TRACE).
TRACE: Final = 5

GET_RESPONSE_INS: Final = 0xC0
# A card that keeps answering 61xx is broken: stop after this many GET RESPONSEs.
MAX_GET_RESPONSES: Final = 256


class ApduProcessor(Protocol):
    """Sends a command APDU and returns the response APDU (data || SW1 SW2)."""

    def transmit(self, apdu: bytes) -> bytes: ...


class ConnectionProcessor:
    """The bottom of a stack: the connection itself."""

    def __init__(self, connection: CardConnection) -> None:
        self.connection = connection

    def transmit(self, apdu: bytes) -> bytes:
        return self.connection.transmit(apdu)


class TraceProcessor:
    """Logs each command and response at TRACE, with secrets masked."""

    def __init__(
        self,
        inner: ApduProcessor,
        *,
        label: str = "",
        log: logging.Logger | None = None,
    ) -> None:
        self.inner = inner
        self.label = label
        self.log = log if log is not None else logger
        if logging.getLevelName(TRACE) != "TRACE":
            logging.addLevelName(TRACE, "TRACE")

    def transmit(self, apdu: bytes) -> bytes:
        if not self.log.isEnabledFor(TRACE):
            return self.inner.transmit(apdu)
        prefix = f"{self.label} " if self.label else ""
        self.log.log(TRACE, "%s> %s", prefix, redact(apdu))
        started = time.perf_counter()
        try:
            response = self.inner.transmit(apdu)
        except ReaderError as exc:
            self.log.log(TRACE, "%s< %s", prefix, type(exc).__name__)
            raise
        elapsed_ms = (time.perf_counter() - started) * 1000
        self.log.log(TRACE, "%s< %s (%.1f ms)", prefix, redact_response(apdu, response), elapsed_ms)
        return response


def _status(response: bytes) -> tuple[int, int]:
    if len(response) < 2:
        raise TransportError(f"answer of {len(response)} bytes has no status word")
    return response[-2], response[-1]


def with_le(apdu: bytes, le: int) -> bytes | None:
    """The same command with Le = `le` (1..256); None when `apdu` cannot be parsed."""
    try:
        return replace(Command.parse(apdu), le=le).to_bytes()
    except ApduFormatError:
        return None


class T0Processor:
    """Hides T=0: fetches 61xx with GET RESPONSE and re-sends after 6Cxx."""

    def __init__(
        self,
        inner: ApduProcessor,
        *,
        transaction: Callable[[], AbstractContextManager[object]] | None = None,
        get_response_cla: int = 0x00,
    ) -> None:
        self.inner = inner
        self._transaction = transaction
        self._cla = get_response_cla

    def transmit(self, apdu: bytes) -> bytes:
        guard = self._transaction() if self._transaction is not None else contextlib.nullcontext()
        with guard:
            return self.complete(apdu, self.inner.transmit(apdu))

    def _send_fixing_le(self, apdu: bytes) -> bytes:
        return self._fix_le(apdu, self.inner.transmit(apdu))

    def _fix_le(self, apdu: bytes, response: bytes) -> bytes:
        """`response` to `apdu`, or the answer to `apdu` re-sent with the Le a 6Cxx names."""
        sw1, sw2 = _status(response)
        if sw1 == 0x6C:
            fixed = with_le(apdu, sw2 or 256)
            if fixed is not None and fixed != apdu:
                response = self.inner.transmit(fixed)
                _status(response)
        return response

    def complete(self, apdu: bytes, response: bytes) -> bytes:
        """The whole response to `apdu`, whose first answer was `response` (6Cxx, 61xx handled).

        Call it inside the transaction `apdu` was sent in.
        """
        if len(response) == 2 and response[0] == 0x61:
            # The usual T=0 case first, with no helper call: 61xx carries no data and one
            # GET RESPONSE fetches it all (what follows is the general path's steps).
            get = bytes((self._cla, GET_RESPONSE_INS, 0, 0, response[1]))
            response = self.inner.transmit(get)
            if len(response) >= 2 and response[-2] != 0x61 and response[-2] != 0x6C:
                return response
            response = self._fix_le(get, response)
            if response[-2] != 0x61:
                return response
            return self._chain(response, 1)
        sw1, sw2 = _status(response)
        if sw1 == 0x6C:
            fixed = with_le(apdu, sw2 or 256)
            if fixed is not None and fixed != apdu:
                response = self.inner.transmit(fixed)
                sw1, sw2 = _status(response)
        if sw1 != 0x61:
            return response
        fetched = 0
        if len(response) == 2:  # 61xx with no data after a 6Cxx re-send: one fetch does
            response = self._send_fixing_le(bytes((self._cla, GET_RESPONSE_INS, 0, 0, sw2)))
            if response[-2] != 0x61:
                return response
            fetched = 1
        return self._chain(response, fetched)

    def _chain(self, response: bytes, fetched: int) -> bytes:
        """Data ‖ SW of a 61xx chain whose last answer is `response`, after `fetched` fetches."""
        sw2 = response[-1]
        data = bytearray(response[:-2])
        for _ in range(MAX_GET_RESPONSES - fetched):
            response = self._send_fixing_le(bytes((self._cla, GET_RESPONSE_INS, 0, 0, sw2)))
            sw1, sw2 = _status(response)
            data += response[:-2]
            if sw1 != 0x61:
                return bytes(data) + bytes((sw1, sw2))
        raise TransportError(
            f"the card answered 61xx to {MAX_GET_RESPONSES} GET RESPONSEs in a row; giving up"
        )


class CardChannel:
    """A connection seen through the processor stack: whole responses, traced, masked."""

    def __init__(
        self,
        connection: CardConnection,
        *,
        t0: bool = True,
        trace: bool = True,
        log: logging.Logger | None = None,
    ) -> None:
        self.connection = connection
        stack: ApduProcessor = ConnectionProcessor(connection)
        self._trace_log: logging.Logger | None = None
        if trace:
            traced = TraceProcessor(stack, label=connection.reader, log=log)
            self._trace_log, stack = traced.log, traced
        self._t0: T0Processor | None = None
        if t0:
            self._t0 = T0Processor(stack, transaction=connection.transaction)
            stack = self._t0
            # The same straight over the connection, for commands sent while not traced.
            self._t0_direct = T0Processor(connection, transaction=connection.transaction)
        self._stack = stack
        # `holds_transaction()`: whether this thread holds the connection's transaction
        # already (then a command needs no nested one); connections without it get one.
        self._holds: Callable[[], bool] | None = getattr(connection, "holds_transaction", None)
        # The connection's `run(fn)`, if it has one (looked up once: `run` is per operation).
        self._run: Callable[[Callable[[], Any]], Any] | None = getattr(connection, "run", None)

    @property
    def reader(self) -> str:
        return self.connection.reader

    @property
    def atr(self) -> bytes:
        return self.connection.atr

    @property
    def closed(self) -> bool:
        return self.connection.closed

    def transmit(self, apdu: bytes) -> bytes:
        """The whole response APDU (data || SW1 SW2) to one command."""
        log = self._trace_log
        if log is not None and log.isEnabledFor(TRACE):
            return self._stack.transmit(apdu)
        # Not traced: straight to the connection, the T=0 layer only when the answer needs it.
        if self._t0 is None:
            return self.connection.transmit(apdu)
        holds = self._holds
        if holds is None or not holds():
            return self._t0_direct.transmit(apdu)
        response = self.connection.transmit(apdu)
        if len(response) >= 2 and response[-2] != 0x61 and response[-2] != 0x6C:
            return response
        return self._t0_direct.complete(apdu, response)

    def transaction(self) -> AbstractContextManager[None]:
        """Hold the card exclusively for a multi-command sequence (nests)."""
        return self.connection.transaction()

    def run(self, fn: Callable[[], _T]) -> _T:
        """`fn()`, a multi-command operation, through the connection's `run` when it has one.

        `PcscConnection.run` / `InProcessConnection.run` hand the whole operation to
        the watchdog once (every command still bounded by its own timeout); any other
        connection runs `fn` on the caller's thread.
        """
        run = self._run
        if run is None:
            return fn()
        result: _T = run(fn)
        return result

    def close(self) -> None:
        self.connection.disconnect()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def open_channel(
    backend: Backend, reader: str, *, t0: bool = True, trace: bool = True
) -> CardChannel:
    """Connect to the card in `reader` and put the processor stack on top."""
    return CardChannel(backend.connect(reader), t0=t0, trace=trace)
