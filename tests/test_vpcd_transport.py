"""The vpcd transport against an in-process fake vpcd: protocol, faults, reconnection, garbage."""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterator

import pytest
from fake_vpcd import GET_ATR, POWER_OFF, POWER_ON, RESET, FakeVpcd, wait_until

from simulators import vpcd
from simulators.faults import WRONG_ATR, Corruption, FaultError, Faults, corrupt_response
from simulators.floor import FLOOR_ATR, FloorCard
from simulators.vpcd import VpcdAddressError, VpcdSlot, parse_vpcd_address

SELECT = bytes.fromhex("00A404000F7378312E73682EC9E7BBE1B1A3D5CF")
VERIFY = bytes.fromhex("0020000003123456")


class RecordingCard:
    """A card that answers `DATA || 9000` and records power events."""

    def __init__(self, atr: bytes = bytes.fromhex("3B6D00000081534D978684370402030405")) -> None:
        self._atr = atr
        self.events: list[str] = []
        self.commands: list[bytes] = []

    @property
    def atr(self) -> bytes:
        return self._atr

    def power_on(self) -> bytes:
        self.events.append("on")
        return self._atr

    def power_off(self) -> None:
        self.events.append("off")

    def reset(self) -> bytes:
        self.events.append("reset")
        return self._atr

    def transmit(self, apdu: bytes) -> bytes:
        self.commands.append(apdu)
        return b"\x11\x22\x33\x90\x00"

    def state(self) -> dict[str, object]:
        return {"kind": "recording", "commands": len(self.commands)}


class BrokenCard(RecordingCard):
    def transmit(self, apdu: bytes) -> bytes:
        raise RuntimeError("card bug")


def slot_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("vpcd-slot")]


@pytest.fixture
def fake() -> Iterator[FakeVpcd]:
    with FakeVpcd() as server:
        yield server


@pytest.fixture
def card() -> RecordingCard:
    return RecordingCard()


@pytest.fixture
def slot(fake: FakeVpcd, card: RecordingCard) -> Iterator[VpcdSlot]:
    s = VpcdSlot(card, port=fake.port, name="test")
    s.start()
    fake.accept()
    assert wait_until(lambda: s.connected)
    yield s
    s.stop()
    assert not s.running


# --- protocol ---------------------------------------------------------------


def test_power_on_atr_and_apdu_exchange(
    fake: FakeVpcd, slot: VpcdSlot, card: RecordingCard
) -> None:
    fake.control(POWER_ON)
    assert fake.atr() == card.atr
    assert fake.transmit(SELECT) == b"\x11\x22\x33\x90\x00"
    fake.control(RESET)
    fake.control(POWER_OFF)
    assert fake.atr() == card.atr  # vpcd polls presence with GET ATR, powered or not
    assert card.commands == [SELECT]
    assert card.events == ["on", "reset", "off"]
    state = slot.state()
    assert state["connected"] is True
    assert state["inserted"] is True
    assert state["apdus"] == 1
    assert state["card"] == {"kind": "recording", "commands": 1}


def test_floor_card_answers_9000_to_everything(fake: FakeVpcd) -> None:
    floor = FloorCard()
    s = VpcdSlot(floor, port=fake.port)
    s.start()
    try:
        fake.accept()
        fake.control(POWER_ON)
        assert fake.atr() == FLOOR_ATR
        for apdu in (SELECT, b"\x00\xb0", b"\x80\xca\x9f\x7f\x00" + bytes(250)):
            assert fake.transmit(apdu) == b"\x90\x00"
        assert floor.state()["commands"] == 3
    finally:
        s.stop()


