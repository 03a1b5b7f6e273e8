"""Reader and card events: readers come and go, cards are inserted and removed.

`PcscReaderEvents` watches pcscd with SCardGetStatusChange on its own context
and thread, with an INFINITE timeout over every reader plus the
"\\\\?PnP?\\Notification" pseudo-reader (readers added or removed): it wakes
only when pcscd reports a change, never on a polling tick. `stop()` ends the
wait with SCardCancel. pcsc-lite's per-reader event counter (the high 16 bits
of the state) catches a card removed and inserted between two waits.

When pcscd goes away every known card and reader is reported gone, then
SERVICE_LOST; the watcher then tries to establish a context again with a
backoff (0.1 s growing to 2 s: while pcscd is down there is nothing to wait
on) and, once pcscd answers, reports SERVICE_BACK and the readers and cards
it finds.

`EventStream` is the delivery part both backends share: a queue read by
`get(timeout)` / iteration, or a callback when one is given.
"""

from __future__ import annotations

import functools
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, Final, Self

from reader_driver.backend import Backend, EventKind, ReaderEvent
from reader_driver.errors import NoCard, NoReader, TransportError
from reader_driver.pcsc_codes import (
    PNP_NOTIFICATION,
    SCOPE_USER,
    SERVICE_GONE,
    Code,
    State,
    code_name,
    load_scard,
)
from reader_driver.watchdog import Watchdog

logger = logging.getLogger(__name__)

_BACKOFF_FIRST_S: Final = 0.1
_BACKOFF_MAX_S: Final = 2.0
_STOP_JOIN_S: Final = 5.0
_CANCEL_EVERY_S: Final = 0.05
_CANCEL_WAIT_S: Final = 1.0
_ERROR_PAUSE_S: Final = 0.5
_COUNTER_SHIFT: Final = 16


class EventStream:
    """Delivers events to a callback, or queues them for `get()` and iteration."""

    def __init__(self, on_event: Callable[[ReaderEvent], None] | None = None) -> None:
        self._on_event = on_event
        self._queue: queue.SimpleQueue[ReaderEvent | None] = queue.SimpleQueue()
        self._stop = threading.Event()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def get(self, timeout: float | None = None) -> ReaderEvent | None:
        """The next event; None when `timeout` seconds pass first or the stream is stopped."""
        try:
            event = self._queue.get(timeout=timeout)
        except queue.Empty:
            return None
        if event is None:  # the stop mark: leave it for the next reader too
            self._queue.put(None)
        return event

    def __iter__(self) -> Iterator[ReaderEvent]:
        while True:
            event = self.get()
            if event is None:
                return
            yield event

    def stop(self) -> None:
        if not self._stop.is_set():
            self._stop.set()
            self._queue.put(None)
        self._stopping()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def emit(self, event: ReaderEvent) -> None:
        """Deliver one event (dropped once stopped)."""
        if self._stop.is_set():
            return
        logger.debug("event %s %s", event.kind.value, event.reader)
        if self._on_event is None:
            self._queue.put(event)
            return
        try:
            self._on_event(event)
        except Exception:
            logger.exception("reader event callback failed on %s", event)

    def _stopping(self) -> None:
        """Hook: end the source's wait (called by every `stop()`)."""


