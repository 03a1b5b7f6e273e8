"""Bounded operations through the real PC/SC stack (pcscd + vpcd + simulated cards).

Two ways, each test runs both (`mode`):

- "interrupt", as shipped: the connection knows its context's socket to pcscd,
  every call runs on the caller's thread (`PcscConnection.run` hands nothing
  off) and the watchdog's monitor shuts that socket down when a call runs past
  its limit;
- "region", the fallback when the socket cannot be found: a whole operation
  runs on one worker (`run_bounded`), each PC/SC call in it bounded.

Either way a mute card raises ReaderTimeout, a card pulled mid-command
CardRemoved, and the reader recovers.
"""

from __future__ import annotations

import time

import pytest
from pcsc_harness import Plugger, wait_card_absent, wait_until
from reader_test_cards import ECHO, ChainCard

from reader_driver import (
    CardChannel,
    CardRemoved,
    ConnectionClosed,
    PcscBackend,
    PcscConnection,
    ReaderTimeout,
    pcsc_socket,
)
from reader_driver.watchdog import abandoned_workers, in_bounded_region

TIMEOUT = 1.0
MODES = ("interrupt", "region")
WAIT = 5.0
ECHO_4 = bytes((0x80, ECHO, 0, 0, 4)) + b"\x01\x02\x03\x04"
WHOLE_ECHO = bytes.fromhex("010203049000")


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """ "interrupt" as shipped; "region": as if the socket to pcscd could not be found."""
    if request.param == "region":
        establish = pcsc_socket.establish_context
        monkeypatch.setattr(pcsc_socket, "establish_context", lambda fn: (establish(fn)[0], None))
    return str(request.param)


def _interruptible(connection: object) -> bool:
    assert isinstance(connection, PcscConnection)
    return connection._handles.watchdog.interruptible


def test_a_mute_card_inside_an_operation_times_out_and_the_reader_recovers(
    plug: Plugger, mode: str
) -> None:
    plugged = plug(ChainCard(), slot=0)
    with PcscBackend(timeout=TIMEOUT) as backend:
        channel = CardChannel(backend.connect(plugged.reader))
        assert _interruptible(channel.connection) is (mode == "interrupt")
        answers: list[bytes] = []

        def operation() -> None:
            with channel.transaction():
                answers.append(channel.transmit(ECHO_4))  # 61xx + GET RESPONSE: 2 calls
                plugged.faults.mute = True
                answers.append(channel.transmit(ECHO_4))

        started = time.monotonic()
        with pytest.raises(ReaderTimeout, match="no answer") as caught:
            channel.run(operation)
        assert time.monotonic() - started >= TIMEOUT
        assert caught.value.timeout == TIMEOUT
        assert answers == [WHOLE_ECHO]
        assert channel.closed
        with pytest.raises(ConnectionClosed, match="connect again"):
            channel.transmit(ECHO_4)
        if mode == "interrupt":
            # the blocked call was freed: nothing left behind, the context already released
            assert not abandoned_workers()
            assert channel.connection._handles.context is None  # type: ignore[attr-defined]
        else:
            assert abandoned_workers()
        # pulling the card frees pcscd; an abandoned worker releases the handle and ends
        plugged.faults.mute = False
        plugged.remove()
        assert wait_until(lambda: not abandoned_workers(), WAIT)
        plugged.insert()
        with CardChannel(backend.connect(plugged.reader)) as again:
            assert again.run(lambda: (in_bounded_region(), again.transmit(ECHO_4))) == (
                mode == "region",
                WHOLE_ECHO,
            )
        channel.close()


def test_a_card_pulled_mid_command_inside_an_operation_raises_card_removed(
    plug: Plugger, mode: str
) -> None:
    plugged = plug(ChainCard(), slot=0)
    with PcscBackend(timeout=TIMEOUT) as backend:
        channel = CardChannel(backend.connect(plugged.reader))

        def operation() -> None:
            with channel.transaction():
                channel.transmit(ECHO_4)
                plugged.faults.remove_mid_command = True
                channel.transmit(ECHO_4)

        with pytest.raises(CardRemoved, match="removed"):
            channel.run(operation)
        assert channel.closed
        assert plugged.faults.removed
        wait_card_absent(plugged.reader)
        plugged.insert()
        with CardChannel(backend.connect(plugged.reader)) as again:
            assert again.run(lambda: again.transmit(ECHO_4)) == WHOLE_ECHO
        channel.close()