def test_quickack_before_every_recv_and_nodelay(
    fake: FakeVpcd, card: RecordingCard, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[str] = []
    real_quickack = vpcd._quickack
    real_recv = socket.socket.recv

    def in_slot_thread() -> bool:
        return threading.current_thread().name.startswith("vpcd-slot")

    def quickack_spy(sock: socket.socket) -> None:
        if in_slot_thread():
            events.append("quickack")
        real_quickack(sock)

    def recv_spy(sock: socket.socket, size: int, *args: int) -> bytes:
        if in_slot_thread():
            events.append("recv")
        return real_recv(sock, size, *args)

    monkeypatch.setattr(vpcd, "_quickack", quickack_spy)
    monkeypatch.setattr(socket.socket, "recv", recv_spy)
    s = VpcdSlot(card, port=fake.port)
    s.start()
    try:
        fake.accept()
        for _ in range(5):
            assert fake.transmit(SELECT).endswith(b"\x90\x00")
        assert s._sock is not None
        assert s._sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    finally:
        s.stop()
    recvs = [i for i, e in enumerate(events) if e == "recv"]
    assert len(recvs) >= 10  # each frame: length, then payload
    assert all(i > 0 and events[i - 1] == "quickack" for i in recvs)


def test_apdu_trace_masks_pin(
    fake: FakeVpcd, slot: VpcdSlot, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(vpcd.TRACE, logger="simulators.vpcd"):
        fake.transmit(VERIFY)
        fake.transmit(SELECT)
    lines = [r.getMessage() for r in caplog.records if r.levelno == vpcd.TRACE]
    assert len(lines) == 2
    assert "123456" not in lines[0]
    assert "0020000003******" in lines[0]
    assert SELECT.hex().upper() in lines[1]


def test_trace_is_silent_above_trace_level(
    fake: FakeVpcd, slot: VpcdSlot, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="simulators.vpcd"):
        fake.transmit(SELECT)
    assert not [r for r in caplog.records if r.levelno == vpcd.TRACE]


def test_broken_card_answers_6f00_and_stays_connected(fake: FakeVpcd) -> None:
    s = VpcdSlot(BrokenCard(), port=fake.port)
    s.start()
    try:
        fake.accept()
        assert fake.transmit(SELECT) == b"\x6f\x00"
        assert fake.atr()  # still there
    finally:
        s.stop()


# --- faults -------------------------------------------------------------------


def test_remove_and_insert(fake: FakeVpcd, slot: VpcdSlot, card: RecordingCard) -> None:
    fake.control(POWER_ON)
    slot.remove()
    assert fake.expect_closed()
    assert wait_until(lambda: not slot.connected)
    assert slot.state()["inserted"] is False
    assert card.events[-1] == "off"  # a card out of the reader loses power
    assert fake.expect_no_connection(0.3)
    slot.insert()
    fake.accept()
    assert fake.atr() == card.atr
    assert slot.state()["connections"] == 2


def test_removed_switch_on_faults_object_pulls_the_card(fake: FakeVpcd, slot: VpcdSlot) -> None:
    slot.faults.removed = True
    assert fake.expect_closed()
    slot.faults.removed = False
    fake.accept()
    assert fake.transmit(SELECT).endswith(b"\x90\x00")


def test_remove_mid_command(fake: FakeVpcd, slot: VpcdSlot, card: RecordingCard) -> None:
    assert fake.transmit(SELECT).endswith(b"\x90\x00")
    slot.faults.remove_mid_command = True
    fake.send(SELECT)
    assert fake.expect_closed()  # read, then pulled without an answer
    assert len(card.commands) == 1  # the card never saw it
    faults = slot.faults.snapshot()
    assert faults.removed is True
    assert faults.remove_mid_command is False  # one shot
    assert fake.expect_no_connection(0.3)
    slot.insert()
    fake.accept()
    assert fake.transmit(SELECT).endswith(b"\x90\x00")


def test_remove_mid_command_off_again(fake: FakeVpcd, slot: VpcdSlot) -> None:
    slot.faults.remove_mid_command = True
    slot.faults.remove_mid_command = False
    assert fake.transmit(SELECT).endswith(b"\x90\x00")


def test_mute_on_and_off(fake: FakeVpcd, slot: VpcdSlot, card: RecordingCard) -> None:
    slot.faults.mute = True
    fake.send(SELECT)
    assert fake.expect_silence(0.3)
    assert card.commands == []  # read, never answered
    assert fake.atr() == card.atr  # control bytes still answered: the card stays present
    slot.faults.mute = False
    assert fake.transmit(SELECT) == b"\x11\x22\x33\x90\x00"


def test_slow_on_and_off(fake: FakeVpcd, slot: VpcdSlot) -> None:
    slot.faults.slow_ms = 1500
    fake.send(SELECT)
    assert fake.expect_silence(0.2)  # not yet
    assert fake.recv() == b"\x11\x22\x33\x90\x00"  # but it comes
    slot.faults.slow_ms = 0
    assert fake.transmit(SELECT) == b"\x11\x22\x33\x90\x00"


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("flip", b"\xee\x22\x33\x90\x00"),
        ("sw", b"\x11\x22\x33\x6f\x00"),
        ("off", b"\x11\x22\x33\x90\x00"),
    ],
)
def test_corrupt(fake: FakeVpcd, slot: VpcdSlot, mode: str, expected: bytes) -> None:
    slot.faults.corrupt = mode
    assert fake.transmit(SELECT) == expected
    slot.faults.corrupt = Corruption.OFF
    assert fake.transmit(SELECT) == b"\x11\x22\x33\x90\x00"