class PcscReaderEvents(EventStream):
    """Events from pcscd, watched on a daemon thread until `stop()`."""

    def __init__(
        self,
        *,
        initial: bool = True,
        on_event: Callable[[ReaderEvent], None] | None = None,
    ) -> None:
        super().__init__(on_event)
        self._initial = initial
        self._lock = threading.Lock()
        self._context: int | None = None
        # reader -> last SCARD_STATE (with pcsc-lite's event counter in the high bits)
        self._known: dict[str, int] = {}
        self._pnp_state = 0
        self._service_up = True
        self._thread = threading.Thread(target=self._run, name="pcsc events", daemon=True)
        self._thread.start()

    def _stopping(self) -> None:
        if threading.current_thread() is self._thread:
            return  # stopped from a callback: the loop sees the flag
        scard = load_scard()
        deadline = time.monotonic() + _STOP_JOIN_S
        # A hung pcscd would not answer SCardCancel either: bound it.
        cancel = Watchdog(_CANCEL_WAIT_S, name="pcsc events stop")
        try:
            # SCardCancel only ends a wait in progress: repeat until the thread is out.
            while self._thread.is_alive() and time.monotonic() < deadline:
                with self._lock:
                    context = self._context
                if context is not None:
                    cancel.call(functools.partial(scard.SCardCancel, context), what="pcscd")
                self._thread.join(_CANCEL_EVERY_S)
        except TransportError as exc:
            logger.warning("could not cancel the pcsc events wait: %s", exc)
        finally:
            cancel.close()
        if self._thread.is_alive():
            logger.warning("the pcsc events thread did not stop within %g s", _STOP_JOIN_S)

    # --- the watcher thread -------------------------------------------------------------

    def _run(self) -> None:
        scard = load_scard()
        backoff = _BACKOFF_FIRST_S
        first = True
        try:
            while not self.stopped:
                context = self._establish(scard)
                if context is None:
                    self._lost()
                    first = False  # what comes with pcscd is news, `initial` or not
                    self._stop.wait(backoff)
                    backoff = min(backoff * 2, _BACKOFF_MAX_S)
                    continue
                backoff = _BACKOFF_FIRST_S
                if not self._service_up:
                    self._service_up = True
                    self.emit(ReaderEvent(EventKind.SERVICE_BACK))
                try:
                    self._watch(scard, context, announce=self._initial or not first)
                    first = False
                except _ServiceGone as gone:
                    logger.info("pcscd went away (%s)", code_name(gone.code))
                    self._drop_context(scard)
                    self._lost()
        except Exception:
            logger.exception("the pcsc events thread failed")
        finally:
            self._drop_context(scard)

    def _establish(self, scard: Any) -> int | None:
        with self._lock:
            if self._context is not None:
                return self._context
        hresult, context = scard.SCardEstablishContext(SCOPE_USER)
        if hresult != Code.S_SUCCESS:
            return None
        with self._lock:
            self._context = int(context)
        return int(context)

    def _drop_context(self, scard: Any) -> None:
        with self._lock:
            context, self._context = self._context, None
        if context is not None:
            scard.SCardReleaseContext(context)

    def _lost(self) -> None:
        """pcscd is gone: report every card and reader gone, then SERVICE_LOST (once)."""
        if not self._service_up:
            return
        self._service_up = False
        for reader in list(self._known):
            self._forget(reader)
        self._pnp_state = 0
        self.emit(ReaderEvent(EventKind.SERVICE_LOST))

    def _forget(self, reader: str) -> None:
        state = self._known.pop(reader)
        if state & State.PRESENT:
            self.emit(ReaderEvent(EventKind.CARD_REMOVED, reader))
        self.emit(ReaderEvent(EventKind.READER_REMOVED, reader))

    def _watch(self, scard: Any, context: int, *, announce: bool) -> None:
        """Bring the reader list up to date, then wait (INFINITE) for one change."""
        names = self._list(scard, context)
        for reader in [r for r in self._known if r not in names]:
            self._forget(reader)
        added = [r for r in names if r not in self._known]
        if added:
            hresult, states = scard.SCardGetStatusChange(
                context, 0, [(r, State.UNAWARE) for r in added]
            )
            if hresult in SERVICE_GONE:
                raise _ServiceGone(hresult)
            if hresult == Code.E_UNKNOWN_READER:
                return  # one went away already: list again
            if hresult not in (Code.S_SUCCESS, Code.E_TIMEOUT):
                self._pause(hresult)
                return
            for reader, flags, atr in states:
                self._known[str(reader)] = int(flags) & ~State.CHANGED
                if announce:
                    self.emit(ReaderEvent(EventKind.READER_ADDED, str(reader)))
                    if flags & State.PRESENT:
                        self.emit(ReaderEvent(EventKind.CARD_INSERTED, str(reader), bytes(atr)))
        if self.stopped:
            return
        watched = [(r, s) for r, s in self._known.items()]
        watched.append((PNP_NOTIFICATION, self._pnp_state))
        hresult, states = scard.SCardGetStatusChange(context, scard.INFINITE, watched)
        if self.stopped or hresult in (Code.E_CANCELLED, Code.E_TIMEOUT):
            return
        if hresult in SERVICE_GONE:
            raise _ServiceGone(hresult)
        if hresult == Code.E_UNKNOWN_READER:
            return
        if hresult != Code.S_SUCCESS:
            self._pause(hresult)
            return
        for reader, flags, atr in states:
            name = str(reader)
            if name == PNP_NOTIFICATION:
                self._pnp_state = int(flags) & ~State.CHANGED
            elif name in self._known:
                self._changed(name, int(flags), bytes(atr))

    def _changed(self, reader: str, flags: int, atr: bytes) -> None:
        old = self._known[reader]
        self._known[reader] = flags & ~State.CHANGED
        if flags & (State.UNKNOWN | State.UNAVAILABLE) and not flags & State.PRESENT:
            if old & State.PRESENT:
                self._known[reader] &= ~State.PRESENT
                self.emit(ReaderEvent(EventKind.CARD_REMOVED, reader))
            return  # the reader itself is going away: the next listing reports it
        was, now = bool(old & State.PRESENT), bool(flags & State.PRESENT)
        counter_moved = (old >> _COUNTER_SHIFT) != (flags >> _COUNTER_SHIFT)
        if was and (not now or counter_moved):
            self.emit(ReaderEvent(EventKind.CARD_REMOVED, reader))
        if now and (not was or counter_moved):
            self.emit(ReaderEvent(EventKind.CARD_INSERTED, reader, atr))

    def _list(self, scard: Any, context: int) -> list[str]:
        hresult, names = scard.SCardListReaders(context, [])
        if hresult == Code.E_NO_READERS_AVAILABLE:
            return []
        if hresult in SERVICE_GONE:
            raise _ServiceGone(hresult)
        if hresult != Code.S_SUCCESS:
            self._pause(hresult)
            return list(self._known)
        return [str(name) for name in names]

    def _pause(self, code: int) -> None:
        logger.warning("pcsc events: %s; retrying", code_name(code))
        self._stop.wait(_ERROR_PAUSE_S)


class _ServiceGone(Exception):  # noqa: N818 - internal signal, never leaves the thread
    def __init__(self, code: int) -> None:
        super().__init__(code_name(code))
        self.code = int(code)


def wait_for_card(backend: Backend, reader: str | None = None, timeout: float = 30.0) -> str:
    """Wait until a card is in `reader` (or any reader); its reader's name.

    NoCard when `timeout` seconds pass first; NoReader when a named reader does
    not exist.
    """
    for info in backend.readers():
        if (reader is None or info.name == reader) and info.card_present:
            return info.name
    if reader is not None and reader not in {info.name for info in backend.readers()}:
        raise NoReader(f"no reader named {reader!r}", reader=reader)
    deadline = time.monotonic() + timeout
    with backend.events(initial=True) as events:
        while (left := deadline - time.monotonic()) > 0:
            event = events.get(left)
            if event is None:
                break
            if event.kind is EventKind.CARD_INSERTED and reader in (None, event.reader):
                return event.reader
    where = f"in {reader}" if reader else "in any reader"
    raise NoCard(f"no card {where} within {timeout:g} s", reader=reader)
