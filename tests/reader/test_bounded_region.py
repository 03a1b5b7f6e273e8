"""Bounded regions: a whole operation on one watchdog worker, each command still bounded.

`conn.run(fn)` hands `fn` to a worker once; every watchdog call `fn` makes (on
any connection) runs inline there and is bounded by its own limit. These tests
use the in-process backend with a watchdog (`timeout` set); the PC/SC ones are
in test_pcsc_region.py.
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Iterator

import pytest
from reader_test_cards import BLOCK, ECHO, BlockingCard, ChainCard

from reader_driver import (
    CardChannel,
    CardRemoved,
    ConnectionClosed,
    InProcessBackend,
    ReaderTimeout,
)
from reader_driver.watchdog import abandoned_workers, in_bounded_region, run_bounded

TIMEOUT = 0.2
ECHO_4 = bytes((0x80, ECHO, 0, 0, 4)) + b"\x01\x02\x03\x04"
BLOCKING = bytes((0x80, BLOCK, 0, 0))
WAIT = 5.0

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")


def wait_until_no_abandoned_worker() -> None:
    deadline = time.monotonic() + WAIT
    while abandoned_workers() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert abandoned_workers() == []


def region_threads() -> int:
    return sum(1 for t in threading.enumerate() if t.name == "bounded region")


@pytest.fixture
def backend() -> Iterator[InProcessBackend]:
    with InProcessBackend(["User", "SAM"], timeout=TIMEOUT) as b:
        yield b


def test_the_operation_runs_on_a_region_worker_and_its_result_comes_back(
    backend: InProcessBackend,
) -> None:
    backend.insert(ChainCard(), "User")
    seen: list[tuple[str, bool]] = []

    def operation() -> bytes:
        seen.append((threading.current_thread().name, in_bounded_region()))
        with channel.transaction():
            channel.transmit(ECHO_4)
            return channel.transmit(ECHO_4)

    with CardChannel(backend.connect("User")) as channel:
        assert channel.run(operation) == bytes.fromhex("010203049000")
    assert seen == [("bounded region", True)]
    assert not in_bounded_region()


def test_without_a_watchdog_the_operation_runs_on_the_callers_thread() -> None:
    with InProcessBackend(1) as backend:  # timeout=None: no watchdog
        backend.insert(ChainCard())
        with CardChannel(backend.connect("Sim 0")) as channel:
            assert channel.run(threading.current_thread) is threading.current_thread()


def test_errors_of_the_operation_reach_the_caller(backend: InProcessBackend) -> None:
    backend.insert(ChainCard(), "User")
    connection = backend.connect("User")

    def pulled_between_commands() -> None:
        connection.transmit(ECHO_4)
        backend.remove("User")
        connection.transmit(ECHO_4)

    with pytest.raises(CardRemoved):
        connection.run(pulled_between_commands)

    def fails() -> None:
        raise ValueError("from inside")

    with pytest.raises(ValueError, match="from inside"):
        run_bounded(fails)


def test_a_mute_card_inside_a_region_times_out_and_the_connection_is_dead(
    backend: InProcessBackend,
) -> None:
    card = BlockingCard()
    backend.insert(card, "User")
    connection = backend.connect("User")
    after_the_mute_command: list[bytes] = []

    def operation() -> None:
        connection.transmit(ECHO_4)
        connection.transmit(BLOCKING)
        after_the_mute_command.append(connection.transmit(ECHO_4))

    with pytest.raises(ReaderTimeout, match="no answer") as caught:
        connection.run(operation)
    assert caught.value.timeout == TIMEOUT
    assert connection.closed
    with pytest.raises(ConnectionClosed, match="connect again"):
        connection.transmit(ECHO_4)
    assert abandoned_workers()
    card.release.set()  # the card answers at last: the operation unwinds, nothing more is sent
    wait_until_no_abandoned_worker()
    assert after_the_mute_command == []
    with backend.connect("User") as again:
        assert again.transmit(ECHO_4) == bytes.fromhex("6104")


def test_a_command_after_an_idle_gap_is_bounded_from_its_own_start(
    backend: InProcessBackend,
) -> None:
    card = BlockingCard()
    backend.insert(card, "User")
    connection = backend.connect("User")

    def operation() -> None:
        time.sleep(TIMEOUT * 2)  # no command runs: the region itself has no deadline
        connection.transmit(BLOCKING)

    started = time.monotonic()
    with pytest.raises(ReaderTimeout) as caught:
        connection.run(operation)
    assert time.monotonic() - started >= TIMEOUT * 3
    assert caught.value.timeout == TIMEOUT
    card.release.set()
    wait_until_no_abandoned_worker()


def test_a_mute_second_card_kills_only_its_own_connection(backend: InProcessBackend) -> None:
    backend.insert(ChainCard(), "User")
    sam_card = BlockingCard()
    backend.insert(sam_card, "SAM")
    user, sam = backend.connect("User"), backend.connect("SAM")

    def operation() -> None:
        with user.transaction():
            user.transmit(ECHO_4)
            sam.transmit(BLOCKING)

    with pytest.raises(ReaderTimeout):
        user.run(operation)
    assert sam.closed
    assert not user.closed
    sam_card.release.set()
    wait_until_no_abandoned_worker()
    # the abandoned operation unwound and ended the user card's transaction
    assert user.run(lambda: user.transmit(ECHO_4)) == bytes.fromhex("6104")


def test_nested_runs_are_inline_and_context_variables_are_visible(
    backend: InProcessBackend,
) -> None:
    backend.insert(ChainCard(), "User")
    connection = backend.connect("User")

    def inner() -> tuple[str, str]:
        return threading.current_thread().name, request_id.get()

    def outer() -> tuple[tuple[str, str], str]:
        return connection.run(inner), threading.current_thread().name

    token = request_id.set("req-42")
    try:
        (inner_thread, seen_id), outer_thread = connection.run(outer)
    finally:
        request_id.reset(token)
    assert inner_thread == outer_thread == "bounded region"
    assert seen_id == "req-42"


def test_one_after_another_regions_reuse_a_worker(backend: InProcessBackend) -> None:
    backend.insert(ChainCard(), "User")
    connection = backend.connect("User")
    connection.run(lambda: connection.transmit(ECHO_4))
    before = region_threads()
    for _ in range(20):
        connection.run(lambda: connection.transmit(ECHO_4))
    assert region_threads() <= before


def test_regions_in_parallel_each_get_a_worker(backend: InProcessBackend) -> None:
    backend.insert(ChainCard(), "User")
    backend.insert(ChainCard(), "SAM")
    both_inside = threading.Barrier(2, timeout=WAIT)
    results: dict[str, bytes] = {}

    def read(reader: str) -> None:
        connection = backend.connect(reader)

        def operation() -> bytes:
            both_inside.wait()  # each waits for the other: they must run at the same time
            return connection.transmit(ECHO_4)

        results[reader] = connection.run(operation)

    threads = [threading.Thread(target=read, args=(name,)) for name in ("User", "SAM")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    assert results == {"User": bytes.fromhex("6104"), "SAM": bytes.fromhex("6104")}