def test_corrupt_response_edge_cases() -> None:
    assert corrupt_response(b"\x90\x00", Corruption.FLIP) == b"\x6f\x00"
    assert corrupt_response(b"\x6f\x00", Corruption.SW) == b"\x6d\x00"
    assert corrupt_response(b"", Corruption.SW) == b""


def test_wrong_atr_on_and_off(fake: FakeVpcd, slot: VpcdSlot, card: RecordingCard) -> None:
    slot.faults.wrong_atr = True
    assert fake.atr() == WRONG_ATR != card.atr
    slot.faults.wrong_atr = False
    assert fake.atr() == card.atr


def test_faults_validate_and_snapshot() -> None:
    faults = Faults(mute=True, slow_ms=5)
    assert faults.state() == {
        "removed": False,
        "remove_mid_command": False,
        "mute": True,
        "slow_ms": 5,
        "corrupt": "off",
        "wrong_atr": False,
    }
    with pytest.raises(FaultError) as bad:
        faults.update({"mute": True, "slow_ms": -1})
    assert bad.value.field == "slow_ms"
    assert faults.mute is True
    assert faults.slow_ms == 5  # all or nothing
    for changes, field in (
        ({"mute": "yes"}, "mute"),
        ({"slow_ms": True}, "slow_ms"),
        ({"corrupt": "bits"}, "corrupt"),
        ({"jam": True}, "jam"),
    ):
        with pytest.raises(FaultError) as err:
            faults.update(changes)
        assert err.value.field == field
    faults.corrupt = "SW"
    assert faults.corrupt is Corruption.SW
    faults.clear()
    assert faults.snapshot().mute is False


# --- reconnection and garbage ---------------------------------------------------


def test_reconnects_after_vpcd_goes_away_and_comes_back(
    fake: FakeVpcd, slot: VpcdSlot, card: RecordingCard
) -> None:
    fake.close()  # pcscd stops: listening socket and connection gone
    assert wait_until(lambda: not slot.connected)
    assert slot.state()["inserted"] is True  # the card is still in; vpcd is just not there
    fake.listen()  # pcscd restarts on the same port
    fake.accept()
    fake.control(POWER_ON)
    assert fake.atr() == card.atr
    assert fake.transmit(SELECT).endswith(b"\x90\x00")
    assert slot.state()["connections"] == 2


def test_reconnects_after_vpcd_drops_the_connection(fake: FakeVpcd, slot: VpcdSlot) -> None:
    fake.drop_client()
    fake.accept()
    assert fake.transmit(SELECT).endswith(b"\x90\x00")


def test_no_vpcd_at_start_then_it_appears(card: RecordingCard) -> None:
    with FakeVpcd() as probe:
        port = probe.port
    s = VpcdSlot(card, port=port)  # nothing listens there yet
    s.start()
    try:
        assert not wait_until(lambda: s.connected, timeout=0.3)
        with FakeVpcd(port) as server:
            server.accept()
            assert server.atr() == card.atr
    finally:
        s.stop()
    assert not slot_threads()


def test_garbage_frames_are_survived(fake: FakeVpcd, slot: VpcdSlot, card: RecordingCard) -> None:
    fake.send(b"")  # length 0
    fake.control(0x07)  # unknown control byte
    fake.control(0xFF)
    fake.send(b"\x00\xa4")  # too short for an APDU: the card decides (here: answers)
    assert fake.recv() == b"\x11\x22\x33\x90\x00"
    assert fake.atr() == card.atr
    assert fake.transmit(SELECT).endswith(b"\x90\x00")
    assert slot.state()["connections"] == 1


