"""A station agent for the end-to-end tests: `cardsvc agent` as a subprocess, and its client.

`launch_agent(...)` runs ``cardsvc agent --api URL --device ID --credential-file F
--reader R [--sam-reader S] --port P`` on a free loopback port, waits until
``GET /v1/health`` answers, and gives an `AgentProcess` whose `client` is the
agent's Python client (`cardsvc.agent.client.AgentClient`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import httpx

from cardsvc.demo.api_server import free_port, log_tail
from cardsvc.demo.city import City

READY_TIMEOUT_S: Final = 30.0
_ROOT: Final = Path(__file__).resolve().parents[2]


@dataclass
class AgentProcess:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    client: Any  # cardsvc.agent.client.AgentClient

    def log(self) -> str:
        return log_tail(self.log_path, 200)

    def stop(self) -> None:
        self.client.close()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def launch_agent(
    api_url: str,
    city: City,
    device: str,
    *,
    reader: str,
    work: Path,
    sam_reader: str | None = None,
    allow_origin: str | None = None,
) -> AgentProcess:
    """Start the agent and wait until it answers (RuntimeError with its log otherwise)."""
    from cardsvc.agent.client import AgentClient  # noqa: PLC0415 - helper A's package

    work.mkdir(parents=True, exist_ok=True)
    credential = work / "device.credential"
    credential.write_text(city.device_secret + "\n")
    credential.chmod(0o600)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [
        sys.executable, "-m", "cardsvc.cli.main", "-v", "agent",
        "--api", api_url, "--device", str(city.device_id(device)),
        "--credential-file", str(credential), "--reader", reader, "--port", str(port),
    ]  # fmt: skip
    if sam_reader is not None:
        command += ["--sam-reader", sam_reader]
    if allow_origin is not None:
        command += ["--allow-origin", allow_origin]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARDSVC_")}
    log_path = work / "agent.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            command, cwd=_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    agent = AgentProcess(url, process, log_path, AgentClient(url))
    try:
        _wait_ready(url, process, log_path)
    except BaseException:
        agent.stop()
        raise
    return agent


def _wait_ready(url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"the agent exited with {process.returncode}:\n{log_tail(log_path, 50)}"
            )
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/v1/health", timeout=2.0).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(
        f"the agent did not answer within {READY_TIMEOUT_S} s:\n{log_tail(log_path)}"
    )
