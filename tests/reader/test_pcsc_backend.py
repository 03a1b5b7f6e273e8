"""The PC/SC backend against the real stack: pcscd + vpcd readers + simulated cards.

Uses the harness fixtures (tests/pcsc_harness.py): `pcsc_stack` (a private
pcscd with vpcd readers) and `plug` (a simulated card in a slot, with faults).
Timeouts are 1 s here; every wait is bounded.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pcsc_harness import PcscSession, PcscStack, Plugger, wait_card_absent, wait_until
from reader_test_cards import ATR, ECHO, ChainCard

import simulators
from reader_driver import (
    CardChannel,
    CardRemoved,
    CardReset,
    CardUnresponsive,
    ConnectionClosed,
    EventKind,
    NoCard,
    NoReader,
    PcscBackend,
    PcscdUnavailable,
    ReaderBusy,
    ReaderEvent,
    ReaderEvents,
    ReaderTimeout,
    TransportError,
)
from reader_driver.pcsc_codes import Code, State, load_scard, translate
from reader_driver.watchdog import abandoned_workers
from simulators.ssc_card import UserCard

TIMEOUT = 1.0
WAIT = 5.0
ECHO_4 = bytes((0x80, ECHO, 0, 0, 4)) + b"\x01\x02\x03\x04"
SELECT_SSSE = bytes.fromhex("00A404000F7378312E73682EC9E7BBE1B1A3D5CF")
EXAMPLES = Path(simulators.__file__).parent / "examples"


@pytest.fixture(autouse=True)
def no_thread_left_behind() -> Iterator[None]:
    """After each test (and its cards' removal), no watchdog or events thread is left."""
    yield

    def ours() -> list[str]:
        names = [t.name for t in threading.enumerate()]
        return [n for n in names if n.startswith(("watchdog", "pcsc events"))]

    assert wait_until(lambda: not ours(), WAIT), ours()


@pytest.fixture
def backend() -> Iterator[PcscBackend]:
    with PcscBackend(timeout=TIMEOUT) as b:
        yield b


def next_event(
    events: ReaderEvents, accept: Callable[[ReaderEvent], bool], timeout: float = WAIT
) -> ReaderEvent:
    """The first event `accept` takes within `timeout` (fails the test otherwise)."""
    deadline = time.monotonic() + timeout
    seen = []
    while (left := deadline - time.monotonic()) > 0:
        event = events.get(left)
        if event is None:
            break
        if accept(event):
            return event
        seen.append(event)
    pytest.fail(f"no matching event within {timeout} s; saw {seen}")


def test_pcsc_constants_match_pyscard() -> None:
    scard = load_scard()
    for code in Code:
        assert getattr(scard, f"SCARD_{code.name}") & 0xFFFFFFFF == code, code
    for flag in State:
        assert getattr(scard, f"SCARD_STATE_{flag.name}") == flag, flag


@pytest.mark.parametrize(
    ("code", "what", "error", "text"),
    [
        (Code.E_NO_SERVICE, "list readers", PcscdUnavailable, "pcscd is not running"),
        (Code.E_SERVICE_STOPPED, "connect", PcscdUnavailable, "start it with"),
        (Code.F_COMM_ERROR, "transmit", PcscdUnavailable, "pcscd"),
        (Code.E_INVALID_HANDLE, "transmit", PcscdUnavailable, "pcscd"),
        (Code.E_UNKNOWN_READER, "connect", NoReader, "no reader named 'R'"),
        (Code.E_NO_SMARTCARD, "connect", NoCard, "R: no card"),
        (Code.W_REMOVED_CARD, "connect", NoCard, "R: no card"),
        (Code.W_REMOVED_CARD, "transmit", CardRemoved, "removed"),
        (Code.W_RESET_CARD, "transmit", CardReset, "reset the card"),
        (Code.W_UNRESPONSIVE_CARD, "connect", CardUnresponsive, "does not answer the reset"),
        (Code.E_SHARING_VIOLATION, "connect", ReaderBusy, "exclusively"),
        (Code.E_NOT_TRANSACTED, "transmit", TransportError, "could not exchange"),
        (0x80100099, "transmit", TransportError, "unknown PC/SC result"),
    ],
)
def test_pcsc_results_become_our_errors(code: int, what: str, error: type, text: str) -> None:
    translated = translate(code, what, "R")
    assert type(translated) is error
    assert text in str(translated)
    assert translated.code == code
    assert translated.reader == "R"


def test_readers_and_cards_are_listed(
    backend: PcscBackend, pcsc_stack: PcscStack, plug: Plugger
) -> None:
    plug(ChainCard(), slot=0)
    infos = {info.name: info for info in backend.readers()}
    assert set(pcsc_stack.readers) <= set(infos)
    assert infos[pcsc_stack.readers[0]].card_present
    assert infos[pcsc_stack.readers[0]].atr == ATR
    assert not infos[pcsc_stack.readers[1]].card_present
    assert infos[pcsc_stack.readers[1]].atr == b""


def test_connect_errors_name_the_problem(backend: PcscBackend, pcsc_stack: PcscStack) -> None:
    with pytest.raises(NoCard, match="no card"):
        backend.connect(pcsc_stack.readers[1])
    with pytest.raises(NoReader, match=r"'No such reader' \(readers: .*Virtual PCD"):
        backend.connect("No such reader")


def test_transmit_and_t0_through_pcscd(backend: PcscBackend, plug: Plugger) -> None:
    plugged = plug(ChainCard(chunks=[1, 2]), slot=0)
    with backend.connect(plugged.reader) as connection:
        assert connection.atr == ATR
        assert connection.transmit(ECHO_4) == bytes.fromhex("6101")  # raw: T=0 shows
        channel = CardChannel(connection)
        assert channel.transmit(ECHO_4) == bytes.fromhex("010203049000")
        assert channel.transmit(bytes.fromhex("00B2010400")) == bytes(range(1, 11)) + b"\x90\x00"
    assert connection.closed


def test_the_contract_card_answers_select_through_pcscd(
    backend: PcscBackend, plug: Plugger
) -> None:
    plugged = plug(UserCard.from_file(EXAMPLES / "gen3.json"), slot=0)
    with CardChannel(backend.connect(plugged.reader)) as channel:
        answer = channel.transmit(SELECT_SSSE)
    assert answer[:4] == bytes.fromhex("6F19840F")
    assert answer[-5:] == bytes.fromhex("8601039000")  # SM4 for generation 3


def test_a_transaction_blocks_another_connections_transaction(
    backend: PcscBackend, plug: Plugger
) -> None:
    plugged = plug(ChainCard(), slot=0)
    first, second = backend.connect(plugged.reader), backend.connect(plugged.reader)
    entered = threading.Event()
    errors: list[BaseException] = []

    def other() -> None:
        try:
            with second.transaction():
                entered.set()
                second.transmit(ECHO_4)
        except BaseException as exc:
            errors.append(exc)

    try:
        with first.transaction():
            worker = threading.Thread(target=other)
            worker.start()
            first.transmit(ECHO_4)
            assert not entered.wait(0.4)  # held off while the first transaction runs
            first.transmit(ECHO_4)
        assert entered.wait(WAIT)
        worker.join(WAIT)
        assert errors == []
    finally:
        first.disconnect()
        second.disconnect()


def test_a_transaction_never_released_makes_the_other_connection_busy(
    plug: Plugger,
) -> None:
    plugged = plug(ChainCard(), slot=0)
    with PcscBackend(timeout=TIMEOUT, transaction_timeout=0.3) as backend:
        first, second = backend.connect(plugged.reader), backend.connect(plugged.reader)
        with first.transaction():
            with pytest.raises(ReaderBusy, match="another program's transaction"):
                second.transaction().__enter__()
            first.transmit(ECHO_4)
        with pytest.raises(ConnectionClosed):  # given up on: connect again
            second.transmit(ECHO_4)
        first.disconnect()
        second.disconnect()
        # the abandoned begin got the lock once it was free, and its worker let it go
        assert wait_until(lambda: not abandoned_workers(), WAIT)
        with backend.connect(plugged.reader) as again, again.transaction():
            assert again.transmit(ECHO_4) == bytes.fromhex("6104")


def test_card_pulled_mid_command_then_the_next_card_works(
    backend: PcscBackend, plug: Plugger
) -> None:
    plugged = plug(ChainCard(), slot=0)
    connection = backend.connect(plugged.reader)
    plugged.faults.remove_mid_command = True
    with pytest.raises(CardRemoved, match="removed"):
        connection.transmit(ECHO_4)
    with pytest.raises(ConnectionClosed):
        connection.transmit(ECHO_4)
    assert plugged.faults.removed
    wait_card_absent(plugged.reader)  # pcscd notices on its next presence poll
    plugged.insert()  # the next card, same backend, no restart
    with CardChannel(backend.connect(plugged.reader)) as channel:
        assert channel.transmit(ECHO_4) == bytes.fromhex("010203049000")


def test_a_card_removed_between_commands(backend: PcscBackend, plug: Plugger) -> None:
    plugged = plug(ChainCard(), slot=0)
    connection = backend.connect(plugged.reader)
    plugged.remove()
    with pytest.raises(CardRemoved):
        connection.transmit(ECHO_4)
    with pytest.raises(NoCard):
        backend.connect(plugged.reader)


def test_a_mute_card_times_out_and_the_reader_recovers(backend: PcscBackend, plug: Plugger) -> None:
    plugged = plug(ChainCard(), slot=0)
    connection = backend.connect(plugged.reader)
    plugged.faults.mute = True
    started = time.monotonic()
    with pytest.raises(ReaderTimeout, match="no answer") as caught:
        connection.transmit(ECHO_4)
    assert time.monotonic() - started >= TIMEOUT
    assert caught.value.timeout == TIMEOUT
    with pytest.raises(ConnectionClosed, match="connect again"):
        connection.transmit(ECHO_4)
    # pcscd's reader thread is stuck inside vpcd: a new connection is bounded too
    with pytest.raises(ReaderTimeout):
        backend.connect(plugged.reader)
    assert abandoned_workers()
    # the reader lists fine meanwhile (another context, no driver call)
    assert plugged.reader in {info.name for info in backend.readers()}
    # pulling the card frees pcscd, and with it our abandoned workers
    plugged.faults.mute = False
    plugged.remove()
    assert wait_until(lambda: not abandoned_workers(), WAIT)
    plugged.insert()
    with CardChannel(backend.connect(plugged.reader)) as channel:
        assert channel.transmit(ECHO_4) == bytes.fromhex("010203049000")


def test_events_come_without_polling(
    backend: PcscBackend, pcsc_stack: PcscStack, plug: Plugger, monkeypatch: pytest.MonkeyPatch
) -> None:
    scard = load_scard()
    calls: list[int] = []
    original = scard.SCardGetStatusChange

    def counting(context: int, timeout: int, states: Any) -> Any:
        calls.append(timeout)
        return original(context, timeout, states)

    monkeypatch.setattr(scard, "SCardGetStatusChange", counting)
    reader = pcsc_stack.readers[2]
    with backend.events() as events:
        added = {
            next_event(events, lambda e: e.kind is EventKind.READER_ADDED).reader
            for _ in pcsc_stack.readers
        }
        assert set(pcsc_stack.readers) <= added
        assert wait_until(lambda: calls and calls[-1] == scard.INFINITE, WAIT)
        waits = len(calls)
        time.sleep(1.0)  # idle: no card comes or goes
        assert len(calls) == waits  # still inside the same INFINITE wait
        plugged = plug(ChainCard(), slot=2)
        inserted = next_event(events, lambda e: e.reader == reader)
        assert inserted == ReaderEvent(EventKind.CARD_INSERTED, reader, ATR)
        plugged.remove()
        removed = next_event(events, lambda e: e.reader == reader)
        assert removed == ReaderEvent(EventKind.CARD_REMOVED, reader)
    assert events.stopped
    assert events.get(0.01) is None


def test_events_by_callback_and_stop_from_the_callback(
    backend: PcscBackend, pcsc_stack: PcscStack, plug: Plugger
) -> None:
    seen: list[ReaderEvent] = []
    done = threading.Event()
    reader = pcsc_stack.readers[3]

    def on_event(event: ReaderEvent) -> None:
        seen.append(event)
        if event.reader == reader and event.kind is EventKind.CARD_INSERTED:
            events.stop()
            done.set()

    events = backend.events(initial=False, on_event=on_event)
    try:
        plug(ChainCard(), slot=3)
        assert done.wait(WAIT)
    finally:
        events.stop()
    assert seen == [ReaderEvent(EventKind.CARD_INSERTED, reader, ATR)]


def test_pcscd_restart_then_recovery_with_the_same_backend(
    backend: PcscBackend, pcsc_session: PcscSession, pcsc_stack: PcscStack, plug: Plugger
) -> None:
    if not pcsc_stack.pcscd.owned:
        pytest.skip("the pcscd in use was not started by this test session; cannot restart it")
    plugged = plug(ChainCard(), slot=0)
    connection = backend.connect(plugged.reader)
    assert connection.transmit(ECHO_4) == bytes.fromhex("6104")
    events = backend.events(initial=False)
    try:
        with pcsc_session.free_machine():  # no pcscd runs in here
            with pytest.raises(PcscdUnavailable, match="pcscd is not running"):
                backend.readers()
            with pytest.raises(PcscdUnavailable, match="start it with"):
                backend.connect(plugged.reader)
            with pytest.raises(PcscdUnavailable, match="lost pcscd"):
                connection.transmit(ECHO_4)
            lost = next_event(events, lambda e: e.kind is EventKind.SERVICE_LOST)
            assert lost == ReaderEvent(EventKind.SERVICE_LOST)
        # pcscd is back (a new process): the same backend object works again
        next_event(events, lambda e: e.kind is EventKind.SERVICE_BACK, timeout=10)
        next_event(
            events,
            lambda e: e.kind is EventKind.CARD_INSERTED and e.reader == plugged.reader,
            timeout=10,
        )
        assert plugged.reader in {info.name for info in backend.readers()}
        with CardChannel(backend.connect(plugged.reader)) as channel:
            assert channel.transmit(ECHO_4) == bytes.fromhex("010203049000")
    finally:
        events.stop()
        connection.disconnect()


def test_a_hung_pcscd_times_out_instead_of_hanging(
    backend: PcscBackend, pcsc_stack: PcscStack
) -> None:
    pid = pcsc_stack.pcscd.pid
    if not pcsc_stack.pcscd.owned or pid is None:
        pytest.skip("the pcscd in use was not started by this test session; cannot pause it")
    assert backend.readers()
    events = backend.events()
    assert next_event(events, lambda e: e.kind is EventKind.READER_ADDED)
    os.kill(pid, signal.SIGSTOP)
    try:
        with pytest.raises(ReaderTimeout, match="pcscd did not answer"):
            backend.readers()
        with pytest.raises(ReaderTimeout):
            backend.connect(pcsc_stack.readers[0])
        events.stop()  # returns although pcscd cannot answer the cancel now
        assert events.stopped
    finally:
        os.kill(pid, signal.SIGCONT)
    assert set(pcsc_stack.readers) <= {info.name for info in backend.readers()}
    assert wait_until(lambda: not abandoned_workers(), WAIT)
