"""The programs themselves: `cardsvc counter --script` and `cardsvc kiosk --script` against
the stations' agents, the API and the database (SQLite and PostgreSQL).

A clerk's session with a resident's card and a kiosk session with another's, each as
a subprocess exactly as a tester runs it; the exit status is 0 only when every
command did what it was asked, and the journal shows every item.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime
from pathlib import Path

from e2e_harness import COUNTER_SLOT, E2E, KIOSK_SLOT, PIN, at_reader, sim_state

from cardsvc.demo.city import CLERK, KIOSK_DEVICE
from cardsvc.services.context import CITY_TIMEZONE


def _run(args: list[str], script: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "session.script"
    path.write_text(script, encoding="utf-8")
    return subprocess.run(
        [sys.executable, "-m", "cardsvc.cli.main", *args, "--script", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"NO_COLOR": "1", "PATH": "/usr/bin:/bin"},
    )


def _secret(tmp_path: Path, name: str, value: str) -> Path:
    path = tmp_path / name
    path.write_text(value + "\n", encoding="utf-8")
    return path


def test_a_clerks_session_with_the_counter_program(desk: E2E, tmp_path: Path) -> None:
    resident = desk.resident("employed")
    at_reader(desk, COUNTER_SLOT, resident.card(), resident.card_number)
    today = datetime.now(CITY_TIMEZONE).date().isoformat()  # the service's business day
    script = "\n".join(
        (
            "wait 20",
            "E01",
            "E02 limit=3",
            "E03",
            "E04 limit=3",
            "E05",
            "B01",
            "B03",
            "B04",
            f"R02 able=y willing=y ended={today}",
            f"R01 employer={desk.employer_code()} start={today} contract=fixed_term",
            "R05 phone=13905320009",
            f"C06 id_checked=y new_pin={PIN}",
            "end",
            "quit",
            "",
        )
    )
    password = _secret(tmp_path, "password", desk.city.password)
    result = _run(
        ["counter", "--api", desk.api.url, "--agent", desk.counter.url,
         "--operator", CLERK, "--password-file", str(password)],
        script,
        tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert PIN not in result.stdout
    items = {i for i, o in desk.journal(person_id=resident.person_id) if o == "ok"}
    expected = {"E01", "E02", "E03", "E04", "E05", "B01", "B03", "B04", "R01", "R02", "R05"}
    assert expected <= items, items
    assert ("C06", "ok") in desk.journal(card_number=resident.card_number)


def test_a_residents_session_with_the_kiosk_program(desk: E2E, tmp_path: Path) -> None:
    resident = desk.resident("pensioner")
    card = resident.card()
    at_reader(desk, KIOSK_SLOT, card, resident.card_number)
    script = "\n".join(
        (
            f"pin {PIN}",
            "E01",
            "E02",
            "E03",
            "E04",
            "E05",
            "B01",
            "B02",
            "B03",
            "B04",
            "R05 phone=13905320010",
            f"C05 old_pin={PIN} new_pin=135790",
            "end",
            "",
        )
    )
    credential = _secret(tmp_path, "credential", desk.city.device_secret)
    result = _run(
        ["kiosk", "--api", desk.api.url, "--agent", desk.kiosk.url,
         "--device", str(desk.city.device_id(KIOSK_DEVICE)),
         "--credential-file", str(credential), "--receipt-dir", str(tmp_path / "receipts")],
        script,
        tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert resident.ssn not in result.stdout  # masked at a kiosk
    receipts = sorted((tmp_path / "receipts").glob("receipt-*"))
    assert {p.suffix for p in receipts} == {".txt", ".pdf"}
    text = next(p for p in receipts if p.suffix == ".txt").read_text(encoding="utf-8")
    assert resident.card_number in text
    assert PIN not in text
    items = {i for i, o in desk.journal(person_id=resident.person_id) if o == "ok"}
    expected = {"E01", "E02", "E03", "E04", "E05", "B01", "B02", "B03", "B04", "R05"}
    assert expected <= items, items
    assert ("C05", "ok") in desk.journal(card_number=resident.card_number)
    assert sim_state(card)["pin_tries_left"] == sim_state(card)["pin_try_limit"]
