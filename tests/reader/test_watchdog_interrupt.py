"""Interruptible watchdogs: calls on the caller's thread, freed by `interrupt` past their limit.

In-process (no pcscd): the "blocked call" waits on an Event that the interrupt sets,
as a PC/SC call blocked on a mute card returns once its socket is shut down.
"""

from __future__ import annotations

import threading
import time

import pytest

from reader_driver import ConnectionClosed, ReaderBusy, ReaderTimeout
from reader_driver.watchdog import Watchdog, abandoned_workers

LIMIT = 0.3
WAIT = 5.0


class Blocked:
    """A call that blocks until interrupted (or released); records what happened."""

    def __init__(self) -> None:
        self.freed = threading.Event()
        self.threads: list[str] = []
        self.cleaned = 0

    def interrupt(self) -> None:
        self.freed.set()

    def cleanup(self) -> None:
        self.cleaned += 1

    def call(self, answer: int) -> int:
        self.threads.append(threading.current_thread().name)
        assert self.freed.wait(WAIT), "never interrupted"
        return answer  # a freed PC/SC call returns an error code: any outcome is replaced


def _watchdog(blocked: Blocked, timeout: float = LIMIT) -> Watchdog:
    watchdog = Watchdog(timeout, name="card", on_abandoned=blocked.cleanup)
    watchdog.interrupt_with(blocked.interrupt)
    return watchdog


def test_calls_run_on_the_callers_thread() -> None:
    blocked = Blocked()
    watchdog = _watchdog(blocked)
    blocked.freed.set()
    assert watchdog.interruptible
    assert watchdog.call(blocked.call, 7) == 7
    assert blocked.threads == [threading.current_thread().name]
    assert not watchdog.tripped
    watchdog.close()


def test_a_call_past_its_limit_is_interrupted_and_raises_the_timeout_error() -> None:
    blocked = Blocked()
    watchdog = _watchdog(blocked)
    started = time.monotonic()
    with pytest.raises(ReaderTimeout, match=r"no answer from the card within 0\.3 s") as caught:
        watchdog.call(blocked.call, 1, what="the card")
    assert time.monotonic() - started >= LIMIT
    assert caught.value.timeout == LIMIT
    assert blocked.freed.is_set()
    assert blocked.cleaned == 1  # the clean-up ran on the caller's thread before the raise
    assert watchdog.tripped
    assert watchdog.trip_error is caught.value
    assert not abandoned_workers()
    with pytest.raises(ConnectionClosed, match="connect again"):
        watchdog.call(blocked.call, 2)
    watchdog.close()


def test_the_callers_own_timeout_error_and_limit() -> None:
    blocked = Blocked()
    watchdog = _watchdog(blocked, timeout=30.0)

    def busy(seconds: float) -> BaseException:
        return ReaderBusy(f"held for {seconds:g} s")

    started = time.monotonic()
    # a limit smaller than any before: the sleeping monitor is woken to bound it
    with pytest.raises(ReaderBusy, match=r"held for 0\.3 s"):
        watchdog.call(blocked.call, 1, timeout=LIMIT, on_timeout=busy)
    assert time.monotonic() - started >= LIMIT
    watchdog.close()


def test_an_error_of_an_interrupted_call_is_replaced_by_the_timeout() -> None:
    blocked = Blocked()
    watchdog = _watchdog(blocked)

    def fails() -> None:
        assert blocked.freed.wait(WAIT)
        raise OSError("connection reset")

    with pytest.raises(ReaderTimeout):
        watchdog.call(fails)
    watchdog.close()


def test_calls_within_their_limit_are_left_alone_and_several_watchdogs_are_watched() -> None:
    first, second = Blocked(), Blocked()
    one, two = _watchdog(first), _watchdog(second, timeout=LIMIT * 3)
    first.freed.set()
    for _ in range(20):
        assert one.call(first.call, 3) == 3
        time.sleep(LIMIT / 10)  # idle gaps: the next call is bounded from its own start
    started = time.monotonic()
    with pytest.raises(ReaderTimeout):
        two.call(second.call, 4)
    assert time.monotonic() - started >= LIMIT * 3
    assert not one.tripped
    assert one.call(first.call, 5) == 5
    one.close()
    two.close()
