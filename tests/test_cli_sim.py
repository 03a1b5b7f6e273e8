"""`cardsvc sim`: examples, bad input, and a run against fake vpcd servers in a subprocess."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import pytest
from fake_vpcd import POWER_ON, FakeVpcd

from cardsvc.cli.main import main
from cardsvc.cli.sim import SlotKind, SlotPlan, load_card
from simulators.psam import Psam
from simulators.ssc_card import UserCard

SELECT_SSSE = bytes.fromhex("00A404000F7378312E73682EC9E7BBE1B1A3D5CF")
WAIT = 15.0


# --- --example ----------------------------------------------------------------------


@pytest.mark.parametrize("generation", [1, 2, 3])
def test_example_prints_a_valid_personalisation_file(
    generation: int, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main(["sim", "--example", "--generation", str(generation)]) == 0
    out = capsys.readouterr().out
    profile = json.loads(out)
    assert profile["generation"] == generation
    path = tmp_path / "card.json"
    path.write_text(out, encoding="utf-8")
    card = UserCard.from_file(path)  # the printed file makes a card
    assert card.atr.startswith(bytes.fromhex("3B6D0000"))


def test_example_defaults_to_generation_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sim", "--example"]) == 0
    assert json.loads(capsys.readouterr().out)["generation"] == 2


# --- bad input ------------------------------------------------------------------------


@pytest.fixture
def good_card(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    assert main(["sim", "--example", "--generation", "2"]) == 0
    path = tmp_path / "gen2.json"
    path.write_text(capsys.readouterr().out, encoding="utf-8")
    return path


def test_bad_card_file_names_file_and_field(
    good_card: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    profile = json.loads(good_card.read_text(encoding="utf-8"))
    profile["ssn"] = "12"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(profile), encoding="utf-8")
    assert main(["sim", "--card", str(bad), "--no-stdin"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err
    assert str(bad) in err
    assert "'ssn'" in err
    assert "Traceback" not in err


def test_bad_psam_file_names_file_and_field(
    good_card: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "psam.json"
    bad.write_text(json.dumps({"terminal_number": 5}), encoding="utf-8")
    assert main(["sim", "--card", str(good_card), "--psam", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert str(bad) in err
    assert "field" in err


@pytest.mark.parametrize(
    ("argv", "hint"),
    [
        (["sim", "--card", "/nonexistent/card.json"], "/nonexistent/card.json"),
        (["sim", "--card", "{good}", "--vpcd", "nowhere"], "HOST:PORT"),
        (["sim", "--card", "{good}", "--vpcd", "127.0.0.1:65535", "--psam"], "65535"),
        (["sim", "--card", "{good}", "--control-port", "70000"], "--control-port"),
        (["sim", "--floor", "-1"], "--floor"),
        (["sim"], "nothing to simulate"),
        (["sim", "--generation", "3"], "--example"),
    ],
)
def test_bad_arguments_exit_2(
    argv: list[str], hint: str, good_card: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [a.replace("{good}", str(good_card)) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert hint in err
    assert "Traceback" not in err


def test_shipped_psam_loads() -> None:
    card = load_card(SlotPlan(SlotKind.PSAM, "<shipped>"))
    assert isinstance(card, Psam)


# --- running against fake vpcd servers ----------------------------------------------------


@pytest.fixture
def two_vpcds() -> Iterator[tuple[FakeVpcd, FakeVpcd]]:
    """Fake vpcd servers on two consecutive free ports (slot 0 and slot 1)."""
    for _ in range(50):
        first = FakeVpcd()
        try:
            second = FakeVpcd(first.port + 1)
        except OSError:
            first.close()
            continue
        try:
            yield first, second
        finally:
            first.close()
            second.close()
        return
    pytest.fail("no two consecutive free ports")


class Sim:
    """`cardsvc sim` in a subprocess; stdout lines are collected by a thread."""

    def __init__(self, args: list[str]) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cardsvc.cli.main", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.err_lines: list[str] = []
        assert self.proc.stdout is not None
        assert self.proc.stderr is not None
        self._pumps = [
            threading.Thread(target=self._pump, args=(self.proc.stdout, self.lines.put)),
            threading.Thread(target=self._pump, args=(self.proc.stderr, self.err_lines.append)),
        ]
        for pump in self._pumps:
            pump.daemon = True
            pump.start()

    @staticmethod
    def _pump(stream: IO[str], sink: Callable[[str], None]) -> None:
        for line in stream:
            sink(line.rstrip("\n"))

    def wait_line(self, prefix: str) -> str:
        while True:
            try:
                line = self.lines.get(timeout=WAIT)
            except queue.Empty:
                pytest.fail(f"no line starting {prefix!r} from cardsvc sim")
            if line.startswith(prefix):
                return line

    def send(self, text: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text)
        self.proc.stdin.flush()

    def finish(self) -> tuple[int, str]:
        """Wait for the exit; returns the exit code and stderr."""
        try:
            code = self.proc.wait(timeout=WAIT)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail("cardsvc sim did not stop")
        for pump in self._pumps:
            pump.join(WAIT)
        return code, "\n".join(self.err_lines)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=WAIT)
        if self.proc.stdin is not None:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()


def control_url(line: str) -> str:
    # "control: http://127.0.0.1:PORT/slots  (...)"
    return line.split()[1]


def test_sim_serves_card_and_psam_then_quits(
    two_vpcds: tuple[FakeVpcd, FakeVpcd], good_card: Path
) -> None:
    card_vpcd, psam_vpcd = two_vpcds
    sim = Sim(
        ["-vvv", "sim", "--card", str(good_card), "--psam", "--vpcd", f"127.0.0.1:{card_vpcd.port}"]
    )
    try:
        slot0 = sim.wait_line("  slot 0:")
        assert '"Virtual PCD 00 00"' in slot0
        assert str(card_vpcd.port) in slot0
        assert '"Virtual PCD 00 01"' in sim.wait_line("  slot 1:")
        url = control_url(sim.wait_line("control:"))

        card_vpcd.accept()
        psam_vpcd.accept()
        card_vpcd.control(POWER_ON)
        assert card_vpcd.atr() == UserCard.from_file(good_card).atr
        response = card_vpcd.transmit(SELECT_SSSE)
        assert response[-2] in (0x61, 0x90)
        verify = bytes.fromhex("0020000003123456")
        assert len(card_vpcd.transmit(verify)) == 2
        psam_vpcd.control(POWER_ON)
        assert psam_vpcd.atr()[:1] == b"\x3b"

        with urllib.request.urlopen(url, timeout=5) as reply:
            slots = json.loads(reply.read())["slots"]
        assert [s["connected"] for s in slots] == [True, True]
        assert slots[0]["apdus"] == 2

        sim.send("fault 0 mute on\nlist\nquit\n")
        assert "faults: mute" in sim.wait_line("0  Virtual PCD 00 00")
        assert sim.wait_line("stopping") == "stopping"
        code, err = sim.finish()
    finally:
        sim.kill()
    assert code == 0
    assert card_vpcd.expect_closed()
    trace = [line for line in err.splitlines() if " TRACE " in line]
    assert any("00A404000F7378312E" in line for line in trace)
    assert any("0020000003******" in line for line in trace)
    assert "123456" not in err


def test_sim_stops_on_sigterm(two_vpcds: tuple[FakeVpcd, FakeVpcd]) -> None:
    vpcd, _ = two_vpcds
    sim = Sim(["sim", "--floor", "1", "--no-stdin", "--vpcd", f"127.0.0.1:{vpcd.port}"])
    try:
        assert "floor card" in sim.wait_line("  slot 0:")
        assert "Ctrl-C or SIGTERM" in sim.wait_line("stdin not read")
        vpcd.accept()
        assert vpcd.transmit(SELECT_SSSE) == b"\x90\x00"
        sim.proc.send_signal(signal.SIGTERM)
        code, _ = sim.finish()
    finally:
        sim.kill()
    assert code == 0
    assert vpcd.expect_closed()


def test_sim_keeps_running_when_stdin_closes(two_vpcds: tuple[FakeVpcd, FakeVpcd]) -> None:
    vpcd, _ = two_vpcds
    sim = Sim(["sim", "--floor", "1", "--vpcd", f"127.0.0.1:{vpcd.port}"])
    try:
        sim.wait_line("control:")
        assert sim.proc.stdin is not None
        sim.proc.stdin.close()
        vpcd.accept()
        assert vpcd.transmit(SELECT_SSSE) == b"\x90\x00"  # still serving after EOF
        sim.proc.send_signal(signal.SIGINT)
        code, _ = sim.finish()
    finally:
        sim.kill()
    assert code == 0
