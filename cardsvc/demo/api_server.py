"""The HTTP API for the demo: `cardsvc serve` as a subprocess on a free loopback port.

Demo mode (``CARDSVC_DEMO=1``): the key service uses the card contract's demo
master keys, which the seeded card files are personalised with. Ready when
``/readyz`` answers 200 (the database is reachable and migrated). The server's
output goes to a log file in the work directory; a server that dies or does not
become ready is a DemoError quoting the log's tail.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Final, Self

import httpx

from cardsvc.demo.errors import DemoError

READY_TIMEOUT_S: Final = 30.0
STOP_TIMEOUT_S: Final = 10.0
_POLL_S: Final = 0.1
_LOG_TAIL: Final = 20


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (the caller binds it soon after)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def log_tail(path: Path, lines: int = _LOG_TAIL) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


class ApiServer:
    """`cardsvc serve --database URL` on 127.0.0.1:<free port>; a context manager."""

    def __init__(self, database_url: str, log_dir: Path, *, port: int | None = None) -> None:
        self.database_url = database_url
        self.log_path = log_dir / "api.log"
        self._port = port
        self._process: subprocess.Popen[bytes] | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        attempts = 1 if self._port is not None else 3
        for _ in range(attempts):
            self.port = self._port if self._port is not None else free_port()
            self._spawn()
            try:
                self._wait_ready()
                return
            except DemoError as exc:
                self.stop()
                if "address already in use" not in str(exc).lower():
                    raise
        raise DemoError(f"the API found no free port in {attempts} attempts")

    def _spawn(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CARDSVC_")}
        env.update({"CARDSVC_DEMO": "1", "CARDSVC_DATABASE_URL": self.database_url})
        command = [
            sys.executable, "-m", "cardsvc.cli.main", "serve",
            "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning",
        ]  # fmt: skip
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
                command, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )

    def _wait_ready(self) -> None:
        process = self._process
        assert process is not None
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise DemoError(
                    f"the API exited with status {process.returncode} before it was ready; "
                    f"its log ({self.log_path}):\n{log_tail(self.log_path)}"
                )
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/readyz", timeout=2.0).status_code == 200:
                    return
            time.sleep(_POLL_S)
        raise DemoError(
            f"the API did not become ready within {READY_TIMEOUT_S:.0f} s; "
            f"its log ({self.log_path}):\n{log_tail(self.log_path)}"
        )

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT_S)
