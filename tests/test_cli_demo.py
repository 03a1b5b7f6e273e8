"""`cardsvc demo --once`: the README's main command, through the real stack and in-process."""

from __future__ import annotations

import subprocess
import sys

import pytest
from pcsc_harness import PcscStack

STEPS = (
    "basic read, generation 2 card: internal authentication verified by the PSAM",
    "basic read, generation 1 card: internal authentication verified by the PSAM",
    "basic read, generation 3 card: internal authentication verified by the PSAM",
    "a wrong PIN is refused: 5 tries left",
    "forged card: a card made with other keys is refused",
    "demo: all steps passed",
)
SECTION_8_EXAMPLE = (
    "370402|370402199001011238|A00000011|370402D1560000051A2B3C4D00000001|张三|"
    "0081534D97868437041A2B3C4D|2.00|20240101|20340101|370400000001|DEMO-0001|"
)


def _demo(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cardsvc.cli.main", "demo", "--once", *args],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )


def _check(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, result.stdout + result.stderr
    for step in STEPS:
        assert step in result.stdout
    assert SECTION_8_EXAMPLE in result.stdout
    assert "FAILED" not in result.stdout
    assert "Traceback" not in result.stderr


def test_demo_through_pcscd(pcsc_stack: PcscStack) -> None:
    # the suite's pcscd has the demo's readers (ports 35963 and 35965): the demo reuses it
    result = _demo()
    _check(result)
    assert "reusing the running pcscd" in result.stdout
    assert '"Virtual PCD 00 01": PSAM inserted' in result.stdout


def test_demo_in_process() -> None:
    result = _demo("--in-process")
    _check(result)
    assert "pcscd" not in result.stdout.split("\n")[0]


@pytest.mark.parametrize("flag", ["--bogus"])
def test_demo_bad_flag_is_a_usage_error(flag: str) -> None:
    result = _demo(flag)
    assert result.returncode == 2
    assert "unrecognized arguments" in result.stderr
