"""The in-process backend: simulated cards without pcscd, same errors as PC/SC."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from reader_test_cards import ATR, BLOCK, ECHO, BlockingCard, ChainCard

import simulators
from reader_driver import (
    CardChannel,
    CardRemoved,
    ConnectionClosed,
    EventKind,
    InProcessBackend,
    InvalidApdu,
    NoCard,
    NoReader,
    ReaderBusy,
    ReaderEvent,
    ReaderTimeout,
    open_channel,
    wait_for_card,
)
from reader_driver.watchdog import abandoned_workers
from simulators.ssc_card import UserCard

ECHO_4 = bytes((0x80, ECHO, 0, 0, 4)) + b"\x01\x02\x03\x04"
SELECT_SSSE = bytes.fromhex("00A404000F7378312E73682EC9E7BBE1B1A3D5CF")


def test_readers_are_listed_with_their_cards() -> None:
    backend = InProcessBackend(2)
    backend.insert(ChainCard(), 1)
    infos = backend.readers()
    assert [(i.name, i.card_present, i.atr) for i in infos] == [
        ("Sim 0", False, b""),
        ("Sim 1", True, ATR),
    ]


def test_insert_powers_the_card_on_and_remove_powers_it_off() -> None:
    backend = InProcessBackend()
    card = ChainCard()
    assert backend.insert(card) == ATR
    assert card.powered
    assert backend.remove() is card
    assert not card.powered
    assert backend.remove() is None


def test_connect_to_an_empty_or_unknown_reader() -> None:
    backend = InProcessBackend(["Left", "Right"])
    with pytest.raises(NoCard, match="Left"):
        backend.connect("Left")
    with pytest.raises(NoReader, match=r"'Middle'.*Left, Right"):
        backend.connect("Middle")


def test_raw_transmit_shows_t0_and_the_channel_hides_it() -> None:
    backend = InProcessBackend()
    backend.insert(ChainCard(chunks=[1, 3]))
    with backend.connect("Sim 0") as connection:
        assert connection.atr == ATR
        assert connection.transmit(ECHO_4) == bytes.fromhex("6101")
    with open_channel(backend, "Sim 0") as channel:
        assert channel.transmit(ECHO_4) == bytes.fromhex("010203049000")


def test_a_removed_card_raises_card_removed_and_the_next_card_works() -> None:
    backend = InProcessBackend()
    backend.insert(ChainCard())
    connection = backend.connect("Sim 0")
    backend.remove()
    with pytest.raises(CardRemoved):
        connection.transmit(ECHO_4)
    with pytest.raises(ConnectionClosed):
        connection.transmit(ECHO_4)
    backend.insert(ChainCard(chunks=[4]))
    with pytest.raises(ConnectionClosed):  # a connection belongs to one card
        connection.transmit(ECHO_4)
    with open_channel(backend, "Sim 0") as channel:
        assert channel.transmit(ECHO_4) == bytes.fromhex("010203049000")


def test_a_swapped_card_is_a_removed_card() -> None:
    backend = InProcessBackend()
    backend.insert(ChainCard())
    connection = backend.connect("Sim 0")
    backend.swap(ChainCard())
    with pytest.raises(CardRemoved):
        connection.transmit(ECHO_4)


def test_a_card_pulled_during_a_command_raises_card_removed() -> None:
    backend = InProcessBackend()
    card = BlockingCard()
    backend.insert(card)
    connection = backend.connect("Sim 0")
    errors: list[BaseException] = []

    def send() -> None:
        try:
            connection.transmit(bytes((0x80, BLOCK, 0, 0)))
        except CardRemoved as exc:
            errors.append(exc)

    worker = threading.Thread(target=send)
    worker.start()
    assert card.entered.wait(5)
    backend.remove()
    card.release.set()
    worker.join(5)
    assert len(errors) == 1


def test_bad_apdus_are_refused_before_reaching_the_card() -> None:
    backend = InProcessBackend()
    card = ChainCard()
    backend.insert(card)
    with backend.connect("Sim 0") as connection:
        with pytest.raises(InvalidApdu, match=r"4\.\.261 bytes, not 3"):
            connection.transmit(b"\x00\xa4\x04")
        with pytest.raises(InvalidApdu, match="not str"):
            connection.transmit("00A40400")  # type: ignore[arg-type]
    assert card.commands == []


def test_a_transaction_keeps_other_connections_out_until_it_ends() -> None:
    backend = InProcessBackend()
    backend.insert(ChainCard())
    first, second = backend.connect("Sim 0"), backend.connect("Sim 0")
    entered = threading.Event()

    def other() -> None:
        with second.transaction():
            entered.set()

    with first.transaction():
        with first.transaction():  # nests
            first.transmit(ECHO_4)
        worker = threading.Thread(target=other)
        worker.start()
        assert not entered.wait(0.3)
        first.transmit(ECHO_4)
    assert entered.wait(5)
    worker.join(5)


def test_a_transaction_that_is_not_released_makes_the_other_side_busy() -> None:
    backend = InProcessBackend(transaction_timeout=0.2)
    backend.insert(ChainCard())
    first, second = backend.connect("Sim 0"), backend.connect("Sim 0")
    with first.transaction(), pytest.raises(ReaderBusy, match="another connection's"):
        second.transmit(ECHO_4)
    assert second.transmit(ECHO_4) == bytes.fromhex("6104")


def test_disconnect_ends_a_transaction_and_is_idempotent() -> None:
    backend = InProcessBackend(transaction_timeout=0.2)
    backend.insert(ChainCard())
    first, second = backend.connect("Sim 0"), backend.connect("Sim 0")
    assert backend.readers()[0].in_use
    transaction = first.transaction()
    transaction.__enter__()
    first.disconnect()
    first.disconnect()
    assert first.closed
    assert second.transmit(ECHO_4) == bytes.fromhex("6104")
    second.disconnect()
    assert not backend.readers()[0].in_use


def test_a_mute_card_times_out_with_a_watchdog() -> None:
    backend = InProcessBackend(timeout=0.2)
    card = BlockingCard()
    backend.insert(card)
    connection = backend.connect("Sim 0")
    with pytest.raises(ReaderTimeout) as caught:
        connection.transmit(bytes((0x80, BLOCK, 0, 0)))
    assert caught.value.timeout == 0.2
    with pytest.raises(ConnectionClosed, match="connect again"):
        connection.transmit(ECHO_4)
    card.release.set()  # the card answers at last: the abandoned worker ends
    deadline = time.monotonic() + 5
    while abandoned_workers() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert abandoned_workers() == []
    with backend.connect("Sim 0") as again:
        assert again.transmit(ECHO_4) == bytes.fromhex("6104")


def test_events_report_readers_and_cards() -> None:
    backend = InProcessBackend(1)
    backend.insert(ChainCard())
    with backend.events() as events:
        assert events.get(1) == ReaderEvent(EventKind.READER_ADDED, "Sim 0")
        assert events.get(1) == ReaderEvent(EventKind.CARD_INSERTED, "Sim 0", ATR)
        backend.remove()
        name = backend.add_reader()
        backend.insert(ChainCard(), name)
        backend.remove_reader(name)
        assert [events.get(1) for _ in range(5)] == [
            ReaderEvent(EventKind.CARD_REMOVED, "Sim 0"),
            ReaderEvent(EventKind.READER_ADDED, "Sim 1"),
            ReaderEvent(EventKind.CARD_INSERTED, "Sim 1", ATR),
            ReaderEvent(EventKind.CARD_REMOVED, "Sim 1"),
            ReaderEvent(EventKind.READER_REMOVED, "Sim 1"),
        ]
        assert events.get(0.05) is None
    assert events.stopped
    assert list(events) == []


def test_events_without_initial_state_and_by_callback() -> None:
    backend = InProcessBackend(1)
    backend.insert(ChainCard())
    seen: list[ReaderEvent] = []
    events = backend.events(initial=False, on_event=seen.append)
    backend.remove()
    events.stop()
    backend.insert(ChainCard())
    assert seen == [ReaderEvent(EventKind.CARD_REMOVED, "Sim 0")]


def test_iteration_ends_when_stopped_from_another_thread() -> None:
    backend = InProcessBackend(1)
    events = backend.events(initial=False)
    threading.Timer(0.1, events.stop).start()
    assert list(events) == []


def test_wait_for_card() -> None:
    backend = InProcessBackend(2)
    threading.Timer(0.05, backend.insert, args=(ChainCard(), 1)).start()
    assert wait_for_card(backend, timeout=5) == "Sim 1"
    assert wait_for_card(backend, "Sim 1", timeout=0.01) == "Sim 1"
    with pytest.raises(NoCard, match="no card in Sim 0 within"):
        wait_for_card(backend, "Sim 0", timeout=0.05)
    with pytest.raises(NoReader):
        wait_for_card(backend, "Nowhere", timeout=0.05)


def test_the_contract_card_through_a_channel() -> None:
    examples = Path(simulators.__file__).parent / "examples"
    backend = InProcessBackend()
    backend.insert(UserCard.from_file(examples / "gen2.json"))
    with CardChannel(backend.connect("Sim 0")) as channel:
        assert channel.atr == bytes.fromhex("3B6D00000081534D97868437041A2B3C4D")
        answer = channel.transmit(SELECT_SSSE)
    assert answer[:4] == bytes.fromhex("6F19840F")
    assert answer[-5:] == bytes.fromhex("8601019000")  # algorithm 01 (3DES), 9000
