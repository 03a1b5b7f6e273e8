"""The kiosk program through the real station agent (cardsvc.agent) over a station on the
in-process reader backend, against the real API: the agent's PIN answers, items, the
receipt, card out."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from station_harness import DEVICE_SECRET, PIN, City, RealAgent, real_agent, run_kiosk_script

from cardsvc.cli.main import main
from cardsvc.counter import exits
from cardsvc.counter.errors import SessionEnded
from cardsvc.kiosk import messages


class _Hands:
    """A scripted resident who takes the card out at the line `<remove>`."""

    scripted = True

    def __init__(self, rig: RealAgent, lines: list[str]) -> None:
        self.rig = rig
        self.lines = lines

    def read(self, prompt: str, *, stop: Any = None, **kw: Any) -> str | None:
        line = self.lines.pop(0) if self.lines else None
        if line != "<remove>":
            return line
        self.rig.remove()
        deadline = time.monotonic() + 10
        while stop is not None and not stop() and time.monotonic() < deadline:
            time.sleep(0.05)
        raise SessionEnded((stop() if stop is not None else None) or "no removal seen")


def test_kiosk_session_through_the_agent(city: City, tmp_path: Path) -> None:
    with real_agent(city, "kiosk.370402") as rig:
        card = rig.insert(city.card_file(3))
        assert card["serve"] is True
        tries = json.loads(city.card_file(3).read_text(encoding="utf-8"))["pin_tries"]
        source = _Hands(rig, ["pin 000000", f"pin {PIN}", "E01", "B03", "<remove>", "E02"])
        run = run_kiosk_script(city, rig.client, "", source=source, receipt_dir=tmp_path)
        out = run.output
        assert messages.wrong_pin(tries - 1) in out  # the agent's tries_left, from the card
        assert messages.PIN_OK in out
        assert "ok: E01 done" in out
        assert "ok: B03 done" in out
        assert messages.CARD_OUT in out
        assert "ok: E02 done" not in out
        assert run.code == exits.OK, out
        receipt = next(tmp_path.glob("*.txt")).read_text(encoding="utf-8")
        assert card["card_number"] in receipt
        assert "B03 retirement eligibility" in receipt
        assert next(tmp_path.glob("*.pdf")).read_bytes().startswith(b"%PDF-")


def test_cardsvc_kiosk_command_with_the_agent(
    city: City, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    credential = tmp_path / "credential"
    credential.write_text(DEVICE_SECRET + "\n", encoding="utf-8")
    script = tmp_path / "kiosk.txt"
    script.write_text(f"pin {PIN}\nE01\nB04\nend\n", encoding="utf-8")
    with real_agent(city, "kiosk.370402") as rig:
        rig.insert(city.card_file(2))
        code = main(
            [
                "kiosk", "--api", city.url, "--agent", rig.server.url,
                "--device", str(city.device_id("kiosk.370402")),
                "--credential-file", str(credential), "--script", str(script),
                "--receipt-dir", str(tmp_path / "receipts"), "--card-wait", "10",
            ]
        )  # fmt: skip
    out = capsys.readouterr().out
    assert code == exits.OK, out
    assert "ok: E01 done" in out
    assert "ok: B04 done" in out
    assert len(list((tmp_path / "receipts").glob("*.pdf"))) == 1
