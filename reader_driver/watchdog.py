"""Bounded waits for calls that may block forever (a mute card behind pcscd).

pcscd with vpcd never times out: a command to a card that reads it and never
answers keeps pcscd's reader thread inside the vpcd driver, and the client's
SCardTransmit waits for pcscd without a deadline. `Watchdog.call` runs such a
call on a worker thread and waits at most `timeout` seconds; past that it
raises `ReaderTimeout` (or the error the caller asks for) and abandons the
worker, which finishes on its own when the call returns and then runs the
owner's `on_abandoned` clean-up (release the PC/SC handle and context).

What was measured with pcsc-lite 1.9.9 and Debian's vpcd while a card is mute
(one SCardTransmit blocked in thread A, context C):

- `SCardCancel(C)` returns SCARD_S_SUCCESS and does nothing to the transmit:
  in pcsc-lite it only ends a waiting SCardGetStatusChange.
- `SCardDisconnect(handle, SCARD_RESET_CARD)` and `SCardReleaseContext(C)` from
  another thread block as well: pcsc-lite's client holds C's mutex for the
  whole transmit. So nothing issued through C can free A.
- A new context can still list readers and read their state
  (SCardGetStatusChange with timeout 0), but `SCardConnect` to that reader
  blocks: pcscd's thread holds the reader's lock inside the driver.
- What frees pcscd's reader (and then A, which gets "success" with an empty
  answer or an error): the virtual card answering, or its vpcd socket closing
  (card removed, simulator stopped), or pcscd stopping. A real reader's CCID
  driver has its own timeouts and frees itself.

So on a timeout the connection is marked dead, its context is left to the
abandoned worker (it releases it when the call returns), and every later call
on the connection raises `ConnectionClosed`. The only threads left behind are
the abandoned workers (daemon threads, see `abandoned_workers()`), each waiting
on the pcscd-side one; connecting again to the same reader is itself bounded
by a watchdog and raises ReaderTimeout until the reader is free.
"""

from __future__ import annotations

import enum
import logging
import queue
import threading
from collections.abc import Callable
from typing import Final, TypeVar, cast

from reader_driver.backend import DEFAULT_TIMEOUT
from reader_driver.errors import ConnectionClosed, ReaderTimeout

logger = logging.getLogger(__name__)

_T = TypeVar("_T")
_CLOSE_JOIN_S: Final = 1.0
# An idle worker ends after this long; the next call starts a new one.
_IDLE_EXIT_S: Final = 30.0


class _Unset(enum.Enum):
    UNSET = enum.auto()


_UNSET: Final = _Unset.UNSET

# Workers abandoned after a timeout whose call has not returned yet.
_abandoned: set[threading.Thread] = set()
_abandoned_lock = threading.Lock()


def abandoned_workers() -> list[threading.Thread]:
    """Worker threads abandoned after a timeout that are still blocked in their call."""
    with _abandoned_lock:
        return [thread for thread in _abandoned if thread.is_alive()]


class _Job:
    """One call handed to the worker; `done` is held until the call returns.

    A bare lock hands over faster than an Event; slots keep the object cheap
    (one job per PC/SC call).
    """

    __slots__ = ("abandoned", "done", "error", "finished", "fn", "result")

    def __init__(self, fn: Callable[[], object]) -> None:
        self.fn = fn
        self.done = threading.Lock()
        self.done.acquire()
        self.finished = False
        self.result: object = None
        self.error: BaseException | None = None
        self.abandoned = False


class Watchdog:
    """Runs blocking calls on one worker thread and waits for each at most `timeout` seconds.

    With `timeout=None` calls run directly on the caller's thread (no bound).
    After a timeout the watchdog is tripped: the worker is abandoned and every
    later `call` raises ConnectionClosed. Calls are serial: use one watchdog per
    connection (the owner serialises its calls).
    """

    def __init__(
        self,
        timeout: float | None = DEFAULT_TIMEOUT,
        *,
        name: str = "reader",
        on_abandoned: Callable[[], None] | None = None,
    ) -> None:
        if timeout is not None and not timeout > 0:
            raise ValueError(f"timeout must be a positive number of seconds or None, not {timeout}")
        self.timeout = timeout
        self.name = name
        self._on_abandoned = on_abandoned
        self._lock = threading.Lock()
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._tripped = False
        self._closed = False

    @property
    def tripped(self) -> bool:
        """True once a call timed out (its worker abandoned)."""
        return self._tripped

    def call(
        self,
        fn: Callable[[], _T],
        *,
        timeout: float | _Unset | None = _UNSET,
        on_timeout: Callable[[float], BaseException] | None = None,
        what: str = "the card",
    ) -> _T:
        """`fn()` within the timeout; else raise `on_timeout(seconds)` (default ReaderTimeout).

        The hand-over to the worker is the price of the bound: two thread wake-ups
        per call (about 20 µs on an idle 2-vCPU VM, 40-70 µs on a loaded one), so the
        path up to the wait is kept short: no lock taken on the way back unless the
        wait timed out.
        """
        limit = self.timeout if timeout is _UNSET else timeout
        # Both flags only ever go from False to True: reading them needs no lock.
        if self._tripped:
            raise ConnectionClosed(
                f"{self.name}: connection abandoned after a timeout; connect again",
                reader=self.name,
            )
        if self._closed:
            raise ConnectionClosed(f"{self.name}: connection closed", reader=self.name)
        if limit is None:
            return fn()
        job = _Job(fn)
        with self._lock:  # the worker leaves (idle) only with this lock held and no job queued
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._work, name=f"watchdog {self.name}", daemon=True
                )
                self._thread.start()
            self._jobs.put(job)
        if not job.done.acquire(True, limit):
            with self._lock:
                if not job.finished:
                    job.abandoned = True
                    self._tripped = True
                    worker, self._thread = self._thread, None
                    if worker is not None:
                        with _abandoned_lock:
                            _abandoned.add(worker)
            if job.abandoned:
                logger.warning(
                    "%s: no answer from %s within %g s; giving up", self.name, what, limit
                )
                if on_timeout is not None:
                    raise on_timeout(limit)
                raise ReaderTimeout(
                    f"{self.name}: no answer from {what} within {limit:g} s (mute card?)",
                    timeout=limit,
                    reader=self.name,
                )
        if job.error is not None:
            raise job.error
        return cast("_T", job.result)

    def close(self) -> None:
        """Stop the idle worker (an abandoned one finishes on its own)."""
        with self._lock:
            self._closed = True
            worker, self._thread = self._thread, None
        if worker is not None:
            self._jobs.put(None)
            if worker is not threading.current_thread():
                worker.join(_CLOSE_JOIN_S)

    # --- internals -----------------------------------------------------------------

    def _work(self) -> None:
        while True:
            try:
                job = self._jobs.get(timeout=_IDLE_EXIT_S)
            except queue.Empty:
                with self._lock:
                    if self._jobs.empty():
                        if self._thread is threading.current_thread():
                            self._thread = None
                        return
                continue
            if job is None:
                return
            try:
                job.result = job.fn()
            except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
                job.error = exc
            with self._lock:
                job.finished = True
                job.done.release()
                abandoned = job.abandoned
            if abandoned:
                self._finish_abandoned()
                return

    def _finish_abandoned(self) -> None:
        logger.info("%s: the abandoned call returned; cleaning up", self.name)
        try:
            if self._on_abandoned is not None:
                self._on_abandoned()
        except Exception:
            logger.exception("%s: clean-up after an abandoned call failed", self.name)
        finally:
            with _abandoned_lock:
                _abandoned.discard(threading.current_thread())
