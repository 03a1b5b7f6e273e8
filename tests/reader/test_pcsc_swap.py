"""A card swapped before pcscd noticed, against the real stack (pcscd + vpcd + simulated cards).

`VpcdSlot.swap` pulls the card and puts another in at once. pcscd polls vpcd for
presence every 400 ms, so it usually never sees the reader empty: it keeps the old
card (and its ATR) as present, and the next transmit fails with
SCARD_E_NOT_TRANSACTED, on new connections too, until the card is reset. The
connection must raise CardRemoved (another ATR) or CardReset (the same ATR), and the
next connect must reach the new card with its own ATR.

Two races decide which path a swap takes: pcscd's poll can fall between the swap
and the transmit (it then reports the card removed the usual way,
SCARD_W_REMOVED_CARD), and the reset can come before the new card is in vpcd (the
reset finds no card: CardRemoved "removed", and pcscd shows the new card on its next
poll). Each test retries the swap a few times until it has seen the path it is
about, so that it cannot pass without it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pcsc_harness import PluggedCard, Plugger, card_atr, reader_state, wait_until
from reader_test_cards import ECHO, ChainCard

import simulators
from cardsvc.card.security import KeyServiceSecurityModule
from cardsvc.card.session import SscSession
from reader_driver import (
    CardChannel,
    CardRemoved,
    CardReset,
    ConnectionClosed,
    PcscBackend,
    TransportError,
)
from reader_driver.pcsc_codes import Code
from simulators.base import SimulatedCard
from simulators.ssc_card import UserCard

TIMEOUT = 1.0
WAIT = 5.0
ATTEMPTS = 5
EXAMPLES = Path(simulators.__file__).parent / "examples"
SELECT_SSSE = bytes.fromhex("00A404000F7378312E73682EC9E7BBE1B1A3D5CF")
ECHO_4 = bytes((0x80, ECHO, 0, 0, 4)) + b"\x01\x02\x03\x04"


@pytest.fixture(autouse=True)
def no_thread_left_behind() -> Iterator[None]:
    yield

    def ours() -> list[str]:
        names = [t.name for t in threading.enumerate()]
        return [n for n in names if n.startswith(("watchdog", "pcsc events"))]

    assert wait_until(lambda: not ours(), WAIT), ours()


@pytest.fixture
def backend() -> Iterator[PcscBackend]:
    with PcscBackend(timeout=TIMEOUT) as b:
        yield b


def user_card(generation: int) -> UserCard:
    return UserCard.from_file(EXAMPLES / f"gen{generation}.json")


def swap_until(
    backend: PcscBackend,
    plugged: PluggedCard,
    cards: Callable[[int], SimulatedCard],
    use: Callable[[CardChannel], object],
    accept: Callable[[TransportError], bool],
) -> tuple[TransportError, SimulatedCard]:
    """Swap in `cards(k)` under an open connection until `use` fails the way `accept` takes.

    Every failure must be CardRemoved or CardReset and leave the connection closed.
    Only SCARD_E_NOT_TRANSACTED failures are accepted (pcscd did not notice the swap).
    Between tries, waits until pcscd shows the new card.
    """
    seen: list[str] = []
    for attempt in range(ATTEMPTS):
        connection = backend.connect(plugged.reader)
        try:
            channel = CardChannel(connection)
            use(channel)  # the card that was there works
            new = cards(attempt)
            plugged.slot.swap(new)
            with pytest.raises((CardRemoved, CardReset)) as caught:
                use(channel)
            with pytest.raises(ConnectionClosed, match="connect again"):
                connection.transmit(SELECT_SSSE)
        finally:
            connection.disconnect()
        error = caught.value
        if error.code == Code.E_NOT_TRANSACTED and accept(error):
            return error, new
        seen.append(f"{type(error).__name__}: {error}")
        # pcscd saw the reader empty for a moment: the new card shows up on its next poll
        assert wait_until(lambda atr=new.atr: card_atr(plugged.reader) == atr, WAIT), (
            error,
            reader_state(plugged.reader),
        )
    pytest.fail(f"no swap failed the way the test wants in {ATTEMPTS} tries: {seen}")


def select_ssse(channel: CardChannel) -> bytes:
    answer = channel.transmit(SELECT_SSSE)
    assert answer[-2:] == b"\x90\x00"
    return answer


def echo(channel: CardChannel) -> bytes:
    answer = channel.transmit(ECHO_4)
    assert answer == bytes.fromhex("010203049000")
    return answer


def test_a_swapped_card_raises_card_removed_and_the_next_connect_reads_the_new_card(
    backend: PcscBackend, plug: Plugger
) -> None:
    plugged = plug(user_card(1), slot=0)
    # gen 1 -> gen 2 (-> gen 1 ... on a retry): always another ATR than the card before
    assert user_card(1).atr != user_card(2).atr

    error, new = swap_until(
        backend,
        plugged,
        lambda k: user_card(2 if k % 2 == 0 else 1),
        select_ssse,
        lambda e: "swapped" in str(e),
    )

    assert type(error) is CardRemoved
    assert "swapped for another" in str(error)
    assert "connect again" in str(error)
    assert error.reader == plugged.reader
    # pcscd showed the old card's ATR; after the reset it shows the new card's
    assert card_atr(plugged.reader) == new.atr
    with CardChannel(backend.connect(plugged.reader)) as channel:
        assert channel.atr == new.atr
        answer = select_ssse(channel)
    assert answer[:4] == bytes.fromhex("6F19840F")


def test_a_card_swapped_for_one_with_the_same_atr_raises_card_reset(
    backend: PcscBackend, plug: Plugger
) -> None:
    plugged = plug(ChainCard(), slot=0)

    error, new = swap_until(
        backend, plugged, lambda k: ChainCard(), echo, lambda e: "lost contact" in str(e)
    )

    assert type(error) is CardReset
    assert "lost contact with the card" in str(error)
    assert "connect again" in str(error)
    with CardChannel(backend.connect(plugged.reader)) as channel:
        assert channel.atr == new.atr
        echo(channel)


def test_a_swap_between_basic_reads_is_a_clean_card_removed(
    backend: PcscBackend, plug: Plugger
) -> None:
    """The session sees CardRemoved, and the next connection reads the new card whole."""
    plugged = plug(user_card(3), slot=0)
    keys = KeyServiceSecurityModule.demo()
    numbers = {1: "B12345671", 3: "A00000038"}  # gen 2's example card has gen 3's ATR

    def basic_read(channel: CardChannel) -> object:
        return SscSession(channel, keys).basic_read()

    error, new = swap_until(
        backend, plugged, lambda k: user_card(1 if k % 2 == 0 else 3), basic_read, bool
    )

    # another ATR: "swapped"; or no card yet when the reset powered the reader: "removed"
    assert type(error) is CardRemoved
    assert "swapped for another" in str(error) or "removed" in str(error)
    generation = 1 if new.atr == user_card(1).atr else 3
    assert wait_until(lambda: card_atr(plugged.reader) == new.atr, WAIT), (
        error,
        reader_state(plugged.reader),
    )
    with CardChannel(backend.connect(plugged.reader)) as channel:
        result = SscSession(channel, keys).basic_read()
    assert result.generation == generation
    assert result.card_number == numbers[generation]


def test_a_card_pulled_before_pcscd_noticed_is_seen_again_when_put_back(
    backend: PcscBackend, plug: Plugger
) -> None:
    """The reset finds no card: CardRemoved; pcscd must still see the card when it comes back."""
    plugged = plug(ChainCard(), slot=0)
    connection = backend.connect(plugged.reader)
    try:
        echo(CardChannel(connection))
        plugged.remove(wait=False)
        with pytest.raises(CardRemoved, match="removed") as caught:
            connection.transmit(ECHO_4)
        # Which of two paths reports it depends on whether vpcd noticed the closed
        # socket before the command reached it (a race the test cannot order): the reset
        # finding no card (a PC/SC code), or the command answered with nothing.
        error = caught.value
        assert error.code in (Code.E_NOT_TRANSACTED, Code.W_REMOVED_CARD) or (
            error.code is None and "removed during a command" in str(error)
        ), error
    finally:
        connection.disconnect()
    plugged.insert()  # bounded wait until pcscd sees it again
    with CardChannel(backend.connect(plugged.reader)) as channel:
        echo(channel)
