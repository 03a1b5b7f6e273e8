"""Fuzzing both simulated cards: whatever arrives, a card answers a status word and never raises."""

from __future__ import annotations

import json
from collections.abc import Callable
from itertools import count

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulators.base import SimulatedCard
from simulators.personalisation import example_profile
from simulators.psam import Psam
from simulators.ssc_card import UserCard

SSSE = bytes.fromhex("7378312E73682EC9E7BBE1B1A3D5CF")
# SW1 values the contract's cards may answer
KNOWN_SW1 = {0x90, 0x61, 0x6C, 0x62, 0x63, 0x67, 0x69, 0x6A, 0x6D, 0x6E, 0x93}

FUZZ = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def counting_random() -> Callable[[int], bytes]:
    """A deterministic random source, so Hypothesis can replay a failure."""
    counter = count()
    return lambda n: bytes((next(counter) * 37 + i) & 0xFF for i in range(n))


def user_card(gen: int, protocol: str) -> UserCard:
    data = example_profile(gen)
    data["protocol"] = protocol
    card = UserCard.from_profile(data, random_source=counting_random())
    card.power_on()
    return card


def psam_card(protocol: str) -> Psam:
    sam = Psam.from_dict(
        {"terminal_number": "370400000001", "protocol": protocol, "masters": "demo"}
    )
    sam.power_on()
    return sam


CARD_FACTORIES: dict[str, Callable[[], SimulatedCard]] = {
    "gen1-T0": lambda: user_card(1, "T=0"),
    "gen2-T0": lambda: user_card(2, "T=0"),
    "gen3-T1": lambda: user_card(3, "T=1"),
    "psam-T0": lambda: psam_card("T=0"),
    "psam-T1": lambda: psam_card("T=1"),
}


def check_response(resp: bytes) -> None:
    assert isinstance(resp, bytes)
    assert 2 <= len(resp) <= 258
    sw = int.from_bytes(resp[-2:], "big")
    assert sw != 0x6F00, "internal error"
    assert resp[-2] in KNOWN_SW1, f"unexpected SW {sw:04X}"
    if len(resp) > 2:
        assert sw == 0x9000, "data only comes with 9000"


def check_state(card: SimulatedCard) -> None:
    state = card.state()
    json.dumps(state)
    if "pin_tries_left" in state:
        left, limit = state["pin_tries_left"], state["pin_try_limit"]
        assert isinstance(left, int)
        assert isinstance(limit, int)
        assert 0 <= left <= limit
        assert state["pin_blocked"] == (left == 0)
        assert not (state["pin_verified"] and state["pin_blocked"])


@pytest.mark.parametrize("name", sorted(CARD_FACTORIES))
@FUZZ
@given(apdu=st.binary(max_size=300))
def test_any_bytes_get_a_status_word(name: str, apdu: bytes) -> None:
    card = CARD_FACTORIES[name]()
    check_response(card.transmit(apdu))
    check_state(card)


# Command headers both cards know, and a few they do not.
HEADERS = [
    (0x00, 0xA4),
    (0x00, 0xB2),
    (0x00, 0xDC),
    (0x00, 0x84),
    (0x00, 0x82),
    (0x00, 0x88),
    (0x00, 0x20),
    (0x80, 0x5E),
    (0x84, 0x24),
    (0x84, 0x1E),
    (0x84, 0x18),
    (0x84, 0x16),
    (0x00, 0xC0),
    (0x00, 0xB0),
    (0xBF, 0xDE),
    (0x80, 0xFA),
    (0x00, 0xCA),
    (0xFF, 0xB2),
]
INTERESTING = [0x00, 0x01, 0x02, 0x04, 0x05, 0x06, 0x07, 0x0A, 0x28, 0x2C, 0x30, 0x34, 0x48,
               0x4E, 0x81, 0x8A, 0x96, 0xFF]  # fmt: skip
WELL_FORMED = [
    bytes.fromhex("00A404000F") + SSSE,
    bytes.fromhex("00A4040006D15600000590"),
    bytes.fromhex("00A4040006D15600000503"),
    bytes.fromhex("00A40000023F00"),
    bytes.fromhex("0084000008"),
    bytes.fromhex("00C0000008"),
    bytes.fromhex("00C000001B"),
    bytes.fromhex("0020000003123456"),
    bytes.fromhex("0020000000"),
    bytes.fromhex("00B2012C00"),
    bytes.fromhex("BFDE480118") + bytes(24),
    bytes.fromhex("80FA000008") + bytes(8),
]


@st.composite
def apdus(draw: st.DrawFn) -> bytes:
    if draw(st.integers(0, 3)) == 0:
        return draw(st.sampled_from(WELL_FORMED))
    cla, ins = draw(st.sampled_from(HEADERS))
    p1 = draw(st.sampled_from(INTERESTING) | st.integers(0, 255))
    p2 = draw(st.sampled_from(INTERESTING) | st.integers(0, 255))
    data = draw(st.binary(max_size=40))
    le = draw(st.none() | st.sampled_from([0, 4, 8, 16, 0x1B]) | st.integers(0, 255))
    out = bytes((cla, ins, p1, p2))
    if data:
        out += bytes((len(data),)) + data
    if le is not None:
        out += bytes((le,))
    return out


Step = tuple[str, bytes]
steps = st.lists(
    st.one_of(
        apdus().map(lambda a: ("apdu", a)),
        st.sampled_from([("reset", b""), ("power_off", b"")]),
    ),
    max_size=25,
)


@pytest.mark.parametrize("name", sorted(CARD_FACTORIES))
@settings(max_examples=60, deadline=None)
@given(sequence=steps)
def test_random_command_sequences(name: str, sequence: list[Step]) -> None:
    card = CARD_FACTORIES[name]()
    for action, apdu in sequence:
        if action == "reset":
            assert card.reset() == card.atr
        elif action == "power_off":
            card.power_off()
            assert card.power_on() == card.atr
        else:
            check_response(card.transmit(apdu))
        check_state(card)


@settings(max_examples=40, deadline=None)
@given(sequence=st.lists(apdus(), max_size=15), mac=st.binary(min_size=4, max_size=4))
def test_block_commands_need_the_right_mac(sequence: list[bytes], mac: bytes) -> None:
    """Random traffic never blocks a card: only a MAC under the STK card key does."""
    card = user_card(2, "T=0")
    card.transmit(bytes.fromhex("00A404000F") + SSSE)
    for apdu in sequence:
        card.transmit(apdu)
        card.transmit(bytes.fromhex("0084000008"))
        card.transmit(bytes.fromhex("841E000004") + mac)
    state = card.state()
    assert state["card_blocked"] is False
    assert state["application_blocked"] is False


def test_fuzz_helpers_reach_deep_states() -> None:
    """The sequence strategy can reach a verified PIN (else the fuzzing above is shallow)."""
    card = user_card(2, "T=0")
    for apdu in (WELL_FORMED[0], bytes.fromhex("0020000003123456")):
        check_response(card.transmit(apdu))
    assert card.state()["pin_verified"] is True
