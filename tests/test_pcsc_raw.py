"""The card contract's raw APDUs through the real PC/SC stack, with pyscard and nothing of ours.

A private pcscd with vpcd readers (tests/pcsc_harness.py) serves simulated
cards (simulators/) in its slots; these tests talk to them the way any PC/SC
program would: smartcard.System.readers(), createConnection(), connect(),
transmit(). The expected bytes come from the contract (shared/ssc-card.md
sections 2-5 and 9) and the example personalisation files; gen 2 and gen 3
examples are the contract's known-answer card (region 370402, serial 1A2B3C4D).
Then what pcscd does with cards that go away, go mute, go slow or lie.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pcsc_harness import PcscStack, PluggedCard, Plugger, card_atr, wait_card_present, wait_until
from smartcard.Exceptions import CardConnectionException, NoCardException
from smartcard.System import readers

import simulators
from simulators.faults import WRONG_ATR, Faults
from simulators.floor import FLOOR_ATR, FloorCard
from simulators.psam import Psam
from simulators.ssc_card import ScriptedRandom, UserCard

EXAMPLES = Path(simulators.__file__).parent / "examples"

SSSE_NAME = bytes.fromhex("7378312E73682EC9E7BBE1B1A3D5CF")
SELECT_SSSE = "00A404000F" + SSSE_NAME.hex()
USER_SLOT = 0
PSAM_SLOT = 1  # the second slot of the same reader entry, as in a real dual-slot terminal
P = bytes.fromhex("A1A2A3A4A5A6A7A8")
S = bytes.fromhex("B1B2B3B4B5B6B7B8")
R = bytes.fromhex("0102030405060708")
X = bytes.fromhex("1122334455667788")
# Section 6 known answers for the contract's card (= examples gen2 and gen3).
INTERNAL_AUTH_KAT = {2: "1E780E2489C56B7B", 3: "A74D105C8C492222"}
EXTERNAL_AUTH_KAT_SM4 = "C350A32798AE1817"
PSAM_ATR = bytes.fromhex("3B6D00000081534D5053414D0000000001")


# --- what the contract says a card personalised from an example answers ----------------------


@dataclass(frozen=True)
class Expected:
    generation: int
    data: dict[str, Any]

    @classmethod
    def load(cls, generation: int) -> Expected:
        return cls(generation, json.loads((EXAMPLES / f"gen{generation}.json").read_text()))

    @property
    def atr(self) -> bytes:
        region = self.data["region_code"][:4]
        return bytes.fromhex("3B6D0000" + "0081534D978684" + region + self.data["chip_serial"])

    @property
    def algorithm(self) -> int:
        return 0x03 if self.generation == 3 else 0x01

    @property
    def fci(self) -> bytes:
        return (
            bytes.fromhex("6F19840F")
            + SSSE_NAME
            + bytes.fromhex("A5069F0C038601")
            + bytes((self.algorithm,))
        )

    @property
    def f1(self) -> bytes:
        return self.atr[-8:]

    @property
    def f2(self) -> bytes:
        return str(self.data["region_code"]).encode("ascii") + b"sx"

    def key_index(self, kid: int) -> int:
        return kid | 0x80 if self.generation == 3 else kid

    @property
    def pin(self) -> bytes:
        digits = self.data["pin"]
        return bytes.fromhex(digits + "F" * (len(digits) % 2))

    def _an(self, name: str, length: int) -> bytes:
        return str(self.data[name]).encode("gb18030").ljust(length, b"\0")

    def ef05(self) -> dict[int, bytes]:
        d = self.data
        return {
            0x01: bytes.fromhex(
                d["region_code"] + "D156000005" + d["chip_serial"] + d["card_id_suffix"]
            ),
            0x02: self._an("card_type", 1),
            0x03: f"{self.generation}.00".encode(),
            0x04: bytes.fromhex(d["init_org"]),
            0x05: bytes.fromhex(d["issue_date"]),
            0x06: bytes.fromhex(d["expiry_date"]),
            0x07: self._an("card_number", 9),
        }

    def ef06(self) -> dict[int, bytes]:
        d = self.data
        records = {
            0x08: self._an("ssn", 18),
            0x09: self._an("name", 30),
            0x4E: self._an("name_ext", 20),
            0x0A: self._an("sex", 1),
            0x0B: bytes.fromhex(d["nation"]),
            0x0C: bytes.fromhex(d["birthplace"]),
            0x0D: bytes.fromhex(d["birth_date"]),
        }
        if self.generation == 1:
            del records[0x4E]
        return records


# --- a terminal made of nothing but pyscard ------------------------------------------------


class Terminal:
    """One pyscard connection; `send` gives (data, SW) of one raw APDU."""

    def __init__(self, reader_name: str) -> None:
        matches = [r for r in readers() if str(r) == reader_name]
        assert matches, f"pyscard does not list {reader_name!r}"
        self.connection = matches[0].createConnection()
        self.connection.connect()

    @property
    def atr(self) -> bytes:
        return bytes(self.connection.getATR())

    def send(self, apdu: str | bytes) -> tuple[bytes, int]:
        raw = bytes.fromhex(apdu) if isinstance(apdu, str) else apdu
        data, sw1, sw2 = self.connection.transmit(list(raw))
        return bytes(data), (sw1 << 8) | sw2

    def ok(self, apdu: str | bytes) -> bytes:
        data, sw = self.send(apdu)
        assert sw == 0x9000, f"{apdu if isinstance(apdu, str) else apdu.hex()} -> {sw:04X}"
        return data

    def close(self) -> None:
        # The card or the pcscd may be gone: then there is nothing left to release, and
        # pyscard must not try again from __del__ (it would print the failure).
        with contextlib.suppress(CardConnectionException):
            self.connection.disconnect()
        with contextlib.suppress(CardConnectionException):
            self.connection.release()
        inner = getattr(self.connection, "component", self.connection)
        inner.hcard = None
        inner.hcontext = None


@pytest.fixture
def terminal() -> Iterator[Callable[[str], Terminal]]:
    opened: list[Terminal] = []

    def open_terminal(reader_name: str) -> Terminal:
        t = Terminal(reader_name)
        opened.append(t)
        return t

    yield open_terminal
    for t in opened:
        t.close()


@dataclass
class Bench:
    """A user card in slot 0 and the PSAM in slot 1, each with a pyscard connection."""

    expected: Expected
    user: Terminal
    psam: Terminal
    challenges: ScriptedRandom


@pytest.fixture(params=[1, 2, 3], ids=["gen1", "gen2", "gen3"])
def bench(
    request: pytest.FixtureRequest, plug: Plugger, terminal: Callable[[str], Terminal]
) -> Bench:
    generation: int = request.param
    challenges = ScriptedRandom()
    card = UserCard.from_file(EXAMPLES / f"gen{generation}.json", random_source=challenges)
    user = plug(card, USER_SLOT, wait=False)
    sam = plug(Psam.from_file(EXAMPLES / "psam.json"), PSAM_SLOT, wait=False)
    plug.wait_present()
    return Bench(Expected.load(generation), terminal(user.reader), terminal(sam.reader), challenges)


def psam_cryptogram(psam: Terminal, kidx: int, f1: bytes, f2: bytes, r: bytes, x: bytes) -> bytes:
    """Section 5: SELECT DF01, DES INIT (F1, F2, R), ENCRYPT X, GET RESPONSE."""
    psam.ok("00A4040006D15600000590")
    psam.ok(bytes((0xBF, 0xDE, 0x48, kidx, 0x18)) + f1 + f2 + r)
    data, sw = psam.send(bytes.fromhex("80FA000008") + x)
    assert (data, sw) == (b"", 0x6108)
    return psam.ok("00C0000008")


# --- sections 2, 4, 5 and 9 through pcscd ----------------------------------------------------


def test_atr_is_the_contracts(bench: Bench) -> None:
    assert bench.user.atr == bench.expected.atr
    assert bench.psam.atr == PSAM_ATR


def test_select_ssse_answers_61_1b_and_get_response_the_fci(bench: Bench) -> None:
    assert bench.user.send(SELECT_SSSE) == (b"", 0x611B)
    assert bench.user.ok("00C000001B") == bench.expected.fci


def test_internal_authenticate_matches_the_psam(bench: Bench) -> None:
    e = bench.expected
    bench.user.send(SELECT_SSSE)
    bench.user.ok("00C000001B")
    assert bench.user.send(bytes.fromhex("0088000110") + P + S) == (b"", 0x6108)
    answer = bench.user.ok("00C0000008")
    assert len(answer) == 8
    assert psam_cryptogram(bench.psam, e.key_index(0x01), e.f1, e.f2, P, S) == answer
    if e.generation in INTERNAL_AUTH_KAT:
        assert answer == bytes.fromhex(INTERNAL_AUTH_KAT[e.generation])


def test_read_every_record_by_tag_and_sfi(bench: Bench) -> None:
    e = bench.expected
    bench.user.send(SELECT_SSSE)
    if e.generation == 3:
        assert bench.user.send("00B2083014")[1] == 0x6982  # EF06 needs RKSSSE first
        bench.challenges.push(R)
        challenge = bench.user.ok("0084000008")
        assert challenge == R
        c = psam_cryptogram(bench.psam, 0x8A, e.f1, e.f2, challenge, X)
        assert c == bytes.fromhex(EXTERNAL_AUTH_KAT_SM4)
        bench.user.ok(bytes.fromhex("0082000A10") + c + X)
    for p2, records in ((0x28, e.ef05()), (0x30, e.ef06())):
        for tag, value in records.items():
            apdu = bytes((0x00, 0xB2, tag, p2, 2 + len(value)))
            assert bench.user.ok(apdu) == bytes((tag, len(value))) + value, f"tag {tag:02X}"
    if e.generation == 1:
        assert bench.user.send("00B24E3016")[1] == 0x6A83  # gen 1 has no name extension


def test_gen3_external_authenticate_with_a_wrong_cryptogram_is_refused(
    plug: Plugger, terminal: Callable[[str], Terminal]
) -> None:
    card = plug(UserCard.from_file(EXAMPLES / "gen3.json"), USER_SLOT)
    user = terminal(card.reader)
    user.send(SELECT_SSSE)
    user.ok("0084000008")
    assert user.send(bytes.fromhex("0082000A10") + bytes(8) + X)[1] == 0x63C2
    assert user.send("00B2083014")[1] == 0x6982


def test_wrong_le_answers_6cxx_and_the_right_le_gets_the_data(bench: Bench) -> None:
    bench.user.send(SELECT_SSSE)
    assert bench.user.send("00B2072805") == (b"", 0x6C0B)
    assert bench.user.ok("00B207280B")[:2] == bytes.fromhex("0709")
    bench.user.send(SELECT_SSSE)
    assert bench.user.send("00C0000010") == (b"", 0x6C1B)
    assert bench.user.ok("00C000001B") == bench.expected.fci


def test_verify_right_and_wrong_pin(bench: Bench) -> None:
    e = bench.expected
    tries = e.data["pin_tries"]
    bench.user.send(SELECT_SSSE)
    wrong = bytes.fromhex("999999")
    lc = bytes((len(wrong),))
    assert bench.user.send(bytes.fromhex("00200000") + lc + wrong)[1] == 0x63C0 | (tries - 1)
    assert bench.user.send("00200000")[1] == 0x63C0 | (tries - 1)  # status query
    bench.user.ok(bytes.fromhex("00200000") + bytes((len(e.pin),)) + e.pin)
    bench.user.ok("00200000")


def test_psam_terminal_number(bench: Bench) -> None:
    assert bench.psam.ok("00B0960006") == bytes.fromhex("370400000001")


# --- transport behaviour through pcscd -------------------------------------------------------


def test_a_removed_card_is_gone_for_pyscard(plug: Plugger) -> None:
    card = plug(FloorCard(), 2)
    t = Terminal(card.reader)
    try:
        assert t.ok("00A4000002 3F00".replace(" ", "")) == b""
        card.remove()
        assert card_atr(card.reader) is None
        with pytest.raises(CardConnectionException):
            t.send("00A40000023F00")
    finally:
        t.close()
    with pytest.raises(NoCardException):
        Terminal(card.reader)


def test_a_card_removed_mid_command_makes_transmit_raise(
    plug: Plugger, terminal: Callable[[str], Terminal]
) -> None:
    card = plug(FloorCard(), 2)
    t = terminal(card.reader)
    t.ok("00A40000023F00")
    card.faults.remove_mid_command = True
    with pytest.raises(CardConnectionException):
        t.send("00A40000023F00")
    assert card.faults.removed
    assert wait_until(lambda: card_atr(card.reader) is None, 5)


def test_a_mute_card_blocks_transmit_until_it_is_pulled(
    plug: Plugger, terminal: Callable[[str], Terminal]
) -> None:
    card = plug(FloorCard(), 3)
    t = terminal(card.reader)
    t.ok("00A40000023F00")
    card.faults.mute = True
    outcome: list[BaseException | tuple[bytes, int]] = []

    def send() -> None:
        try:
            outcome.append(t.send("00A40000023F00"))
        except Exception as exc:  # recorded for the assertion below
            outcome.append(exc)

    worker = threading.Thread(target=send, name="mute transmit", daemon=True)
    worker.start()
    try:
        worker.join(1.0)
        assert worker.is_alive(), f"a mute card answered: {outcome}"
    finally:
        card.remove(wait=False)  # frees pcscd's reader thread
        worker.join(10)
    assert not worker.is_alive()
    assert len(outcome) == 1
    assert isinstance(outcome[0], CardConnectionException)


def test_a_slow_card_still_answers(plug: Plugger, terminal: Callable[[str], Terminal]) -> None:
    faults = Faults(slow_ms=300)
    card = plug(UserCard.from_file(EXAMPLES / "gen2.json"), 4, faults)
    t = terminal(card.reader)
    assert t.send(SELECT_SSSE) == (b"", 0x611B)
    assert t.ok("00C000001B") == Expected.load(2).fci


def test_a_corrupting_card_answers_something_else(
    plug: Plugger, terminal: Callable[[str], Terminal]
) -> None:
    card = plug(UserCard.from_file(EXAMPLES / "gen2.json"), 4)
    t = terminal(card.reader)
    card.faults.corrupt = "flip"
    data, sw = t.send(SELECT_SSSE)
    assert (data, sw) != (b"", 0x611B)
    assert sw == 0x9E1B
    card.faults.corrupt = "off"
    assert t.send(SELECT_SSSE) == (b"", 0x611B)


def test_a_wrong_atr_reaches_the_connection(
    plug: Plugger, terminal: Callable[[str], Terminal]
) -> None:
    user_card = UserCard.from_file(EXAMPLES / "gen2.json")
    card = plug(user_card, 5, Faults(wrong_atr=True))
    t = terminal(card.reader)
    assert t.atr == WRONG_ATR
    assert t.atr != user_card.atr


def test_after_a_pcscd_restart_the_card_comes_back_by_itself(
    pcsc_stack: PcscStack, plug: Plugger, terminal: Callable[[str], Terminal]
) -> None:
    if not pcsc_stack.pcscd.owned:
        pytest.skip(f"the pcscd (pid {pcsc_stack.pcscd.pid}) is not this suite's to restart")
    card: PluggedCard = plug(FloorCard(), 2)
    before = terminal(card.reader)
    before.ok("00A40000023F00")
    old_pid = pcsc_stack.pcscd.pid
    pcsc_stack.pcscd.restart()
    assert pcsc_stack.pcscd.pid != old_pid
    assert wait_card_present(card.reader, 10) == FLOOR_ATR
    with pytest.raises(CardConnectionException):
        before.send("00A40000023F00")  # that connection belonged to the old pcscd
    after = terminal(card.reader)
    after.ok("00A40000023F00")
    connections = card.slot.state()["connections"]
    assert isinstance(connections, int)
    assert connections >= 2  # it reconnected by itself
