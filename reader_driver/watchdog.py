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

Interruptible watchdogs (`Watchdog.interrupt_with`), what PC/SC connections use
when they know their context's socket to pcscd (reader_driver.pcsc_socket):
shutting that socket down does free a blocked call (pcsc-lite 1.9.9: it returns
SCARD_F_COMM_ERROR at once). Then no call is handed off at all: each runs on the
caller's thread and publishes its start and limit; one monitor thread (`_Monitor`)
sleeps until the earliest deadline, and for a call past its limit it trips the
watchdog and calls the interrupt. The call returns, the watchdog's clean-up runs
on the caller's thread (release the handle and context), and the call raises its
timeout error (ReaderTimeout, or the error its caller asked for). Nothing is left
behind, and a busy connection costs the monitor one wake-up per limit, not one
per call.

Bounded regions (`run_bounded`), the fallback when the socket is not known: the
hand-off costs two thread wake-ups per
call (20-65 µs each, measured), about as much as the rest of our layer over a
whole basic read. `run_bounded(fn)` hands a whole multi-command operation to a
worker thread once; every call of a connection's watchdog made inside it
(on any connection: the card's and the PSAM's) runs inline on that worker and
publishes what it is and when it started. The waiting caller raises that
call's own timeout error once it has run longer than its own limit, exactly as
`Watchdog.call` does: the watchdog is tripped, the worker is abandoned (it
runs the watchdog's `on_abandoned` clean-up when the call returns, and then
the operation unwinds with `ConnectionClosed`). Errors raised by the
operation (CardRemoved, ...) reach the caller unchanged.
"""

from __future__ import annotations

import contextvars
import enum
import functools
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Final, NoReturn, TypeVar, cast

from reader_driver.backend import DEFAULT_TIMEOUT
from reader_driver.errors import ConnectionClosed, ReaderTimeout

logger = logging.getLogger(__name__)

_T = TypeVar("_T")
_CLOSE_JOIN_S: Final = 1.0
# An idle worker ends after this long; the next call starts a new one.
_IDLE_EXIT_S: Final = 30.0
# While a bounded region runs no PC/SC call, its caller looks again this often (a call
# that starts meanwhile is then bounded from its own start: its error comes at most this
# much late).
_REGION_POLL_S: Final = 0.02


_monotonic: Final = time.monotonic


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
        inline_in_region: bool = False,
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
        self._trip_error: BaseException | None = None
        self._closed = False
        # Calls made inside a bounded region run inline on its worker (connections only:
        # a caller that must see the timeout itself, like the backend's control context,
        # keeps its own worker).
        self._inline = inline_in_region
        # With an interrupt (`interrupt_with`), calls run on the caller's thread: the
        # call in progress is published here for the monitor thread (see `_Monitor`).
        self._interrupt: Callable[[], None] | None = None
        self._current: _Current | None = None
        self._min_limit = timeout if timeout is not None else 0.0

    @property
    def tripped(self) -> bool:
        """True once a call timed out (its worker abandoned)."""
        return self._tripped

    @property
    def trip_error(self) -> BaseException | None:
        """The timeout error raised when the watchdog tripped (None while it has not)."""
        return self._trip_error

    @property
    def interruptible(self) -> bool:
        """Whether calls run on the caller's thread, bounded by `interrupt` (`interrupt_with`)."""
        return self._interrupt is not None

    def interrupt_with(self, interrupt: Callable[[], None]) -> None:
        """From now on run calls on the caller's thread: no hand-off, no worker.

        `interrupt()` must make a blocked call return soon (for a PC/SC connection:
        shut down its context's socket to pcscd, see `reader_driver.pcsc`). A monitor
        thread calls it when a call runs past its limit, after tripping the watchdog;
        the call then raises that limit's timeout error (ReaderTimeout, or the error
        its caller asked for) on the caller's thread, whatever the blocked call
        returned, and the watchdog's `on_abandoned` clean-up runs there first.
        """
        if self.timeout is None:
            return  # unbounded: calls run directly anyway
        self._interrupt = interrupt
        _monitor.watch(self)

    def call(
        self,
        fn: Callable[..., _T],
        *args: object,
        timeout: float | _Unset | None = _UNSET,
        on_timeout: Callable[[float], BaseException] | None = None,
        what: str = "the card",
    ) -> _T:
        """`fn(*args)` within the timeout; else raise `on_timeout(seconds)` (default ReaderTimeout).

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
            return fn(*args)
        if self._interrupt is not None:
            # On this thread, published for the monitor, which bounds it by `limit`. Who
            # gave up first, this thread (the call returned) or the monitor (past the
            # limit), is the first item appended to `outcome` (`list.append` is atomic):
            # no lock on the way. (Inline, not a method: this is the hot path.)
            if limit < self._min_limit:  # the monitor may sleep longer than this limit
                self._min_limit = limit
                _monitor.kick()
            outcome: list[bool] = []
            self._current = (limit, on_timeout, what, _monotonic(), outcome)
            try:
                result = fn(*args)
            except BaseException:
                outcome.append(True)
                self._current = None
                if outcome[0] is not True:
                    self._interrupted()
                raise
            outcome.append(True)
            self._current = None
            if outcome[0] is not True:
                self._interrupted()
            return result
        if self._inline:
            region = _local.region
            # once abandoned, the caller has gone: the operation is unwinding (clean-up calls)
            if region is not None and not region.abandoned:
                # On this thread, published so the region's caller bounds it by `limit`
                # (no lock on the way: see `_Region`).
                outcome = []
                region.call = (self, limit, on_timeout, what, _monotonic(), outcome)
                try:
                    return fn(*args)
                finally:
                    outcome.append(True)
                    region.call = None
                    if outcome[0] is not True:  # the caller gave up on it first
                        region.unwind(self)  # raises ConnectionClosed
        job = _Job(functools.partial(fn, *args) if args else fn)
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
                error = self._timeout_error(limit, on_timeout, what)
                self._trip_error = error
                raise error
        if job.error is not None:
            raise job.error
        return cast("_T", job.result)

    def close(self) -> None:
        """Stop the idle worker (an abandoned one finishes on its own)."""
        _monitor.forget(self)
        with self._lock:
            self._closed = True
            worker, self._thread = self._thread, None
        if worker is not None:
            self._jobs.put(None)
            if worker is not threading.current_thread():
                worker.join(_CLOSE_JOIN_S)

    # --- internals -----------------------------------------------------------------

    def _interrupted(self) -> NoReturn:
        """The monitor gave up on the call that just returned: clean up, raise its error."""
        with self._lock:  # free once the monitor has tripped the watchdog and interrupted
            error = self._trip_error
        assert error is not None  # set by the monitor before it interrupted
        logger.info("%s: the interrupted call returned; cleaning up", self.name)
        try:
            if self._on_abandoned is not None:
                self._on_abandoned()
        except Exception:
            logger.exception("%s: clean-up after an interrupted call failed", self.name)
        raise error

    def _expire(self, current: _Current) -> bool:
        """`current` ran past its limit (the monitor): trip, interrupt; False if it returned."""
        limit, on_timeout, what, _started, outcome = current
        with self._lock:
            outcome.append(False)
            if outcome[0] is not False:  # it returned just now
                return False
            error = self._timeout_error(limit, on_timeout, what)
            self._trip_error = error
            self._tripped = True
            worker, self._thread = self._thread, None  # idle since the connect
            interrupt = self._interrupt
            try:
                if interrupt is not None:
                    interrupt()
            except Exception:
                logger.exception("%s: interrupting the blocked call failed", self.name)
        if worker is not None:
            self._jobs.put(None)
        return True

    def _timeout_error(
        self, limit: float, on_timeout: Callable[[float], BaseException] | None, what: str
    ) -> BaseException:
        logger.warning("%s: no answer from %s within %g s; giving up", self.name, what, limit)
        if on_timeout is not None:
            return on_timeout(limit)
        return ReaderTimeout(
            f"{self.name}: no answer from {what} within {limit:g} s (mute card?)",
            timeout=limit,
            reader=self.name,
        )

    def _trip(self, error: BaseException) -> None:
        """A call made inside a bounded region timed out: no later call goes through."""
        with self._lock:
            self._trip_error = error
            self._tripped = True
            worker, self._thread = self._thread, None
        if worker is not None:  # idle: the calls ran on the region's worker
            self._jobs.put(None)

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


# --- the monitor of interruptible watchdogs ------------------------------------------------

# (limit, on_timeout, what, started, outcome): the call an interruptible watchdog is in.
_Current = tuple[float, Callable[[float], BaseException] | None, str, float, list[bool]]


class _Monitor:
    """One thread that bounds the calls of every interruptible watchdog (`interrupt_with`).

    It sleeps until the earliest deadline it knows of: the limit of each call in
    progress, and for each watchdog the smallest limit its calls have used, from
    now (so a call that starts while it sleeps is never found late). With busy
    connections that is one wake-up per limit (seconds), not one per call. The
    thread ends when no watchdog is watched.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._watched: set[Watchdog] = set()
        self._thread: threading.Thread | None = None

    def watch(self, watchdog: Watchdog) -> None:
        with self._cond:
            self._watched.add(watchdog)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="watchdog monitor", daemon=True
                )
                self._thread.start()
            self._cond.notify()

    def forget(self, watchdog: Watchdog) -> None:
        with self._cond:
            self._watched.discard(watchdog)
            if not self._watched:
                self._cond.notify()  # the thread ends now

    def kick(self) -> None:
        """Look again now (a call with a smaller limit than any before has started)."""
        with self._cond:
            self._cond.notify()

    def _run(self) -> None:
        with self._cond:
            while self._watched:
                now = _monotonic()
                wake = now + _IDLE_EXIT_S
                for watchdog in list(self._watched):
                    if watchdog.tripped:
                        self._watched.discard(watchdog)
                        continue
                    current = watchdog._current
                    if current is not None:
                        deadline = current[3] + current[0]
                        if deadline <= now:
                            if watchdog._expire(current):
                                self._watched.discard(watchdog)
                                continue
                        else:
                            wake = min(wake, deadline)
                    wake = min(wake, now + watchdog._min_limit)
                self._cond.wait(max(0.0, wake - now))
            self._thread = None


