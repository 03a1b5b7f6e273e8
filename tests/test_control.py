"""The simulator control channel: the command layer, the stdin line parser and the HTTP endpoint."""

from __future__ import annotations

import io
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from http import HTTPStatus

import pytest
from fake_vpcd import FakeVpcd, wait_until

from simulators.base import SimulatedCard
from simulators.control import (
    HELP,
    ControlError,
    ControlServer,
    SimulatorControl,
    reader_name,
    run_line,
    run_lines,
)
from simulators.errors import PersonalisationError
from simulators.faults import Corruption
from simulators.floor import FloorCard
from simulators.vpcd import VpcdSlot


class Loader:
    """Loads a FloorCard for 'good*' paths; raises like a real loader otherwise."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, str]] = []

    def __call__(self, slot: int, path: str) -> SimulatedCard:
        self.calls.append((slot, path))
        if path.startswith("good"):
            return FloorCard()
        if path.startswith("missing"):
            raise FileNotFoundError(2, "No such file or directory", path)
        raise PersonalisationError("holder.ssn", "must be 18 characters", source=path)


@pytest.fixture
def loader() -> Loader:
    return Loader()


@pytest.fixture
def quit_event() -> threading.Event:
    return threading.Event()


@pytest.fixture
def control(loader: Loader, quit_event: threading.Event) -> SimulatorControl:
    # slots that are never started: the command layer only flips their switches
    slots = [VpcdSlot(FloorCard(), port=40000 + k, name=f"slot {k}") for k in range(3)]
    return SimulatorControl(slots, loader, on_quit=quit_event.set)


# --- command layer ----------------------------------------------------------------


def test_reader_names() -> None:
    assert [reader_name(k) for k in range(5)] == [
        "Virtual PCD 00 00",
        "Virtual PCD 00 01",
        "Virtual PCD 1 00 00",
        "Virtual PCD 1 00 01",
        "Virtual PCD 2 00 00",
    ]


def test_list_and_state(control: SimulatorControl) -> None:
    slots = control.list_slots()
    assert [s["slot"] for s in slots] == [0, 1, 2]
    assert slots[1]["reader"] == "Virtual PCD 00 01"
    assert slots[1]["address"] == "127.0.0.1:40001"
    assert slots[0]["inserted"] is True
    assert slots[0]["connected"] is False
    card = slots[0]["card"]
    assert isinstance(card, dict)
    assert card["kind"] == "floor"
    assert control.state("2")["slot"] == 2


@pytest.mark.parametrize(
    ("number", "status"),
    [(3, HTTPStatus.NOT_FOUND), ("9", HTTPStatus.NOT_FOUND), ("x", 400), (True, 400), (None, 400)],
)
def test_bad_slot_numbers(control: SimulatorControl, number: object, status: int) -> None:
    with pytest.raises(ControlError) as err:
        control.state(number)
    assert err.value.field == "slot"
    assert err.value.status == status


def test_insert_and_remove(control: SimulatorControl) -> None:
    assert control.remove(1)["inserted"] is False
    assert control.slots[1].faults.removed is True
    assert control.insert(1)["inserted"] is True
    assert control.slots[1].faults.removed is False


def test_insert_into_an_empty_slot_says_to_swap(loader: Loader) -> None:
    control = SimulatorControl([VpcdSlot(None, port=40000)], loader)
    with pytest.raises(ControlError, match="swap"):
        control.insert(0)


def test_swap(control: SimulatorControl, loader: Loader) -> None:
    old = control.slots[2].card
    state = control.swap(2, "good.json")
    assert loader.calls == [(2, "good.json")]
    assert control.slots[2].card is not old
    assert state["inserted"] is True


@pytest.mark.parametrize(
    ("path", "field", "text"),
    [
        ("bad.json", "holder.ssn", "must be 18 characters"),
        ("missing.json", "card", "No such file"),
        ("", "card", "personalisation file"),
        (None, "card", "personalisation file"),
        (42, "card", "personalisation file"),
    ],
)
def test_swap_errors(control: SimulatorControl, path: object, field: str, text: str) -> None:
    old = control.slots[0].card
    with pytest.raises(ControlError) as err:
        control.swap(0, path)
    assert err.value.field == field
    assert text in str(err.value)
    assert control.slots[0].card is old


def test_set_faults(control: SimulatorControl) -> None:
    state = control.set_faults(
        0,
        {"mute": True, "slow_ms": 200, "corrupt": "flip", "remove_mid_command": True},
    )
    assert state["faults"] == {
        "removed": False,
        "remove_mid_command": True,
        "mute": True,
        "slow_ms": 200,
        "corrupt": "flip",
        "wrong_atr": False,
    }
    control.set_faults(0, {"mute": False, "corrupt": "off", "wrong_atr": True})
    faults = control.slots[0].faults.snapshot()
    assert (faults.mute, faults.corrupt, faults.wrong_atr) == (False, Corruption.OFF, True)
    assert control.slots[1].faults.snapshot().mute is False  # other slots untouched


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"mute": "yes"}, "mute"),
        ({"slow_ms": -5}, "slow_ms"),
        ({"slow_ms": "fast"}, "slow_ms"),
        ({"corrupt": "everything"}, "corrupt"),
        ({"jam": True}, "jam"),
        ({"removed": True}, "removed"),
        ([1, 2], None),
        ("mute", None),
    ],
)
def test_set_faults_errors(control: SimulatorControl, changes: object, field: str | None) -> None:
    with pytest.raises(ControlError) as err:
        control.set_faults(0, changes)
    assert err.value.field == field
    assert err.value.status == HTTPStatus.BAD_REQUEST
    assert control.slots[0].faults.snapshot().mute is False


# --- stdin line commands ------------------------------------------------------------


def test_help_lists_every_command(control: SimulatorControl) -> None:
    text = run_line(control, "help").text
    assert text == HELP
    for word in ("list", "state", "insert", "remove", "swap", "mid-remove", "mute", "slow"):
        assert word in text
    for word in ("corrupt", "wrong-atr", "quit"):
        assert word in text


def test_line_list_and_state(control: SimulatorControl) -> None:
    lines = run_line(control, "list").text.splitlines()
    assert len(lines) == 3
    assert "Virtual PCD 00 00" in lines[0]
    assert "floor" in lines[0]
    assert json.loads(run_line(control, "state 1").text)["slot"] == 1


def test_line_insert_remove_swap(control: SimulatorControl, loader: Loader) -> None:
    assert " out," in run_line(control, "remove 0").text
    assert control.slots[0].faults.removed is True
    assert " in," in run_line(control, "insert 0").text
    run_line(control, 'swap 1 "good card.json"')
    assert loader.calls == [(1, "good card.json")]


@pytest.mark.parametrize(
    ("line", "field", "value"),
    [
        ("fault 0 mute on", "mute", True),
        ("fault 0 mute off", "mute", False),
        ("fault 0 mid-remove on", "remove_mid_command", True),
        ("fault 0 slow 200", "slow_ms", 200),
        ("fault 0 slow off", "slow_ms", 0),
        ("fault 0 corrupt flip", "corrupt", "flip"),
        ("fault 0 corrupt sw", "corrupt", "sw"),
        ("fault 0 corrupt off", "corrupt", "off"),
        ("fault 0 wrong-atr on", "wrong_atr", True),
        ("FAULT 0 Mute ON", "mute", True),
    ],
)
def test_line_faults(control: SimulatorControl, line: str, field: str, value: object) -> None:
    result = run_line(control, line)
    assert not result.text.startswith("error")
    assert control.slots[0].faults.state()[field] == value


def test_line_fault_clear(control: SimulatorControl) -> None:
    run_line(control, "fault 0 mute on")
    run_line(control, "fault 0 slow 50")
    run_line(control, "fault 0 clear")
    assert control.slots[0].faults.snapshot().mute is False
    assert control.slots[0].faults.snapshot().slow_ms == 0


@pytest.mark.parametrize(
    ("line", "hint"),
    [
        ("frobnicate", "help"),
        ("state", "usage: state N"),
        ("state 7", "no slot 7"),
        ("state x", "number"),
        ("insert", "usage: insert N"),
        ("swap 0", "usage: swap N FILE"),
        ("swap 0 bad.json", "holder.ssn"),
        ("fault 0 mute", "usage: fault N NAME"),
        ("fault 0 mute maybe", "on or off"),
        ("fault 0 slow quick", "milliseconds"),
        ("fault 0 corrupt bits", "flip"),
        ("fault 0 jam on", "unknown fault"),
        ("fault 0 removed on", "insert 0 or remove 0"),
        ("fault 9 mute on", "no slot 9"),
        ('swap 0 "unclosed', "help"),
        ("list 3", "usage: list"),
    ],
)
def test_line_errors_are_one_line_with_a_fix(
    control: SimulatorControl, line: str, hint: str
) -> None:
    result = run_line(control, line)
    assert result.text.startswith("error: ")
    assert "\n" not in result.text
    assert hint in result.text
    assert "Traceback" not in result.text
    assert result.quit is False


def test_blank_line_does_nothing(control: SimulatorControl) -> None:
    assert run_line(control, "   ").text == ""


def test_quit(control: SimulatorControl, quit_event: threading.Event) -> None:
    result = run_line(control, "quit")
    assert result.quit is True
    assert quit_event.is_set()


def test_run_lines_until_quit(control: SimulatorControl, quit_event: threading.Event) -> None:
    out = io.StringIO()
    assert run_lines(control, ["fault 1 mute on\n", "quit\n", "remove 1\n"], out) is True
    assert control.slots[1].faults.mute is True
    assert control.slots[1].faults.removed is False  # after quit: not read
    assert quit_event.is_set()
    assert "stopping" in out.getvalue()


def test_run_lines_until_eof(control: SimulatorControl, quit_event: threading.Event) -> None:
    out = io.StringIO()
    assert run_lines(control, ["bogus\n"], out) is False
    assert "unknown command" in out.getvalue()
    assert not quit_event.is_set()


# --- HTTP endpoint -------------------------------------------------------------------


@pytest.fixture
def server(control: SimulatorControl) -> Iterator[ControlServer]:
    srv = ControlServer(control, 0)
    srv.start()
    yield srv
    srv.stop()


def call(
    server: ControlServer, method: str, path: str, body: bytes | None = None
) -> tuple[int, object]:
    request = urllib.request.Request(server.url + path, data=body, method=method)
    if body is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        with err:
            return err.code, json.loads(err.read())


def post(server: ControlServer, path: str, payload: object = None) -> tuple[int, object]:
    return call(server, "POST", path, b"" if payload is None else json.dumps(payload).encode())


def test_http_binds_to_loopback_on_a_free_port(server: ControlServer) -> None:
    assert server.port > 0
    assert server.url == f"http://127.0.0.1:{server.port}"


def test_http_get_slots(server: ControlServer) -> None:
    status, body = call(server, "GET", "/slots")
    assert status == 200
    assert isinstance(body, dict)
    assert [s["slot"] for s in body["slots"]] == [0, 1, 2]
    status, one = call(server, "GET", "/slots/1")
    assert status == 200
    assert isinstance(one, dict)
    assert one["reader"] == "Virtual PCD 00 01"


def test_http_insert_remove(server: ControlServer, control: SimulatorControl) -> None:
    status, body = post(server, "/slots/0/remove")
    assert status == 200
    assert isinstance(body, dict)
    assert body["inserted"] is False
    assert control.slots[0].faults.removed is True
    status, body = post(server, "/slots/0/insert")
    assert status == 200
    assert control.slots[0].faults.removed is False


def test_http_swap(server: ControlServer, loader: Loader) -> None:
    status, _ = post(server, "/slots/2/swap", {"card": "good.json"})
    assert status == 200
    assert loader.calls == [(2, "good.json")]
    status, body = post(server, "/slots/2/swap", {"card": "bad.json"})
    assert (status, body) == (
        400,
        {
            "error": "bad.json: field 'holder.ssn': must be 18 characters",
            "field": "holder.ssn",
        },
    )
    status, body = post(server, "/slots/2/swap", {})
    assert status == 400
    assert isinstance(body, dict)
    assert body["field"] == "card"


def test_http_faults(server: ControlServer, control: SimulatorControl) -> None:
    payload = {
        "mute": True,
        "slow_ms": 200,
        "corrupt": "flip",
        "remove_mid_command": True,
        "wrong_atr": False,
    }
    status, body = post(server, "/slots/1/faults", payload)
    assert status == 200
    assert isinstance(body, dict)
    assert body["faults"] == {**payload, "removed": False}
    assert control.slots[1].faults.snapshot().corrupt is Corruption.FLIP


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "field"),
    [
        ("POST", "/slots/0/faults", b"{not json", 400, None),
        ("POST", "/slots/0/faults", b"\xff\xfe", 400, None),
        ("POST", "/slots/0/faults", b"[1]", 400, None),
        ("POST", "/slots/0/faults", b'{"slow_ms": "x"}', 400, "slow_ms"),
        ("POST", "/slots/0/faults", b'{"removed": true}', 400, "removed"),
        ("POST", "/slots/0/swap", b'"x.json"', 400, "card"),
        ("POST", "/slots/9/insert", b"", 404, "slot"),
        ("POST", "/slots/abc/insert", b"", 400, "slot"),
        ("GET", "/slots/9", None, 404, "slot"),
        ("GET", "/nothing", None, 404, None),
        ("GET", "/", None, 404, None),
        ("POST", "/slots/0/explode", b"", 404, None),
        ("GET", "/slots/0/insert", None, 405, None),
        ("POST", "/slots", b"", 405, None),
        ("DELETE", "/slots/0", None, 405, None),
    ],
)
def test_http_errors_are_json(
    server: ControlServer,
    method: str,
    path: str,
    body: bytes | None,
    status: int,
    field: str | None,
) -> None:
    got_status, got = call(server, method, path, body)
    assert got_status == status
    assert isinstance(got, dict)
    assert set(got) == {"error", "field"}
    assert got["field"] == field
    assert "Traceback" not in got["error"]


def test_http_stop_leaves_no_thread(control: SimulatorControl) -> None:
    srv = ControlServer(control, 0)
    srv.start()
    url = srv.url
    srv.stop()
    assert not [t for t in threading.enumerate() if t.name == "sim-control-http"]
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url + "/slots", timeout=2)


def test_http_remove_pulls_a_live_card() -> None:
    with FakeVpcd() as fake:
        slot = VpcdSlot(FloorCard(), port=fake.port)
        control = SimulatorControl([slot])
        srv = ControlServer(control, 0)
        srv.start()
        slot.start()
        try:
            fake.accept()
            assert wait_until(lambda: slot.connected)
            status, _ = post(srv, "/slots/0/remove")
            assert status == 200
            assert fake.expect_closed()
            status, _ = post(srv, "/slots/0/insert")
            assert status == 200
            fake.accept()
            assert fake.transmit(b"\x00\xa4\x04\x00") == b"\x90\x00"
        finally:
            slot.stop()
            srv.stop()
