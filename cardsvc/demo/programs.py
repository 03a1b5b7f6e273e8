"""The scripted counter and kiosk sessions, run by the real programs.

`cardsvc counter --script` (clerk.370402 at the counter station) and `cardsvc kiosk
--script` (kiosk.370402) run as subprocesses against the API and the stations'
agents, exactly as a tester would run them; their plain output is printed line by
line as it comes. Around them the demo puts the residents' cards into the readers
and shows what each station decided about the hotlisted and the un-lost card.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from cardsvc.client import ApiProblem
from cardsvc.demo.city import CLERK, KIOSK_DEVICE, City, load_card
from cardsvc.demo.errors import DemoError
from cardsvc.demo.output import Printer
from cardsvc.demo.readers import COUNTER, KIOSK, Readers
from cardsvc.demo.stations import Desk, Stations
from cardsvc.demo.workdir import WorkDir

PROGRAM_TIMEOUT_S: Final = 120.0
AGENT_WAIT_S: Final = 20.0
NEW_PHONE: Final = "13905320001"
WRONG_PIN: Final = "000000"


def counter_script(city: City) -> str:
    return "\n".join(
        (
            "wait 30",
            "E01",
            "E02 limit=3",
            "E03",
            "E04 limit=3",
            "E05",
            "B01",
            "B03",
            "B04",
            f"R05 phone={NEW_PHONE}",
            f"C06 id_checked=y new_pin={city.pin}",
            "end",
            "quit",
            "",
        )
    )


def kiosk_script(city: City) -> str:
    return "\n".join(
        (
            f"pin {city.pin}",
            "E01",
            "E02",
            "E03",
            "E04",
            "E05",
            "B01",
            "B03",
            "B04",
            "B02",
            "end",
            "",
        )
    )


def counter_command(api_url: str, desk: Desk, work: WorkDir, *, script: Path | None) -> list[str]:
    command = [
        "cardsvc", "counter", "--api", api_url, "--agent", desk.url,
        "--operator", CLERK, "--password-file", str(work.secret_file("operator")),
    ]  # fmt: skip
    return command + (["--script", str(script)] if script else [])


def kiosk_command(
    api_url: str, desk: Desk, work: WorkDir, city: City, *, script: Path | None
) -> list[str]:
    command = [
        "cardsvc", "kiosk", "--api", api_url, "--agent", desk.url,
        "--device", str(city.device_id(KIOSK_DEVICE)),
        "--credential-file", str(work.secret_file("kiosk")),
        "--receipt-dir", str(work.root / "receipts"),
    ]  # fmt: skip
    return command + (["--script", str(script)] if script else [])


def write_secrets(work: WorkDir, city: City) -> None:
    for name, secret in (("operator", city.password), ("kiosk", city.device_secret)):
        path = work.secret_file(name)
        path.write_text(secret + "\n", encoding="utf-8")
        path.chmod(0o600)


def run_program(command: Sequence[str], out: Printer, *, label: str) -> int:
    """`cardsvc …` as a subprocess of this interpreter; its output printed as it comes."""
    argv = [sys.executable, "-m", "cardsvc.cli.main", *command[1:]]
    env = {**os.environ, "NO_COLOR": "1", "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=env,
        text=True,
        encoding="utf-8",
        errors="replace",
    )
    assert process.stdout is not None
    watchdog = threading.Timer(PROGRAM_TIMEOUT_S, process.kill)  # never a hang
    watchdog.start()
    try:
        for line in process.stdout:
            out.line(f"      {label}| {line.rstrip()}")
        status = process.wait()
    finally:
        watchdog.cancel()
    if status < 0:
        out.detail(f"{label}: stopped after {PROGRAM_TIMEOUT_S:.0f} s without finishing")
    return status


def agent_card(desk: Desk, card_number: str) -> dict[str, Any]:
    """The agent's view of `card_number` once its station has presented it."""
    deadline = time.monotonic() + AGENT_WAIT_S
    with desk.client() as client:
        while time.monotonic() < deadline:
            try:
                card = client.card()
            except ApiProblem:
                card = None
            if card is not None and card.get("card_number") == card_number:
                return card
            time.sleep(0.1)
    raise DemoError(f"the {desk.name} station did not present card {card_number} in time")


