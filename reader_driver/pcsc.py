"""The PC/SC backend: pyscard's low-level `smartcard.scard` API over pcscd.

pyscard is imported on first use (`pcsc_codes.load_scard`), so importing
this module needs neither pyscard's native library nor a running pcscd. Every
PC/SC result code is translated into reader_driver.errors by this module and
its helpers (pcsc_codes, events) and nowhere else.

- `PcscBackend` keeps one "control" context for listing readers; when pcscd
  stops or restarts, that context is dropped and a new one is established on
  the next call (one retry), so the same backend object keeps working once
  pcscd is back. While pcscd is down calls raise `PcscdUnavailable`.
- `PcscConnection` owns its own context and card handle (SCARD_SHARE_SHARED,
  T=0 or T=1; SCARD_LEAVE_CARD on disconnect), so a mute card blocks only that
  connection (see reader_driver.watchdog: every blocking call is bounded). When
  the context's socket to pcscd is known (reader_driver.pcsc_socket, the usual
  case on Linux) its calls run on the caller's thread and one past its limit is
  freed by shutting that socket down; otherwise on a watchdog worker, one
  hand-off per call or per `run(fn)`.
- Known quirks handled: a card pulled during a command comes back from
  pcsc-lite as "Command successful" with an empty answer (measured with
  pcsc-lite 1.9.9 + vpcd), which raises `CardRemoved`; an error reply from
  pyscard carries a garbage buffer, so answers are used only on success;
  after a pcscd restart the old context reports SCARD_E_NO_SERVICE forever
  although `SCardIsValidContext` says it is valid; a card swapped before
  pcscd's presence poll noticed makes every transmit fail with
  SCARD_E_NOT_TRANSACTED while pcscd still shows the old card: the connection
  resets the card (so pcscd reads the new ATR) and raises `CardRemoved` (another
  ATR) or `CardReset` (the same one).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from types import TracebackType
from typing import Any, Final, Self, TypeVar

from reader_driver import pcsc_socket
from reader_driver.backend import DEFAULT_TIMEOUT, MAX_APDU, ReaderEvent, ReaderInfo, check_apdu
from reader_driver.errors import (
    CardRemoved,
    CardReset,
    ConnectionClosed,
    PcscdUnavailable,
    ReaderBusy,
    ReaderTimeout,
    TransportError,
)
from reader_driver.events import PcscReaderEvents
from reader_driver.pcsc_codes import (
    CARD_GONE,
    CONTACT_LOST,
    LEAVE_CARD,
    PROTOCOL_T0,
    PROTOCOL_T1,
    RESET_CARD,
    SCOPE_USER,
    SERVICE_GONE,
    SHARE_SHARED,
    Code,
    State,
    code_name,
    load_scard,
    pcscd_hint,
    translate,
)
from reader_driver.watchdog import Watchdog, run_bounded

logger = logging.getLogger(__name__)

_T = TypeVar("_T")


# Transmit failures that say nothing about the card (the connection stays usable).
_BAD_INPUT: Final = frozenset(
    {Code.E_INVALID_PARAMETER, Code.E_INVALID_VALUE, Code.E_INSUFFICIENT_BUFFER}
)
_LIST_RETRIES: Final = 3
# After SCARD_E_NOT_TRANSACTED: how long to retry resetting a card that is not there (yet).
_RESET_WINDOW_S: Final = 0.6
_RESET_RETRY_S: Final = 0.05


class _PcscCallError(Exception):
    """A PC/SC call returned `code`; raised on a worker thread, translated by the caller."""

    def __init__(self, code: int, what: str, readers: Sequence[str] | None = None) -> None:
        super().__init__(code_name(code))
        self.code = int(code)
        self.what = what
        self.readers = readers


def _list_names(scard: Any, context: int) -> list[str]:
    hresult, names = scard.SCardListReaders(context, [])
    if hresult == Code.E_NO_READERS_AVAILABLE:
        return []
    if hresult != Code.S_SUCCESS:
        raise _PcscCallError(hresult, "list readers")
    return [str(name) for name in names]


def _reader_infos(scard: Any, context: int) -> list[ReaderInfo]:
    for _ in range(_LIST_RETRIES):
        names = _list_names(scard, context)
        if not names:
            return []
        hresult, states = scard.SCardGetStatusChange(
            context, 0, [(name, State.UNAWARE) for name in names]
        )
        if hresult == Code.E_UNKNOWN_READER:  # one went away in between: list again
            continue
        if hresult not in (Code.S_SUCCESS, Code.E_TIMEOUT):
            raise _PcscCallError(hresult, "read the reader states")
        infos = []
        for name, flags, atr in states:
            present = bool(flags & State.PRESENT)
            infos.append(
                ReaderInfo(
                    name=str(name),
                    card_present=present,
                    atr=bytes(atr) if present else b"",
                    in_use=bool(flags & State.INUSE),
                    mute=bool(flags & State.MUTE),
                )
            )
        return infos
    raise _PcscCallError(Code.E_UNKNOWN_READER, "read the reader states")


class _Handles:
    """A PC/SC context (and card handle) with the watchdog that bounds calls through it.

    A card connection's context (`connection=True`) whose socket to pcscd is known
    (`reader_driver.pcsc_socket`) makes its watchdog interruptible: calls run on the
    caller's thread, and one past its limit is freed by shutting that socket down.
    Otherwise its calls run inline in a bounded region (see `PcscConnection.run`)
    or on the watchdog's worker.
    """

    def __init__(self, timeout: float | None, name: str, *, connection: bool = False) -> None:
        self.context: int | None = None
        self.handle: int | None = None
        self._connection = connection
        # (descriptor, inode) of the context's socket to pcscd, while it is open
        self._socket: tuple[int, int] | None = None
        self._socket_lock = threading.Lock()
        self.watchdog = Watchdog(
            timeout, name=name, on_abandoned=self.release, inline_in_region=connection
        )

    def establish(self, scard: Any) -> int:
        if self._connection:
            (hresult, context), sock = pcsc_socket.establish_context(
                lambda: scard.SCardEstablishContext(SCOPE_USER)
            )
        else:
            (hresult, context), sock = scard.SCardEstablishContext(SCOPE_USER), None
        if hresult != Code.S_SUCCESS:
            raise _PcscCallError(hresult, "establish a PC/SC context")
        self.context = int(context)
        if sock is not None:
            with self._socket_lock:
                self._socket = sock
            self.watchdog.interrupt_with(self._interrupt)
        return self.context

    def _interrupt(self) -> None:
        """Free the call blocked on this context (the watchdog's monitor, past its limit)."""
        with self._socket_lock:
            sock = self._socket
            if sock is not None and pcsc_socket.shutdown(*sock):
                logger.info("%s: shut down the connection to pcscd", self.watchdog.name)

    def release(self) -> None:
        """Disconnect (leaving the card as it is) and release the context; never raises."""
        with self._socket_lock:  # closed below: no shutdown from now on
            self._socket = None
        handle, self.handle = self.handle, None
        context, self.context = self.context, None
        if handle is None and context is None:
            return
        scard = load_scard()
        if handle is not None:
            hresult = scard.SCardDisconnect(handle, LEAVE_CARD)
            if hresult != Code.S_SUCCESS:
                logger.debug("SCardDisconnect: %s", code_name(hresult))
        if context is not None:
            hresult = scard.SCardReleaseContext(context)
            if hresult != Code.S_SUCCESS:
                logger.debug("SCardReleaseContext: %s", code_name(hresult))

    def close(self) -> None:
        """Release now through the watchdog (bounded); an abandoned worker releases later."""
        if not self.watchdog.tripped:
            with contextlib.suppress(ConnectionClosed, ReaderTimeout):
                self.watchdog.call(self.release, what="pcscd")
        self.watchdog.close()


class PcscBackend:
    """Readers and cards through pcscd.

    `timeout` bounds every wait for a card or for pcscd (None: wait forever,
    not advised); `transaction_timeout` bounds the wait for another program's
    exclusive transaction to end (default: `timeout`).
    """

    def __init__(
        self,
        *,
        timeout: float | None = DEFAULT_TIMEOUT,
        transaction_timeout: float | None = None,
    ) -> None:
        self.timeout = timeout
        self.transaction_timeout = timeout if transaction_timeout is None else transaction_timeout
        self._lock = threading.Lock()
        self._control: _Handles | None = None
        self._closed = False

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def readers(self) -> list[ReaderInfo]:
        return self._with_control("list readers", _reader_infos)

    def reader_names(self) -> list[str]:
        return self._with_control("list readers", _list_names)

    def connect(self, reader: str) -> PcscConnection:
        return PcscConnection.open(
            reader, timeout=self.timeout, transaction_timeout=self.transaction_timeout
        )

    def events(
        self,
        *,
        initial: bool = True,
        on_event: Callable[[ReaderEvent], None] | None = None,
    ) -> PcscReaderEvents:
        return PcscReaderEvents(initial=initial, on_event=on_event)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            control, self._control = self._control, None
        if control is not None:
            control.close()

    # --- the control context --------------------------------------------------------

    def _with_control(self, what: str, op: Callable[[Any, int], _T]) -> _T:
        """`op(scard, context)` on the control context; a new context once after a restart."""
        scard = load_scard()
        with self._lock:
            if self._closed:
                raise ConnectionClosed("the PC/SC backend is closed")
            for attempt in (1, 2):
                control = self._control
                if control is None:
                    control = _Handles(self.timeout, name="pcscd")
                    self._control = control
                try:
                    return control.watchdog.call(
                        _bind(op, scard, control), on_timeout=_pcscd_hung, what="pcscd"
                    )
                except ReaderTimeout:
                    self._control = None  # its worker releases it when pcscd answers
                    raise
                except _PcscCallError as failure:
                    if failure.code not in SERVICE_GONE:
                        raise translate(failure.code, what) from None
                    logger.info(
                        "pcscd went away (%s); dropping the context", code_name(failure.code)
                    )
                    self._control = None
                    control.close()
                    if attempt == 2:
                        raise translate(failure.code, what) from None
        raise AssertionError("unreachable")  # pragma: no cover


def _pcscd_hung(seconds: float) -> BaseException:
    return ReaderTimeout(
        f"pcscd did not answer within {seconds:g} s (hung? restart it)", timeout=seconds
    )


def _bind(op: Callable[[Any, int], _T], scard: Any, control: _Handles) -> Callable[[], _T]:
    """`op` on the control context, established on first use (on the worker thread)."""

    def run() -> _T:
        context = control.context if control.context is not None else control.establish(scard)
        return op(scard, context)

    return run


class PcscConnection:
    """A shared connection to the card in one reader, with its own PC/SC context.

    Thread-safe: calls from several threads are serialised, and `transaction()`
    keeps the other threads of this process out as well as other programs.
    """

    def __init__(
        self,
        reader: str,
        handles: _Handles,
        protocol: int,
        atr: bytes,
        transaction_timeout: float | None,
    ) -> None:
        self._reader = reader
        self._handles = handles
        self._protocol = protocol
        self._atr = atr
        self._transaction_timeout = transaction_timeout
        self._lock = threading.RLock()
        self._lock_wait = -1 if transaction_timeout is None else transaction_timeout
        self._on_mute = self._mute
        self._depth = 0
        self._owner = 0  # the thread holding the transaction (while _depth > 0)
        self._dead: TransportError | None = None
        self._closed = False
        scard = load_scard()
        self._scard_transmit = scard.SCardTransmit
        self._scard_begin = scard.SCardBeginTransaction
        self._scard_end = scard.SCardEndTransaction

    @classmethod
    def open(
        cls,
        reader: str,
        *,
        timeout: float | None = DEFAULT_TIMEOUT,
        transaction_timeout: float | None = DEFAULT_TIMEOUT,
    ) -> PcscConnection:
        """Connect to the card in `reader` (NoReader, NoCard, CardUnresponsive, ReaderBusy...)."""
        scard = load_scard()
        handles = _Handles(timeout, name=reader, connection=True)

        def connect() -> tuple[int, bytes]:
            context = handles.establish(scard)
            hresult, handle, protocol = scard.SCardConnect(
                context, reader, SHARE_SHARED, PROTOCOL_T0 | PROTOCOL_T1
            )
            if hresult != Code.S_SUCCESS:
                names = None
                if hresult in (Code.E_UNKNOWN_READER, Code.E_READER_UNAVAILABLE):
                    with contextlib.suppress(_PcscCallError):
                        names = _list_names(scard, context)
                raise _PcscCallError(hresult, "connect", names)
            handles.handle = int(handle)
            status = scard.SCardStatus(handle)
            if status[0] != Code.S_SUCCESS:
                raise _PcscCallError(status[0], "read the ATR")
            return int(protocol), bytes(status[4])

        try:
            protocol, atr = handles.watchdog.call(connect, what="the reader")
        except _PcscCallError as failure:
            handles.close()
            what = "connect" if failure.what == "connect" else failure.what
            raise translate(failure.code, what, reader, failure.readers) from None
        except ReaderTimeout:
            raise
        except BaseException:
            handles.close()
            raise
        logger.debug("connected to %s (T=%d), ATR %s", reader, protocol - 1, atr.hex().upper())
        return cls(reader, handles, protocol, atr, transaction_timeout)

    # --- what it is ------------------------------------------------------------------

    @property
    def reader(self) -> str:
        return self._reader

    @property
    def atr(self) -> bytes:
        return self._atr

    @property
    def protocol(self) -> str:
        """ "T=0" or "T=1", as negotiated."""
        return "T=1" if self._protocol == PROTOCOL_T1 else "T=0"

    @property
    def closed(self) -> bool:
        return self._closed or self._dead is not None or self._handles.watchdog.tripped

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"PcscConnection({self._reader!r}, {self.protocol}, {state})"

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.disconnect()

    # --- exchanging --------------------------------------------------------------------

    def transmit(self, apdu: bytes) -> bytes:
        """Send one command APDU; the response APDU (data || SW1 SW2) as the card sent it."""
        if type(apdu) is not bytes or not 4 <= len(apdu) <= MAX_APDU:
            check_apdu(apdu)
        watchdog = self._handles.watchdog
        # its lock may be held by an abandoned worker (`_tripped`: the property, no call)
        if watchdog._tripped:
            self._usable()
        if not self._lock.acquire(True, self._lock_wait):
            raise self._held_elsewhere()
        try:
            handle = self._handles.handle
            if handle is None or self._dead is not None or self._closed:
                handle = self._usable()
            try:
                hresult, response = watchdog.call(
                    self._scard_transmit,
                    handle,
                    self._protocol,
                    list(apdu),
                    on_timeout=self._on_mute,
                    what="the card",
                )
            except ReaderTimeout as exc:
                self._dead = exc  # the worker keeps the context; it releases it when unblocked
                raise
            if hresult or len(response) < 2:  # S_SUCCESS is 0
                return self._transmit_failed(int(hresult), response)
            return bytes(response)
        finally:
            self._lock.release()

    def _transmit_failed(self, hresult: int, response: Sequence[int]) -> bytes:
        """A transmit that failed, or "succeeded" with no status word (the card was pulled)."""
        if hresult != Code.S_SUCCESS:  # the answer is garbage then: not looked at
            raise self._failed(hresult, "transmit")
        # pcsc-lite reports a card pulled during the command as success, no answer.
        raise self._die(
            CardRemoved(
                f"{self._reader}: the card was removed during a command "
                f"(answer of {len(response)} bytes, no status word)",
                reader=self._reader,
            )
        )

    def run(self, fn: Callable[[], _T]) -> _T:
        """`fn()` (a multi-command operation) with one thread hand-off instead of one per call.

        `fn` runs on a bounded-region worker (`reader_driver.watchdog.run_bounded`):
        every PC/SC call it makes on this or another connection runs there inline and
        is still bounded by its own timeout (a mute card raises ReaderTimeout, another
        program's long transaction ReaderBusy); what `fn` raises is raised here.
        Without a watchdog (`timeout=None`), or when the watchdog is interruptible
        (every call is then bounded on the caller's thread: no hand-off at all),
        `fn` runs on the caller's thread.
        """
        watchdog = self._handles.watchdog
        if watchdog.timeout is None or watchdog.interruptible:
            return fn()
        return run_bounded(fn)

    def holds_transaction(self) -> bool:
        """Whether the calling thread is inside a `transaction()` of this connection."""
        return self._depth > 0 and self._owner == threading.get_ident()

    def transaction(self) -> AbstractContextManager[None]:
        """Hold the card exclusively (SCardBeginTransaction ... SCardEndTransaction); nests.

        Also keeps the other threads of this process out of the connection until it ends.
        """
        return _Transaction(self)

    def disconnect(self) -> None:
        """Leave the card as it is and release the connection; idempotent, never raises."""
        acquired = self._lock.acquire(timeout=self._handles.watchdog.timeout or DEFAULT_TIMEOUT)
        try:
            if self._closed:
                return
            self._closed = True
            self._depth = 0
            self._handles.close()  # SCardDisconnect also ends an open transaction
        finally:
            if acquired:
                self._lock.release()

    # --- internals ---------------------------------------------------------------------

    def _held_elsewhere(self) -> ReaderBusy:
        return ReaderBusy(
            f"{self._reader}: another thread holds this connection in a transaction",
            reader=self._reader,
        )

    def _begin(self) -> None:
        """Enter a transaction: the lock (kept until `_end`), SCardBeginTransaction if outermost.

        The lock held by a transaction in another thread: ReaderBusy after the transaction
        timeout.
        """
        if self._handles.watchdog._tripped:  # its lock may be held by an abandoned worker
            self._usable()
        if not self._lock.acquire(True, self._lock_wait):
            raise self._held_elsewhere()
        entered = False
        try:
            if self._depth == 0:
                self._begin_transaction()
                self._owner = threading.get_ident()
            self._depth += 1
            entered = True
        finally:
            if not entered:
                self._lock.release()

    def _begin_transaction(self) -> None:
        handles = self._handles
        watchdog = handles.watchdog
        handle = handles.handle
        # `_usable()` only when something is wrong (it raises then): one call less per read
        if (
            handle is None
            or self._dead is not None
            or self._closed
            or watchdog._trip_error is not None
        ):
            handle = self._usable()
        try:
            hresult = watchdog.call(
                self._scard_begin,
                handle,
                timeout=self._transaction_timeout,
                on_timeout=self._busy,
                what="another program's transaction to end",
            )
        except (ReaderTimeout, ReaderBusy) as exc:
            self._dead = exc  # the worker keeps the context; it releases it when unblocked
            raise
        if hresult != Code.S_SUCCESS:
            raise self._failed(int(hresult), "begin a transaction")

    def _end(self, failing: bool) -> None:
        """Leave a transaction: SCardEndTransaction if outermost (errors ignored if `failing`)."""
        try:
            if self._depth > 0:  # a connection that died meanwhile has depth 0
                self._depth -= 1
                if self._depth == 0:
                    if failing:
                        with contextlib.suppress(TransportError):
                            self._end_transaction()
                    else:
                        self._end_transaction()
        finally:
            self._lock.release()

    def _usable(self) -> int:
        dead = self._dead if self._dead is not None else self._handles.watchdog.trip_error
        if dead is not None:
            raise ConnectionClosed(
                f"{self._reader}: connection lost ({dead}); connect again",
                reader=self._reader,
            )
        if self._closed or self._handles.handle is None:
            raise ConnectionClosed(f"{self._reader}: connection closed", reader=self._reader)
        return self._handles.handle

    def _mute(self, seconds: float) -> BaseException:
        return ReaderTimeout(
            f"{self._reader}: no answer from the card within {seconds:g} s "
            "(mute card, or another program holds it)",
            timeout=seconds,
            reader=self._reader,
        )

    def _busy(self, seconds: float) -> BaseException:
        return ReaderBusy(
            f"{self._reader}: the card stayed in another program's transaction for {seconds:g} s",
            reader=self._reader,
        )

    def _failed(self, code: int, what: str) -> TransportError:
        """The error for a failed call; the connection dies unless only the input was bad."""
        if code in _BAD_INPUT:
            return translate(code, what, self._reader)
        if code in SERVICE_GONE:
            return self._die(
                PcscdUnavailable(
                    f"{self._reader}: lost pcscd (stopped or restarted) during {what}: "
                    f"connect again (if {pcscd_hint()})",
                    reader=self._reader,
                    code=code,
                )
            )
        if code in CONTACT_LOST:
            return self._die(self._contact_lost(code, what))
        if code not in CARD_GONE and code != Code.W_RESET_CARD and self._card_gone():
            return self._die(
                CardRemoved(
                    f"{self._reader}: the card was removed ({what}: {code_name(code)})",
                    reader=self._reader,
                    code=code,
                )
            )
        return self._die(translate(code, what, self._reader))

    def _contact_lost(self, code: int, what: str) -> TransportError:
        """The error once the reader could not exchange with the card (SCARD_E_NOT_TRANSACTED).

        The card this connection was made for is gone for it: pulled, swapped, or
        it lost power. When a card is swapped before pcscd's presence poll noticed
        (pcsc-lite 1.9.9 + vpcd), pcscd keeps showing the old card and its ATR and
        every transmit fails, on new connections too, until the card is reset. So
        the card is reset here (SCardReconnect, bounded, best effort): pcscd powers
        whatever card is in the reader now and reads its ATR, and the next connect
        works and sees the right ATR. CardRemoved when another ATR (or nothing)
        answered the reset, CardReset when the same ATR did.

        A reset that finds no card is tried again for _RESET_WINDOW_S (longer than
        pcscd's 400 ms presence poll): after a failed reset pcscd shows the reader
        empty, and if the next card came in before its poll saw the reader empty it
        would never notice that card (measured: still empty after 3 s), so either
        a retry reaches the new card or pcscd's own poll sees the reader empty.
        """
        scard = load_scard()
        handle = self._handles.handle
        cause = f"{what}: {code_name(code)}"

        def reset() -> bytes | None:
            if handle is None:
                return None
            deadline = time.monotonic() + _RESET_WINDOW_S
            while True:
                hresult, _protocol = scard.SCardReconnect(
                    handle, SHARE_SHARED, PROTOCOL_T0 | PROTOCOL_T1, RESET_CARD
                )
                if hresult == Code.S_SUCCESS:
                    break
                logger.debug("%s: reset after %s: %s", self._reader, cause, code_name(hresult))
                if hresult not in CARD_GONE or time.monotonic() > deadline:
                    return None
                time.sleep(_RESET_RETRY_S)
            status = scard.SCardStatus(handle)
            return bytes(status[4]) if status[0] == Code.S_SUCCESS else None

        watchdog = self._handles.watchdog
        bound = None if watchdog.timeout is None else watchdog.timeout + _RESET_WINDOW_S
        try:
            atr = watchdog.call(reset, timeout=bound, what="the reader")
        except TransportError:
            atr = None
        logger.info(
            "%s: lost the card (%s); after a reset the reader shows %s",
            self._reader,
            cause,
            f"ATR {atr.hex().upper()}" if atr else "no card",
        )
        if atr is None:
            return CardRemoved(
                f"{self._reader}: the card was removed ({cause}); connect again once a card is in",
                reader=self._reader,
                code=code,
            )
        if atr != self._atr:
            return CardRemoved(
                f"{self._reader}: the card was swapped for another ({cause}); "
                "connect again to use the new card",
                reader=self._reader,
                code=code,
            )
        return CardReset(
            f"{self._reader}: the reader lost contact with the card ({cause}) and reset it: "
            "its security state is gone; connect again",
            reader=self._reader,
            code=code,
        )

    def _card_gone(self) -> bool:
        """Whether SCardStatus says the card is no longer there (bounded, best effort)."""
        scard = load_scard()
        handle = self._handles.handle
        if handle is None:
            return True

        def status() -> bool:
            result = scard.SCardStatus(handle)
            if result[0] in CARD_GONE:
                return True
            return result[0] == Code.S_SUCCESS and not int(result[2]) & State.PRESENT

        try:
            return self._handles.watchdog.call(status, what="pcscd")
        except TransportError:
            return False

    def _die(self, error: TransportError) -> TransportError:
        self._dead = error
        self._depth = 0
        self._handles.close()
        return error

    def _end_transaction(self) -> None:
        if self._dead is not None or self._closed or self._handles.handle is None:
            return
        watchdog = self._handles.watchdog
        try:
            hresult = watchdog.call(
                self._scard_end,
                self._handles.handle,
                LEAVE_CARD,
                on_timeout=self._mute,
                what="pcscd",
            )
        except (ReaderTimeout, ReaderBusy) as exc:
            self._dead = exc  # the worker keeps the context; it releases it when unblocked
            raise
        if hresult != Code.S_SUCCESS:
            raise self._failed(int(hresult), "end the transaction")


class _Transaction(AbstractContextManager[None]):
    """`PcscConnection.transaction()`: a plain class, cheaper than a generator (one per APDU)."""

    __slots__ = ("_connection",)

    def __init__(self, connection: PcscConnection) -> None:
        self._connection = connection

    def __enter__(self) -> None:
        self._connection._begin()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._connection._end(failing=exc_type is not None)
