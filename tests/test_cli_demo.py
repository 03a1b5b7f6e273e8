"""`cardsvc demo --once`: the README's main command, through the real stack and in-process.

The demo seeds its own SQLite city, starts the API and runs the scripted counter
and kiosk sessions; these tests run it as a user does (a subprocess) and check
that every step of the story is printed and passed.
"""

from __future__ import annotations

import io
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from pcsc_harness import PcscStack

from cardsvc.demo import runner
from cardsvc.demo.errors import DemoError
from cardsvc.demo.output import Printer

CARD_STORY = (
    "basic read, generation 2 card: internal authentication verified by the PSAM",
    "basic read, generation 1 card: internal authentication verified by the PSAM",
    "basic read, generation 3 card: internal authentication verified by the PSAM",
    "a wrong PIN is refused: 5 tries left",
    "forged card: a card made with other keys is refused",
)
STATION_STEPS = (
    "counter station agent: http://127.0.0.1:",
    "kiosk station agent: http://127.0.0.1:",
)
COUNTER_STEPS = (
    "card in the counter's reader: ",
    "authenticated by the psam, served: True",
    "counter| ok: signed in as clerk.370402",
    *(f"counter| ok: {code} done" for code in ("E01", "E02", "E03", "E04", "E05")),
    *(f"counter| ok: {code} done" for code in ("B01", "B03", "B04", "R05", "C06")),
    "counter| ok: the new PIN was loaded on the card",
    "counter session: exit status 0",
    "hotlisted card: the station sent APPLICATION BLOCK; nothing is served",
    "un-lost card: the station sent APPLICATION UNBLOCK; the card is served again",
)
KIOSK_STEPS = (
    "card in the kiosk's reader: ",
    "authenticated by the key-service, served: True",
    "PIN 000000 at the kiosk: refused: wrong PIN: 5 tries left",
    "kiosk| ok: 密码正确 / PIN accepted",
    *(f"kiosk| ok: {code} done" for code in ("E01", "E05", "B01", "B02", "B03", "B04")),
    "kiosk session: exit status 0",
)
SECTION_8_EXAMPLE = (
    "370402|370402199001011238|A00000011|370402D1560000051A2B3C4D00000001|张三|"
    "0081534D97868437041A2B3C4D|2.00|20240101|20340101|370400000001|DEMO-0001|"
)


def _demo(*args: str, timeout: float = 150) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cardsvc.cli.main", "demo", "--once", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _check(result: subprocess.CompletedProcess[str]) -> None:
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    for step in (*CARD_STORY, *STATION_STEPS, *COUNTER_STEPS, *KIOSK_STEPS):
        assert step in out, f"missing {step!r} in:\n{out}"
    assert SECTION_8_EXAMPLE in out
    assert "demo: all steps passed" in out
    assert "FAILED" not in out
    assert "Traceback" not in result.stderr
    # the kiosk sees the masked ID number only; nothing prints a PIN
    kiosk_part = out.split("Scripted kiosk session")[1]
    assert "370404********" in kiosk_part
    assert "new_pin=******" in out
    assert "new_pin=123456" not in out


@pytest.mark.timeout(200)
def test_demo_through_pcscd(pcsc_stack: PcscStack) -> None:
    # the suite's pcscd has the demo's readers (ports 35963, 35965, 35967): the demo reuses it
    result = _demo()
    _check(result)
    assert "reusing the running pcscd" in result.stdout
    assert '"Virtual PCD 00 01": counter PSAM' in result.stdout
    assert "card reader 'Virtual PCD 1 00 00', no PSAM: key service)" in result.stdout


@pytest.mark.timeout(200)
def test_demo_in_process_keeps_its_workdir(tmp_path: Path) -> None:
    work = tmp_path / "demo"
    result = _demo("--in-process", "--workdir", str(work))
    _check(result)
    assert "pcscd" not in result.stdout.split("== Simulated readers")[1].split("\n")[1]
    # the kept database holds what the sessions did: the clerk's phone change and the
    # kiosk's certification are journaled, and the hotlisted card is recorded blocked
    with sqlite3.connect(work / "city.db") as db:
        items = {row[0] for row in db.execute("SELECT item FROM journal_entries")}
        blocked = db.execute(
            "SELECT count(*) FROM cards WHERE state = 'lost' AND application_blocked"
        ).fetchone()[0]
    assert {"R05", "B02", "C06"} <= items, items
    assert blocked >= 1
    roles = {p.name.split("-")[0] for p in (work / "cards").glob("*-gen*.json")}
    assert {"counter", "kiosk", "hotlisted", "unlost"} <= roles


def test_demo_refuses_a_used_workdir(tmp_path: Path) -> None:
    (tmp_path / "city.db").write_bytes(b"")
    result = _demo("--in-process", "--workdir", str(tmp_path), timeout=60)
    assert result.returncode == 1
    assert "holds a database of an earlier demo" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("flag", ["--bogus"])
def test_demo_bad_flag_is_a_usage_error(flag: str) -> None:
    result = _demo(flag, timeout=60)
    assert result.returncode == 2
    assert "unrecognized arguments" in result.stderr


@pytest.mark.timeout(200)
def test_demo_without_station_agents_drives_the_card_sessions_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_agents(*args: object, **kwargs: object) -> None:
        raise DemoError("no station agent here (test)")

    monkeypatch.setattr(runner, "open_stations", no_agents)
    out = io.StringIO()
    status = runner.run_demo(
        runner.DemoOptions(once=True, in_process=True, workdir=tmp_path / "demo"), Printer(out)
    )
    text = out.getvalue()
    assert status == 0, text
    assert "station agents: cannot start them: no station agent here (test)" in text
    for step in (
        "card session with the API (the card proves itself): card ",
        "C06 PIN reload with the card present (ID checked): RELOAD PIN sent to the card",
        "hotlisted card: card refused, nothing served",
        "sent APPLICATION BLOCK to the card",
        "sent APPLICATION UNBLOCK to the card",
        "PIN 000000: wrong PIN: 5 tries left",
        "B02 pension qualification certification: certified on ",
        "demo: all steps passed",
    ):
        assert step in text, f"missing {step!r} in:\n{text}"