_monitor: Final = _Monitor()


# --- bounded regions ------------------------------------------------------------------

# (watchdog, limit, on_timeout, what, started, outcome): the call a region's worker is in;
# `outcome` gets True appended when the call returns, False when the caller gives up on it.
_Call = tuple[Watchdog, float, Callable[[float], BaseException] | None, str, float, list[bool]]


class _Region:
    """One `run_bounded` operation: the watchdog call its worker is in, if any.

    A call made inside the region (`Watchdog.call`) publishes itself in `call`
    with an empty `outcome` list, which gets True appended when the call returns,
    and False when the region's caller gives up on it (past its limit). The first
    item decides (`list.append` is atomic), so the hot path takes no lock; the
    caller gives up holding `lock`, and trips the call's watchdog before it frees
    it, so the worker, once its call returns, finds the watchdog tripped.
    """

    __slots__ = ("abandoned", "call", "finished", "lock")

    def __init__(self) -> None:
        self.call: _Call | None = None
        self.abandoned = False
        self.finished = False
        self.lock = threading.Lock()

    def unwind(self, owner: Watchdog) -> NoReturn:
        """The caller gave up on `owner`'s call that just returned: clean up, and unwind.

        The watchdog's clean-up runs (release the PC/SC handle and context), and
        ConnectionClosed replaces the call's outcome, so the operation unwinds
        without sending anything more.
        """
        with self.lock:  # free once the caller has tripped the owner
            pass
        owner._finish_abandoned()
        raise ConnectionClosed(
            f"{owner.name}: connection abandoned after a timeout; connect again",
            reader=owner.name,
        )


