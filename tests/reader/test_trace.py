"""APDU traces: one line per APDU at TRACE (5), PINs and secrets never in the log."""

from __future__ import annotations

import logging

import pytest
from reader_test_cards import ECHO, ChainCard

from reader_driver import TRACE, CardChannel, InProcessBackend

PIN = "123456"
VERIFY = bytes.fromhex("0020000003" + PIN)
WRONG_VERIFY = bytes.fromhex("0020000003654321")
CHANGE_PIN = bytes.fromhex("805E010007" + PIN + "FF" + "987654")
LOGGER = "reader_driver.processors"


def channel(card: ChainCard | None = None) -> CardChannel:
    backend = InProcessBackend()
    backend.insert(card if card is not None else ChainCard(pin=bytes.fromhex(PIN)))
    return CardChannel(backend.connect("Sim 0"))


def messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER]


def test_verify_data_never_appears_in_the_trace(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(TRACE, logger=LOGGER)
    with channel() as ch:
        assert ch.transmit(VERIFY) == b"\x90\x00"
        assert ch.transmit(WRONG_VERIFY) == bytes.fromhex("63C2")
        ch.transmit(CHANGE_PIN)
    lines = messages(caplog)
    assert len(lines) == 6
    text = "\n".join(lines)
    for secret in (PIN, "654321", "987654"):
        assert secret not in text
    assert "Sim 0 > 0020000003******" in lines[0]
    assert "Sim 0 < 9000" in lines[1]
    assert "< 63C2" in lines[3]
    assert all(r.levelno == TRACE and r.levelname == "TRACE" for r in caplog.records)


def test_the_trace_shows_the_wire_including_get_response(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(TRACE, logger=LOGGER)
    secret_reply = bytes.fromhex("A1A2A3A4A5A6A7A8")
    with channel(ChainCard(chunks=[8])) as ch:
        answer = ch.transmit(bytes((0x80, ECHO, 0, 0, 8)) + secret_reply)
    assert answer == secret_reply + b"\x90\x00"
    lines = messages(caplog)
    assert [line.split()[3] for line in lines] == [
        "80CA000008A1A2A3A4A5A6A7A8",  # not a secret command: shown
        "6108",
        "00C0000008",
        "****************9000",  # GET RESPONSE data may be a cryptogram: masked
    ]


def test_nothing_is_logged_above_trace(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    with channel() as ch:
        ch.transmit(VERIFY)
    assert messages(caplog) == []


def test_a_channel_without_trace_logs_nothing(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(TRACE, logger=LOGGER)
    backend = InProcessBackend()
    backend.insert(ChainCard())
    with CardChannel(backend.connect("Sim 0"), trace=False) as ch:
        ch.transmit(VERIFY)
    assert messages(caplog) == []
