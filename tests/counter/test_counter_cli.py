"""`cardsvc counter` and `cardsvc kiosk` as commands: options, files, exit codes."""

from __future__ import annotations

from pathlib import Path

import pytest
from station_harness import PASSWORD, City, free_port

from cardsvc.cli.main import main
from cardsvc.counter import exits

IN_SCOPE = "370402%"


def test_counter_script_file_with_password_file(
    city: City, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ssn = city.query(
        "SELECT ssn FROM persons WHERE residence_site_code LIKE :s ORDER BY id", s=IN_SCOPE
    )[0][0]
    password = tmp_path / "password"
    password.write_text(PASSWORD + "\n", encoding="utf-8")
    script = tmp_path / "session.txt"
    script.write_text(f"# a clerk's morning\nperson {ssn}\nE01\nB04\nquit\n", encoding="utf-8")
    code = main(
        [
            "counter", "--api", city.url, "--agent", f"http://127.0.0.1:{free_port()}",
            "--operator", "clerk.370402", "--password-file", str(password),
            "--script", str(script),
        ]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == exits.OK, out
    assert "counter> E01" in out  # the script's commands are echoed
    assert "ok: E01 done" in out
    assert "ok: B04 done" in out
    assert "\x1b[" not in out  # plain output in script mode
    assert PASSWORD not in out


def test_counter_missing_password_file_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "counter", "--api", "http://127.0.0.1:9", "--operator", "clerk.370402",
            "--password-file", str(tmp_path / "nope"), "--script", "-",
        ]
    )  # fmt: skip
    assert code == exits.USAGE
    assert "error: --password-file: cannot read" in capsys.readouterr().out


def test_kiosk_empty_credential_file_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "credential"
    empty.write_text("\n", encoding="utf-8")
    code = main(["kiosk", "--device", "1", "--credential-file", str(empty), "--script", "-"])
    assert code == exits.USAGE
    assert "is empty: put the credential on its first line" in capsys.readouterr().out


def test_kiosk_unreachable_api_is_exit_4(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    credential = tmp_path / "credential"
    credential.write_text("device-demo-2011\n", encoding="utf-8")
    code = main(
        [
            "kiosk", "--api", f"http://127.0.0.1:{free_port()}", "--device", "1",
            "--credential-file", str(credential), "--script", str(credential),
        ]
    )  # fmt: skip
    assert code == exits.UNREACHABLE
    assert "cannot be reached" in capsys.readouterr().out


@pytest.mark.parametrize("command", ["counter", "kiosk"])
def test_help_documents_the_exit_codes(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main([command, "--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert "exit codes:" in out
    for code in ("0 ", "1 ", "2 ", "3 ", "4 "):
        assert f"\n  {code}" in out