class _RegionLocal(threading.local):
    region: _Region | None = None


_local = _RegionLocal()


class _RegionJob:
    __slots__ = ("context", "done", "error", "fn", "region", "result")

    def __init__(self, fn: Callable[[], object]) -> None:
        self.fn = fn
        self.context = contextvars.copy_context()
        self.region = _Region()
        self.done = threading.Lock()
        self.done.acquire()
        self.result: object = None
        self.error: BaseException | None = None


class _RegionWorker:
    """A thread that runs bounded regions, one at a time; idle ones wait in `_idle_workers`."""

    __slots__ = ("jobs", "thread")

    def __init__(self) -> None:
        self.jobs: queue.SimpleQueue[_RegionJob] = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._work, name="bounded region", daemon=True)
        self.thread.start()

    def _work(self) -> None:
        while True:
            try:
                job = self.jobs.get(timeout=_IDLE_EXIT_S)
            except queue.Empty:
                with _idle_lock:
                    if self in _idle_workers:
                        _idle_workers.remove(self)
                        return
                continue  # taken by a caller just now: its job is on the way
            region = job.region
            _local.region = region
            try:
                job.result = job.context.run(job.fn)
            except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
                job.error = exc
            finally:
                _local.region = None
            with region.lock:
                region.finished = True
                abandoned = region.abandoned
                if not abandoned:  # idle again before the caller wakes: the next region reuses it
                    with _idle_lock:
                        _idle_workers.append(self)
                job.done.release()
            if abandoned:
                with _abandoned_lock:
                    _abandoned.discard(self.thread)
                return


