"""`cardsvc readers | watch | read | pin` over the in-process backend (no pcscd)."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator

import pytest
from card_helpers import PullingCard, foreign_masters, user_card

from cardsvc.card import KeyServiceSecurityModule, SscSession
from cardsvc.cli import reader as cli
from cardsvc.cli.main import build_parser
from reader_driver import CardChannel, InProcessBackend, NoReader
from reader_driver.backend import Backend
from simulators.psam import Psam

SECTION_8 = (
    "370402|370402199001011238|A00000011|370402D1560000051A2B3C4D00000001|张三|"
    "0081534D97868437041A2B3C4D|2.00|20240101|20340101|370400000001|DEV-7|"
)


@pytest.fixture
def backend() -> Iterator[InProcessBackend]:
    """The PSAM in the first reader, the cardholder's card in the second (default choices)."""
    b = InProcessBackend(["Reader A", "Reader B", "Reader C"])
    b.insert(Psam.demo(), "Reader A")
    b.insert(user_card(2), "Reader B")
    yield b
    b.close()


def run(backend: Backend, *argv: str) -> int:
    args = build_parser().parse_args(list(argv))
    func: Callable[..., int] = args.func
    return func(args, backend_factory=lambda timeout: backend)


def test_read_pipe_is_exactly_the_gbk_string(
    backend: InProcessBackend, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    assert run(backend, "read", "--format", "pipe", "--device-serial", "DEV-7") == 0
    out, err = capsysbinary.readouterr()
    assert out == SECTION_8.encode("gbk")
    assert err == b""


def test_read_pipe_utf8_on_request(
    backend: InProcessBackend, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    argv = ("read", "--format", "pipe", "--encoding", "utf-8", "--device-serial", "DEV-7")
    assert run(backend, *argv) == 0
    assert capsysbinary.readouterr().out == SECTION_8.encode("utf-8")


def test_read_json_masks_the_ssn_unless_full_id(
    backend: InProcessBackend,
    capsysbinary: pytest.CaptureFixture[bytes],
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert run(backend, "read", "--sam-reader", "Reader A", "--reader", "Reader B") == 0
    data = json.loads(capsysbinary.readouterr().out.decode("utf-8"))
    assert data["ssn"] == "370402********1238"
    assert data["name"] == "张三"
    assert data["terminal_number"] == "370400000001"
    assert data["generation"] == 2
    assert data["issue_date"] == "2024-01-01"
    assert data["reader"] == "Reader B"
    assert run(backend, "read", "--full-id", "--keys", "demo", "--reader", "Reader B") == 0
    out, err = capsysbinary.readouterr()
    data = json.loads(out.decode("utf-8"))
    assert data["ssn"] == "370402199001011238"
    assert data["terminal_number"] is None
    assert err == b""
    assert "DEMO master keys" in caplog.text


def test_keys_mode_skips_the_psam_reader(
    backend: InProcessBackend, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    """Two cards present: the PSAM in Reader A is recognised, the user card read."""
    argv = ("read", "--keys", "demo", "--terminal-number", "370400000002", "--format", "pipe")
    assert run(backend, *argv) == 0
    assert capsysbinary.readouterr().out.split(b"|")[9] == b"370400000002"


def one_line(err: bytes) -> str:
    text = err.decode()
    assert text.count("\n") == 1, text
    assert "Traceback" not in text
    return text


@pytest.mark.parametrize(
    ("setup", "code", "says"),
    [
        ("forged", "-21", "forged"),
        ("no-card", "-2", "insert the social security card"),
        ("no-psam", "-2201", "PSAM"),
        ("psam-only-reader", "-1", "not a social security card"),
        ("blocked", "-25219", "service counter"),
    ],
)
def test_read_failures_print_the_code_and_one_line_of_advice(
    backend: InProcessBackend,
    capsysbinary: pytest.CaptureFixture[bytes],
    setup: str,
    code: str,
    says: str,
) -> None:
    argv = ["read", "--format", "pipe"]
    if setup == "forged":
        backend.swap(user_card(3, masters=foreign_masters()), "Reader B")
    elif setup == "no-card":
        backend.remove("Reader B")
    elif setup == "no-psam":
        backend.remove("Reader A")
    elif setup == "psam-only-reader":
        backend.insert(Psam.demo(), "Reader C")
        argv += ["--reader", "Reader C", "--sam-reader", "Reader A"]
    elif setup == "blocked":
        assert run(backend, "read", "--keys", "demo") == 0
        with backend.connect("Reader B") as conn:
            SscSession(CardChannel(conn), KeyServiceSecurityModule.demo()).application_block()
        capsysbinary.readouterr()
    assert run(backend, *argv) == 1
    out, err = capsysbinary.readouterr()
    assert out == code.encode()
    assert says in one_line(err)


def test_read_json_failure(
    backend: InProcessBackend, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    backend.swap(user_card(2, masters=foreign_masters()), "Reader B")
    assert run(backend, "read", "--keys", "demo") == 1
    out, err = capsysbinary.readouterr()
    assert json.loads(out) == {"error": {"code": -21, "type": "ForgedCard"}}
    one_line(err)


def test_no_reader_at_all(capsys: pytest.CaptureFixture[str]) -> None:
    empty = InProcessBackend([])
    assert run(empty, "read", "--keys", "demo") == 1
    assert "plug in a card reader" in capsys.readouterr().err

    def no_pcscd(timeout: float) -> Backend:
        raise NoReader("pcscd is gone")

    args = build_parser().parse_args(["readers"])
    assert cli.run_readers(args, backend_factory=no_pcscd) == 1


def test_pin_verify_from_getpass_never_shows_the_pin(
    backend: InProcessBackend,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    prompts: list[str] = []

    def fake_getpass(prompt: str = "") -> str:
        prompts.append(prompt)
        return "123456"

    monkeypatch.setattr("getpass.getpass", fake_getpass)
    assert run(backend, "pin", "verify") == 0
    out, err = capsys.readouterr()
    assert prompts == ["PIN: "]
    assert out == "PIN verified\n"
    assert "123456" not in out + err


def test_pin_wrong_then_status_then_change(
    backend: InProcessBackend,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("000000\n"))
    assert run(backend, "pin", "verify", "--pin-stdin") == 1
    assert "wrong PIN: 5 tries left" in one_line(capsys.readouterr().err.encode())
    assert run(backend, "pin", "status") == 0
    assert capsys.readouterr().out == "PIN not verified: 5 tries left\n"
    monkeypatch.setattr("sys.stdin", io.StringIO("123456\n2580\n2580\n"))
    assert run(backend, "pin", "change", "--pin-stdin") == 0
    assert capsys.readouterr().out == "PIN changed\n"
    monkeypatch.setattr("sys.stdin", io.StringIO("123456\n2580\n2581\n"))
    assert run(backend, "pin", "change", "--pin-stdin") == 1
    assert "differ" in capsys.readouterr().err


def test_pin_blocked_then_reload_at_the_counter(
    backend: InProcessBackend,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for _ in range(6):
        monkeypatch.setattr("sys.stdin", io.StringIO("999999\n"))
        run(backend, "pin", "verify", "--pin-stdin")
    capsys.readouterr()
    monkeypatch.setattr("sys.stdin", io.StringIO("123456\n"))
    assert run(backend, "pin", "verify", "--pin-stdin") == 1
    assert "service counter" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO("4321\n4321\n"))
    assert run(backend, "pin", "reload", "--pin-stdin") == 0  # PSAM found in Reader A
    assert "reloaded" in capsys.readouterr().out
    monkeypatch.setattr("sys.stdin", io.StringIO("4321\n"))
    assert run(backend, "pin", "verify", "--pin-stdin") == 0


def test_readers_lists_cards(backend: InProcessBackend, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(backend, "readers") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Reader A\tcard 3B6D00000081534D5053414D0000000001"
    assert lines[1] == "Reader B\tcard 3B6D00000081534D97868437041A2B3C4D"
    assert lines[2] == "Reader C\tno card"


def test_watch_prints_one_line_per_event(
    backend: InProcessBackend, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(backend, "watch", "--count", "5", "--seconds", "10") == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(" ", 1)[1] for line in lines] == [
        "reader-added Reader A",
        "card-inserted Reader A 3B6D00000081534D5053414D0000000001",
        "reader-added Reader B",
        "card-inserted Reader B 3B6D00000081534D97868437041A2B3C4D",
        "reader-added Reader C",
    ]
    assert run(backend, "watch", "--seconds", "0.3") == 0  # ends by itself too


def test_a_psam_pulled_during_the_read_is_no_psam(
    capsysbinary: pytest.CaptureFixture[bytes],
) -> None:
    b = InProcessBackend(["Reader A", "Reader B"])
    # the PSAM answers its probe SELECT, then SELECT DF01 and READ BINARY, then goes at DES INIT
    b.insert(PullingCard(Psam.demo(), b, "Reader A", 4), "Reader A")
    b.insert(user_card(2), "Reader B")
    assert run(b, "read", "--format", "pipe") == 1
    out, err = capsysbinary.readouterr()
    assert out == b"-2201"
    assert "the PSAM stopped answering" in one_line(err)