def test_truncated_frame_then_reconnect(fake: FakeVpcd, slot: VpcdSlot) -> None:
    fake.send_raw(b"\x00\x10\x00\xa4\x04")  # says 16 bytes, sends 3, hangs up
    fake.drop_client()
    fake.accept()
    assert fake.transmit(SELECT).endswith(b"\x90\x00")
    assert slot.state()["connections"] == 2


def test_split_length_and_payload_writes(fake: FakeVpcd, slot: VpcdSlot) -> None:
    frame = len(SELECT).to_bytes(2, "big") + SELECT
    for b in frame:  # one byte per write, as a slow vpcd might
        fake.send_raw(bytes((b,)))
    assert fake.recv().endswith(b"\x90\x00")


def test_swap_reconnects_with_the_new_card(fake: FakeVpcd, slot: VpcdSlot) -> None:
    floor = FloorCard()
    slot.swap(floor)
    assert fake.expect_closed()
    fake.accept()
    assert fake.atr() == FLOOR_ATR
    assert fake.transmit(SELECT) == b"\x90\x00"
    assert slot.card is floor


def test_insert_with_another_card_is_a_swap(fake: FakeVpcd, slot: VpcdSlot) -> None:
    floor = FloorCard()
    slot.insert(floor)
    assert fake.expect_closed()
    fake.accept()
    assert fake.atr() == FLOOR_ATR


def test_empty_slot_waits_for_a_card(fake: FakeVpcd) -> None:
    s = VpcdSlot(None, port=fake.port)
    s.start()
    try:
        assert fake.expect_no_connection(0.3)
        assert s.state()["inserted"] is False
        assert s.state()["card"] is None
        s.insert(FloorCard())
        fake.accept()
        assert fake.atr() == FLOOR_ATR
    finally:
        s.stop()


# --- stopping -------------------------------------------------------------------


@pytest.mark.parametrize("situation", ["connected", "muted", "slow", "removed", "no-vpcd"])
def test_stop_leaves_no_thread_and_closes_the_socket(
    fake: FakeVpcd, card: RecordingCard, situation: str
) -> None:
    s = VpcdSlot(card, port=fake.port)
    s.start()
    fake.accept()
    if situation == "muted":
        s.faults.mute = True
        fake.send(SELECT)
    elif situation == "slow":
        s.faults.slow_ms = 60_000
        fake.send(SELECT)
    elif situation == "removed":
        s.remove()
    elif situation == "no-vpcd":
        fake.close()
    assert wait_until(lambda: s.running)
    s.stop()
    assert not s.running
    assert not slot_threads()
    assert not s.connected
    if situation in ("connected", "muted", "slow"):
        assert fake.expect_closed()


def test_stop_twice_and_restart(fake: FakeVpcd, card: RecordingCard) -> None:
    s = VpcdSlot(card, port=fake.port)
    s.start()
    s.start()  # once
    fake.accept()
    s.stop()
    s.stop()
    assert not slot_threads()
    s.start()
    fake.accept()
    assert fake.atr() == card.atr
    s.stop()
    assert not slot_threads()


# --- addresses ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:35963", ("127.0.0.1", 35963)),
        ("localhost:1", ("localhost", 1)),
        ("[::1]:36963", ("::1", 36963)),
        (" 10.0.0.2:65535 ", ("10.0.0.2", 65535)),
    ],
)
def test_parse_vpcd_address(text: str, expected: tuple[str, int]) -> None:
    assert parse_vpcd_address(text) == expected


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ("35963", "HOST:PORT"),
        (":35963", "HOST:PORT"),
        ("host:", "not a number"),
        ("host:abc", "not a number"),
        ("host:0", "1..65535"),
        ("host:70000", "1..65535"),
        ("[]:35963", "empty"),
    ],
)
def test_parse_vpcd_address_rejects(text: str, hint: str) -> None:
    with pytest.raises(VpcdAddressError) as err:
        parse_vpcd_address(text)
    assert hint in str(err.value)
    assert text in str(err.value)


def test_control_bytes_constants_match_the_fake() -> None:
    assert (vpcd.CTRL_POWER_OFF, vpcd.CTRL_POWER_ON, vpcd.CTRL_RESET, vpcd.CTRL_ATR) == (
        POWER_OFF,
        POWER_ON,
        RESET,
        GET_ATR,
    )