_idle_workers: list[_RegionWorker] = []
_idle_lock = threading.Lock()


def in_bounded_region() -> bool:
    """Whether this thread runs a bounded region (its watchdog calls run inline)."""
    return _local.region is not None


def run_bounded(fn: Callable[[], _T]) -> _T:
    """`fn()` on a worker thread, each watchdog call inside it bounded by its own limit.

    One thread hand-off for the whole operation instead of one per PC/SC call.
    Calls of connections' watchdogs (`inline_in_region`) made by `fn` run inline
    on the worker; when one of them runs past its limit, this raises its timeout
    error (ReaderTimeout, or the error its caller asked for), that watchdog is
    tripped (its connection is dead) and the worker is abandoned. Whatever `fn`
    raises is raised here. Inside a region already, `fn()` runs directly. The
    caller's context variables are visible to `fn`.
    """
    if _local.region is not None:
        return fn()
    job = _RegionJob(fn)
    with _idle_lock:
        worker = _idle_workers.pop() if _idle_workers else None
    if worker is None:
        worker = _RegionWorker()
    worker.jobs.put(job)
    region, done = job.region, job.done
    wait = _REGION_POLL_S
    while not done.acquire(True, wait):
        call = region.call
        if call is None:
            wait = _REGION_POLL_S
            continue
        owner, limit, on_timeout, what, started, outcome = call
        left = started + limit - _monotonic()
        if left > 0:
            wait = left
            continue
        with region.lock:
            outcome.append(False)
            if outcome[0] is not False:  # it returned just now: the operation goes on
                wait = _REGION_POLL_S
                continue
            region.abandoned = True
            with _abandoned_lock:
                _abandoned.add(worker.thread)
            error = owner._timeout_error(limit, on_timeout, what)
            owner._trip(error)  # before the worker can go on: its next call finds it tripped
        raise error
    if job.error is not None:
        raise job.error
    return cast("_T", job.result)
