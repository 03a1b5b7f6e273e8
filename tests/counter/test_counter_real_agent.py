"""The counter program through the real station agent (cardsvc.agent: its HTTP server and
AgentClient) over a station on the in-process reader backend, against the real API."""

from __future__ import annotations

from pathlib import Path

import pytest
from station_harness import PASSWORD, PIN, City, real_agent, run_counter_script

from cardsvc.cli.main import main
from cardsvc.counter import exits


def test_counter_serves_a_card_through_the_agent(city: City) -> None:
    with real_agent(city, "counter.370402") as rig:
        card = rig.insert(city.card_file(2))
        run = run_counter_script(
            city,
            rig.client,
            "wait 5\nE01\nE05\nB04\nC06 id_checked=y new_pin=13572468\n"
            "C05 old_pin=13572468 new_pin=123456\n",
        )
        assert run.code == exits.OK, run.output
        assert f"ok: card {card['card_number']} of " in run.output
        for code in ("E01", "E05", "B04", "C06", "C05"):
            assert f"ok: {code} done" in run.output
        assert "13572468" not in run.output
        # the card took the reloaded and then the changed PIN
        rig.client.verify_pin(PIN)

        # the card goes out: the next item says so and the card session ends
        rig.remove()
        run = run_counter_script(city, rig.client, "wait 1\n")
        assert "refused: no card was inserted within 1 s" in run.output
        assert run.code == exits.REFUSED


def test_cardsvc_counter_command_with_the_agent(
    city: City, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    password = tmp_path / "password"
    password.write_text(PASSWORD + "\n", encoding="utf-8")
    script = tmp_path / "session.txt"
    script.write_text("wait 10\nE05\nB01 involuntary=y\nend\nquit\n", encoding="utf-8")
    with real_agent(city, "counter.370402") as rig:
        rig.insert(city.card_file(3))
        code = main(
            [
                "counter", "--api", city.url, "--agent", rig.server.url,
                "--operator", "clerk.370402", "--password-file", str(password),
                "--script", str(script),
            ]
        )  # fmt: skip
    out = capsys.readouterr().out
    assert code == exits.OK, out
    assert "ok: E05 done" in out
    assert "ok: B01 done" in out
    assert "card session ended (the customer left)" in out
