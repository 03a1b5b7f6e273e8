"""`cardsvc agent` as a process: usage and start-up failures, and the whole path through
the real PC/SC stack (pcscd + vpcd + simulated card and PSAM) with a pcscd restart."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pcsc_harness import PcscSession, PcscStack, Plugger
from station_helpers import TerminalApi

from cardsvc.agent import AgentClient
from cardsvc.client import ApiProblem
from simulators.psam import Psam

ROOT = Path(__file__).resolve().parents[2]
WAIT_S = 30.0


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARDSVC_AGENT_")}
    env["PYTHONPATH"] = str(ROOT)
    return env


def cli(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cardsvc.cli.main", "agent", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ROOT,
        env=env or _env(),
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def credential_file(tmp_path: Path, terminal_api: TerminalApi) -> tuple[str, Path]:
    device = terminal_api.device()
    path = tmp_path / "credential"
    path.write_text(device.credential + "\n")
    return str(device.id), path


def test_usage_errors(terminal_api: TerminalApi, credential_file: tuple[str, Path]) -> None:
    device, path = credential_file
    no_api = cli("--device", device, "--credential-file", str(path))
    assert no_api.returncode == 2
    assert "--api URL" in no_api.stderr
    assert "Traceback" not in no_api.stderr
    no_device = cli("--api", terminal_api.url)
    assert no_device.returncode == 2
    assert "--device ID" in no_device.stderr
    missing = cli("--api", terminal_api.url, "--device", device, "--credential-file", "/nope")
    assert missing.returncode == 1
    assert "cannot read the device credential" in missing.stderr


def test_device_id_and_sam_usage_errors(
    terminal_api: TerminalApi, credential_file: tuple[str, Path]
) -> None:
    device, path = credential_file
    base = ("--api", terminal_api.url, "--credential-file", str(path))
    by_name = cli(*base, "--device", "kiosk.370402")
    assert by_name.returncode == 2
    assert "'kiosk.370402'" in by_name.stderr
    assert "index.json" in by_name.stderr  # where to find the id
    assert "index.json" in cli("--help").stdout
    both = cli(*base, "--device", device, "--no-sam", "--sam-reader", "R")
    assert both.returncode == 2
    assert "not allowed with argument" in both.stderr
    env = _env()
    env.update(CARDSVC_AGENT_NO_SAM="perhaps")
    unclear = cli(*base, "--device", device, env=env)
    assert unclear.returncode == 2
    assert "CARDSVC_AGENT_NO_SAM='perhaps'" in unclear.stderr
    env.update(CARDSVC_AGENT_NO_SAM="yes", CARDSVC_AGENT_SAM_READER="R")
    clash = cli(*base, "--device", device, env=env)
    assert clash.returncode == 2
    assert "keep one of them" in clash.stderr
    assert "Traceback" not in by_name.stderr + both.stderr + unclear.stderr + clash.stderr


def test_refused_sign_in_and_taken_port(
    terminal_api: TerminalApi, credential_file: tuple[str, Path], tmp_path: Path
) -> None:
    device, path = credential_file
    wrong = tmp_path / "wrong"
    wrong.write_text("not-the-credential\n")
    port = str(_free_port())
    refused = cli(
        "--api", terminal_api.url, "--device", device, "--credential-file", str(wrong),
        "--port", port,
    )  # fmt: skip
    assert refused.returncode == 1
    assert "refused the device's sign-in" in refused.stderr
    assert "not-the-credential" not in refused.stderr
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        busy = str(taken.getsockname()[1])
        result = cli(
            "--api", terminal_api.url, "--device", device, "--credential-file", str(path),
            "--port", busy,
        )  # fmt: skip
    assert result.returncode == 1
    assert "is taken" in result.stderr


@pytest.fixture
def agent_process(
    terminal_api: TerminalApi,
    credential_file: tuple[str, Path],
    pcsc_stack: PcscStack,
    tmp_path: Path,
) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """`cardsvc agent` on a free port, configured through the environment (as in docker)."""
    device, path = credential_file
    port = _free_port()
    env = _env()
    env.update(
        CARDSVC_AGENT_API=terminal_api.url,
        CARDSVC_AGENT_DEVICE=device,
        CARDSVC_AGENT_CREDENTIAL_FILE=str(path),
        CARDSVC_AGENT_READER=pcsc_stack.readers[0],
        CARDSVC_AGENT_SAM_READER=pcsc_stack.readers[1],
        CARDSVC_AGENT_PORT=str(port),
    )
    log = (tmp_path / "agent.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "cardsvc.cli.main", "agent"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + WAIT_S
        with AgentClient(url, timeout=5) as client:
            while True:
                assert process.poll() is None, (tmp_path / "agent.log").read_text()
                try:
                    client.health()
                    break
                except ApiProblem:
                    assert time.monotonic() < deadline, "the agent did not start"
                    time.sleep(0.1)
        yield process, url
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        log.close()


def _health(client: AgentClient, want: str, deadline_s: float = WAIT_S) -> dict[str, object]:
    deadline = time.monotonic() + deadline_s
    while True:
        health = client.health()
        if health["status"] == want:
            return health
        assert time.monotonic() < deadline, f"health stayed {health}"
        time.sleep(0.1)


def _sam_back(client: AgentClient, reader: str, deadline_s: float = WAIT_S) -> None:
    """The PSAM is in use again (its reader may come back after the card's)."""
    deadline = time.monotonic() + deadline_s
    while True:
        health = client.health()
        if health["status"] == "ok" and health["sam_reader"] == reader:
            return
        assert time.monotonic() < deadline, f"the PSAM did not come back: {health}"
        time.sleep(0.1)


def test_agent_through_pcscd_survives_a_restart(
    terminal_api: TerminalApi,
    agent_process: tuple[subprocess.Popen[str], str],
    pcsc_session: PcscSession,
    pcsc_stack: PcscStack,
    plug: Plugger,
) -> None:
    process, url = agent_process
    test_card = terminal_api.card(3)
    plug(Psam.demo(), 1)
    with AgentClient(url, timeout=20) as client:
        plugged = plug(test_card.card, 0)
        card = client.wait_for_card(timeout=WAIT_S)
        assert card["card_number"] == test_card.card_number
        assert card["authenticated_by"] == "psam"
        assert card["serve"] is True
        health = _health(client, "ok")
        assert health["sam_reader"] == pcsc_stack.readers[1]
        assert client.reader_string().split("|")[9] == "370400000001"
        if pcsc_stack.pcscd.owned:
            with pcsc_session.free_machine():
                health = _health(client, "degraded")
                assert health["pcscd"] is False
                assert client.card() is None
            health = _health(client, "ok")
            assert health["pcscd"] is True
            card = client.wait_for_card(timeout=WAIT_S)  # presented again after the restart
            # by the PSAM, or by the key service when vpcd brought the card back first
            assert card["authenticated_by"] in ("psam", "key-service")
            assert card["serve"] is True
            _sam_back(client, pcsc_stack.readers[1])
        plugged.remove()
        client.wait_for_removal(timeout=WAIT_S)
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=20) in (0, 130)
