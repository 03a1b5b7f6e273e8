"""The card session and the reader CLI through the real PC/SC stack (pcscd + vpcd + simulators).

Uses the harness fixtures (tests/pcsc_harness.py): the cardholder's card in
slot 0, the PSAM in slot 1 (the two slots of one vpcd entry, like a dual-slot
terminal). Every wait is bounded: the backend's timeout is TIMEOUT seconds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from card_helpers import CountingConnection, user_card
from pcsc_harness import PcscStack, Plugger, wait_card_absent, wait_card_present

from cardsvc.card import PsamSecurityModule, SscSession
from cardsvc.card.session import BASIC_READ_APDUS
from reader_driver import CardChannel, CardRemoved, PcscBackend, ReaderTimeout
from reader_driver.watchdog import in_bounded_region
from simulators.faults import Faults
from simulators.psam import Psam

TIMEOUT = 2.0
USER_SLOT = 0
PSAM_SLOT = 1
ROOT = Path(__file__).resolve().parents[2]
SECTION_8 = (
    "370402|370402199001011238|A00000011|370402D1560000051A2B3C4D00000001|张三|"
    "0081534D97868437041A2B3C4D|2.00|20240101|20340101|370400000001|DEV-9|"
)


@pytest.fixture
def backend() -> Iterator[PcscBackend]:
    b = PcscBackend(timeout=TIMEOUT)
    yield b
    b.close()


@pytest.fixture
def psam(plug: Plugger, backend: PcscBackend) -> Iterator[PsamSecurityModule]:
    plugged = plug(Psam.demo(), PSAM_SLOT)
    connection = backend.connect(plugged.reader)
    try:
        yield PsamSecurityModule.open(CardChannel(connection))
    finally:
        connection.disconnect()


@pytest.mark.parametrize("generation", [1, 2, 3])
def test_basic_read_with_the_psam_in_a_second_slot(
    plug: Plugger, backend: PcscBackend, psam: PsamSecurityModule, generation: int
) -> None:
    plugged = plug(user_card(generation), USER_SLOT)
    caller = threading.current_thread()
    seen: list[tuple[bool, bool]] = []
    with backend.connect(plugged.reader) as raw:
        assert raw._handles.watchdog.interruptible  # its socket to pcscd was found
        counter = CountingConnection(
            raw,
            lambda _sent: seen.append((threading.current_thread() is caller, in_bounded_region())),
        )
        result = SscSession(CardChannel(counter), psam).basic_read()
    # no watchdog hand-off at all: every command ran on the caller's thread, no region
    # (each PC/SC call bounded by the watchdog's monitor; tests/reader/test_pcsc_region.py)
    assert seen
    assert set(seen) == {(True, False)}
    assert result.generation == generation
    assert result.card_number == {1: "B12345671", 2: "A00000011", 3: "A00000038"}[generation]
    assert counter.count == BASIC_READ_APDUS[(generation, "T=0")]
    assert psam.terminal_number == "370400000001"


def test_a_mute_card_times_out_in_the_reader_layer(
    plug: Plugger, backend: PcscBackend, psam: PsamSecurityModule
) -> None:
    plugged = plug(user_card(2), USER_SLOT, faults=Faults(mute=True))
    connection = backend.connect(plugged.reader)
    try:
        with pytest.raises(ReaderTimeout) as caught:
            SscSession(CardChannel(connection), psam).basic_read()
        assert caught.value.timeout == TIMEOUT
    finally:
        connection.disconnect()
        plugged.remove()  # frees pcscd's reader thread (vpcd has no timeout of its own)


@pytest.mark.parametrize("pull_at", [0, 3, 5])
def test_card_pulled_mid_command_then_the_next_card_works(
    plug: Plugger, backend: PcscBackend, psam: PsamSecurityModule, pull_at: int
) -> None:
    plugged = plug(user_card(3), USER_SLOT)

    def arm(sent: int) -> None:
        if sent == pull_at:
            plugged.faults.remove_mid_command = True

    with backend.connect(plugged.reader) as raw:
        session = SscSession(CardChannel(CountingConnection(raw, arm)), psam)
        with pytest.raises(CardRemoved):
            session.basic_read()
    assert plugged.faults.removed
    wait_card_absent(plugged.reader)  # pcscd notices on its next presence poll
    plugged.slot.insert(user_card(2))  # the next card, same reader, same backend
    wait_card_present(plugged.reader)
    with backend.connect(plugged.reader) as raw:
        assert SscSession(CardChannel(raw), psam).basic_read().card_number == "A00000011"


def cli(*argv: str) -> subprocess.CompletedProcess[bytes]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [sys.executable, "-m", "cardsvc.cli.main", *argv],
        capture_output=True,
        timeout=60,
        check=False,
        cwd=ROOT,
        env=env,
    )


def test_cli_read_pipe_and_json(plug: Plugger, pcsc_stack: PcscStack) -> None:
    user = plug(user_card(2), USER_SLOT)
    sam = plug(Psam.demo(), PSAM_SLOT)
    readers = ("--reader", user.reader, "--sam-reader", sam.reader)
    done = cli("read", *readers, "--format", "pipe", "--device-serial", "DEV-9")
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout == SECTION_8.encode("gbk")

    done = cli("read", *readers, "--format", "json")
    assert done.returncode == 0, done.stderr.decode()
    data = json.loads(done.stdout.decode("utf-8"))
    assert data["ssn"] == "370402********1238"
    assert data["name"] == "张三"
    assert data["terminal_number"] == "370400000001"


def test_cli_read_failure_prints_the_code(plug: Plugger, pcsc_stack: PcscStack) -> None:
    sam = plug(Psam.demo(), PSAM_SLOT)
    empty = pcsc_stack.slots[USER_SLOT].reader
    done = cli("read", "--reader", empty, "--sam-reader", sam.reader, "--format", "pipe")
    assert done.returncode == 1
    assert done.stdout == b"-2"
    err = done.stderr.decode()
    assert "insert the social security card" in err
    assert "Traceback" not in err
