"""T=0 handling in the processor stack: 61xx chains reassembled, 6Cxx re-sent."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reader_test_cards import ECHO, READ, ChainCard

from reader_driver.errors import TransportError
from reader_driver.processors import MAX_GET_RESPONSES, T0Processor, with_le


class Scripted:
    """An inner processor that answers from a script and records what it was sent."""

    def __init__(self, *answers: str) -> None:
        self.answers = [bytes.fromhex(a) for a in answers]
        self.sent: list[bytes] = []

    def transmit(self, apdu: bytes) -> bytes:
        self.sent.append(apdu)
        if len(self.answers) == 1:
            return self.answers[0]
        return self.answers.pop(0)


def echo(data: bytes) -> bytes:
    return bytes((0x80, ECHO, 0, 0, len(data))) + data


@st.composite
def splits(draw: st.DrawFn) -> tuple[bytes, list[int]]:
    data = draw(st.binary(min_size=1, max_size=255))
    cuts = (
        draw(st.lists(st.integers(1, len(data) - 1), unique=True, max_size=8))
        if len(data) > 1
        else []
    )
    bounds = [0, *sorted(cuts), len(data)]
    return data, [b - a for a, b in itertools.pairwise(bounds)]


@settings(max_examples=60, deadline=None)
@given(splits())
def test_any_split_into_61xx_chain_is_reassembled(case: tuple[bytes, list[int]]) -> None:
    data, chunks = case
    card = ChainCard(chunks=chunks)
    t0 = T0Processor(card)

    assert t0.transmit(echo(data)) == data + b"\x90\x00"
    # one command, then one GET RESPONSE per chunk, each with the Le the card announced
    get_responses = card.commands[1:]
    assert [c[4] for c in get_responses] == [n & 0xFF for n in chunks]
    assert all(c[:4] == b"\x00\xc0\x00\x00" and len(c) == 5 for c in get_responses)


def test_data_before_61xx_is_kept() -> None:
    inner = Scripted("AABB6102", "CCDD9000")
    assert T0Processor(inner).transmit(bytes.fromhex("00A4040000")) == bytes.fromhex("AABBCCDD9000")
    assert inner.sent[1] == bytes.fromhex("00C0000002")


def test_61_00_fetches_256_bytes() -> None:
    inner = Scripted("6100", "11" * 256 + "9000")
    assert T0Processor(inner).transmit(bytes.fromhex("00A4040000")) == b"\x11" * 256 + b"\x90\x00"
    assert inner.sent[1] == bytes.fromhex("00C0000000")


def test_6cxx_resends_the_same_command_with_the_right_le() -> None:
    card = ChainCard(record=bytes(range(10)))
    answer = T0Processor(card).transmit(bytes((0x00, READ, 0x01, 0x04, 0x00)))
    assert answer == bytes(range(10)) + b"\x90\x00"
    assert card.commands == [bytes.fromhex("00B2010400"), bytes.fromhex("00B201040A")]


def test_6cxx_on_a_command_without_le_adds_it() -> None:
    card = ChainCard(record=b"\x01\x02\x03")
    assert T0Processor(card).transmit(bytes.fromhex("00B20104")) == b"\x01\x02\x03\x90\x00"
    assert card.commands[-1] == bytes.fromhex("00B2010403")


def test_6cxx_is_resent_once_only() -> None:
    inner = Scripted("6C05")
    assert T0Processor(inner).transmit(bytes.fromhex("00B2010400")) == bytes.fromhex("6C05")
    assert inner.sent == [bytes.fromhex("00B2010400"), bytes.fromhex("00B2010405")]


def test_6cxx_to_get_response_is_corrected() -> None:
    inner = Scripted("6104", "6C03", "0102039000")
    assert T0Processor(inner).transmit(bytes.fromhex("00A4040000")) == bytes.fromhex("0102039000")
    assert inner.sent[1:] == [bytes.fromhex("00C0000004"), bytes.fromhex("00C0000003")]


def test_6cxx_to_get_response_with_the_same_le_is_returned_as_it_is() -> None:
    inner = Scripted("6104", "6C04")
    assert T0Processor(inner).transmit(bytes.fromhex("00A4040000")) == bytes.fromhex("6C04")
    assert inner.sent[1:] == [bytes.fromhex("00C0000004")]


def test_61xx_again_after_the_first_get_response_fetches_the_rest() -> None:
    inner = Scripted("6102", "AABB6101", "CC9000")
    answer = T0Processor(inner).transmit(bytes.fromhex("00A4040000"))
    assert answer == bytes.fromhex("AABBCC9000")
    assert inner.sent[1:] == [bytes.fromhex("00C0000002"), bytes.fromhex("00C0000001")]


def test_a_get_response_answer_without_status_word_is_an_error() -> None:
    with pytest.raises(TransportError, match="no status word"):
        T0Processor(Scripted("6102", "90")).transmit(bytes.fromhex("00A4040000"))


@pytest.mark.parametrize("sw", ["9000", "6A82", "63C2", "6283"])
def test_other_status_words_pass_through(sw: str) -> None:
    inner = Scripted("0102" + sw)
    assert T0Processor(inner).transmit(bytes.fromhex("00B2010400")) == bytes.fromhex("0102" + sw)
    assert len(inner.sent) == 1


def test_a_card_that_never_stops_answering_61xx_is_given_up() -> None:
    inner = Scripted("6101")
    with pytest.raises(TransportError, match="61xx"):
        T0Processor(inner).transmit(bytes.fromhex("00A4040000"))
    assert len(inner.sent) == 1 + MAX_GET_RESPONSES


def test_an_answer_without_status_word_is_an_error() -> None:
    with pytest.raises(TransportError, match="no status word"):
        T0Processor(Scripted("90")).transmit(bytes.fromhex("00A4040000"))


def test_the_whole_exchange_runs_inside_one_transaction() -> None:
    log: list[str] = []

    @contextlib.contextmanager
    def transaction() -> Iterator[None]:
        log.append("begin")
        yield
        log.append("end")

    class Recording(Scripted):
        def transmit(self, apdu: bytes) -> bytes:
            log.append(apdu.hex().upper())
            return super().transmit(apdu)

    inner = Recording("6102", "AABB9000")
    T0Processor(inner, transaction=transaction).transmit(bytes.fromhex("00A4040000"))
    assert log == ["begin", "00A4040000", "00C0000002", "end"]


def test_with_le() -> None:
    assert with_le(bytes.fromhex("00B2010400"), 10) == bytes.fromhex("00B201040A")
    assert with_le(bytes.fromhex("00B2010400"), 256) == bytes.fromhex("00B2010400")
    assert with_le(bytes.fromhex("0020000002123400"), 4) == bytes.fromhex("0020000002123404")
    assert with_le(bytes.fromhex("00B2"), 4) is None