@dataclass(frozen=True, slots=True)
class Scene:
    """Everything the scripted sessions use."""

    api_url: str
    stations: Stations
    readers: Readers
    city: City
    work: WorkDir
    out: Printer


def counter_part(scene: Scene) -> bool:
    api_url, readers, city, work, out = (
        scene.api_url,
        scene.readers,
        scene.city,
        scene.work,
        scene.out,
    )
    desk = scene.stations.counter
    out.section(f"Scripted counter session: `cardsvc counter --script`, {CLERK} at the counter")
    resident = city.card("counter")
    readers.put(COUNTER, load_card(resident.path))
    shown = agent_card(desk, resident.card_number)
    out.step(
        "card in the counter's reader",
        f"{resident.name} {resident.masked_ssn}: authenticated by the "
        f"{shown.get('authenticated_by')}, served: {shown.get('serve')}",
    )
    script = work.script_file("counter")
    script.write_text(counter_script(city), encoding="utf-8")
    command = counter_command(api_url, desk, work, script=script)
    out.detail("$ " + " ".join(command))
    status = run_program(command, out, label="counter")
    out.step("counter session", f"exit status {status}", ok=status == 0)
    readers.pull(COUNTER)
    ok = status == 0
    ok = _decision(desk, readers, city, "hotlisted", out) and ok
    return _decision(desk, readers, city, "unlost", out) and ok


def _decision(desk: Desk, readers: Readers, city: City, role: str, out: Printer) -> bool:
    card = city.card(role)
    readers.put(COUNTER, load_card(card.path, city.blocked_numbers))
    what = (
        f"a {card.state.value} card"
        if role == "hotlisted"
        else "a card whose loss was cancelled while it was blocked"
    )
    out.detail(f"inserted {card.path.name} ({card.name}, {card.masked_ssn}): {what}")
    shown = agent_card(desk, card.card_number)
    sim = readers.card(COUNTER)
    blocked_now = bool(sim.state().get("application_blocked")) if sim is not None else None
    # what the station did is read off the card itself
    if role == "hotlisted":
        ok = shown.get("serve") is False and blocked_now is True
        result = "the station sent APPLICATION BLOCK; nothing is served" if ok else str(shown)
        out.step("hotlisted card", result, ok=ok)
    else:
        ok = shown.get("serve") is True and blocked_now is False
        result = (
            "the station sent APPLICATION UNBLOCK; the card is served again" if ok else str(shown)
        )
        out.step("un-lost card", result, ok=ok)
    readers.pull(COUNTER)
    return ok


def kiosk_part(scene: Scene) -> bool:
    api_url, readers, city, work, out = (
        scene.api_url,
        scene.readers,
        scene.city,
        scene.work,
        scene.out,
    )
    desk = scene.stations.kiosk
    out.section(f"Scripted kiosk session: `cardsvc kiosk --script`, kiosk {KIOSK_DEVICE}")
    resident = city.card("kiosk")
    readers.put(KIOSK, load_card(resident.path))
    shown = agent_card(desk, resident.card_number)
    out.step(
        "card in the kiosk's reader",
        f"{resident.name} {resident.masked_ssn}: authenticated by the "
        f"{shown.get('authenticated_by')}, served: {shown.get('serve')}",
    )
    with desk.client() as client:
        try:
            client.verify_pin(WRONG_PIN)
        except ApiProblem as problem:
            out.step(f"PIN {WRONG_PIN} at the kiosk", f"refused: {problem.detail or problem.title}")
        else:
            out.step(f"PIN {WRONG_PIN} at the kiosk", "a wrong PIN was accepted", ok=False)
            return False
    script = work.script_file("kiosk")
    script.write_text(kiosk_script(city), encoding="utf-8")
    command = kiosk_command(api_url, desk, work, city, script=script)
    out.detail("$ " + " ".join(command))
    status = run_program(command, out, label="kiosk")
    out.step("kiosk session", f"exit status {status}", ok=status == 0)
    readers.pull(KIOSK)
    return status == 0
