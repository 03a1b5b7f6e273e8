"""`cardsvc serve`: refuses an unmigrated or non-durable database; serves with workers."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from api_harness import free_port, migrated, server_env, wait_until_up
from sqlalchemy import create_engine
from sqlalchemy.engine import URL
from sqlalchemy.pool import NullPool

from cardsvc.cli.main import main
from cardsvc.db import migrate

ROOT = Path(__file__).resolve().parents[2]


def _serve_in_process(url: str, monkeypatch: pytest.MonkeyPatch) -> int:
    """`cardsvc serve --database URL` in this process (it must refuse before uvicorn runs)."""
    monkeypatch.setenv("CARDSVC_DATABASE_URL", url)  # serve sets it; restored after the test
    return main(["serve", "--database", url, "--port", str(free_port())])


def test_serve_refuses_an_unmigrated_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code = _serve_in_process(f"sqlite:///{tmp_path / 'empty.db'}", monkeypatch)
    err = capsys.readouterr().err
    assert code == 1
    assert "cardsvc serve: cannot serve" in err
    assert "never migrated" in err
    assert "cardsvc db upgrade" in err


def test_serve_refuses_a_database_that_can_lose_commits(
    pg_databases: Callable[[str], URL],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = pg_databases("nodurable")  # durability is checked first: no need to migrate
    raw = url.render_as_string(hide_password=False)
    admin = create_engine(raw, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'ALTER DATABASE "{url.database}" SET synchronous_commit = off')
    admin.dispose()
    code = _serve_in_process(raw, monkeypatch)
    err = capsys.readouterr().err
    assert code == 1
    assert "synchronous_commit" in err
    assert "can lose committed transactions" in err


def test_serve_refuses_an_unreachable_database(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/nothing"
    code = _serve_in_process(url, monkeypatch)
    err = capsys.readouterr().err
    assert code == 1
    assert "cannot be reached" in err


def test_serve_with_workers_refuses_a_port_in_use(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = migrated(f"sqlite:///{tmp_path / 'served.db'}")
    monkeypatch.setenv("CARDSVC_DATABASE_URL", url)
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        code = main(["serve", "--database", url, "--port", str(port), "--workers", "2"])
    err = capsys.readouterr().err
    assert code == 1
    assert f"cannot listen on 127.0.0.1:{port}" in err
    assert "--port" in err


def _connections_by_process(port: int, pids: list[int], state: str = "01") -> dict[int, int]:
    """How many TCP sockets on local `port` in `state` (01 established, 0A listening) each
    process in `pids` holds (Linux: /proc/net/tcp{,6}, then each process's fds)."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as rows:
            for row in list(rows)[1:]:
                fields = row.split()
                local_port = int(fields[1].rsplit(":", 1)[1], 16)
                if local_port == port and fields[3] == state:
                    inodes.add(fields[9])
    counts: dict[int, int] = {}
    for pid in pids:
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{pid}/fd"):
                with contextlib.suppress(OSError):
                    target = os.readlink(f"/proc/{pid}/fd/{fd}")
                    if target.startswith("socket:[") and target[8:-1] in inodes:
                        counts[pid] = counts.get(pid, 0) + 1
    return counts


def _children(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as listed:
        return [int(child) for child in listed.read().split()]


@pytest.mark.parametrize("workers", [2])
def test_serve_runs_the_app_with_several_workers(
    tmp_path: Path,
    workers: int,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = migrated(f"sqlite:///{tmp_path / 'served.db'}")
    port = free_port()
    log_path = tmp_path / "serve.log"
    command = [sys.executable, "-m", "cardsvc.cli.main", "serve", "--database", url]
    command += ["--port", str(port), "--workers", str(workers), "--log-level", "warning"]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=server_env("sqlite:///ignored-because-of-database-option.db"),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until_up(f"http://127.0.0.1:{port}", process, log_path)
        ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=10)
        assert ready.status_code == 200
        assert ready.json()["revision"] == migrate.head_revision()
        # A burst of keep-alive connections is spread over the workers (each listens on
        # its own SO_REUSEPORT socket), not all accepted by the first worker to wake.
        deadline = time.monotonic() + 30
        while len(_connections_by_process(port, _children(process.pid), "0A")) < workers:
            assert time.monotonic() < deadline, "the workers did not all listen in 30 s"
            time.sleep(0.1)
        burst = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(24)]
        try:
            for sock in burst:
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: cardsvc\r\n\r\n")
            for sock in burst:
                assert sock.recv(64).startswith(b"HTTP/1.1 200")
            held = _connections_by_process(port, _children(process.pid))
        finally:
            for sock in burst:
                sock.close()
        assert sum(held.values()) == 24, held
        # A second server on the same port is refused, not let into the workers' group.
        monkeypatch.setenv("CARDSVC_DATABASE_URL", url)
        again = ["serve", "--database", url, "--port", str(port), "--workers", str(workers)]
        assert main(again) == 1
        assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err
        assert len(held) == workers, held  # every worker holds some (all on one: 2^-23)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
    assert process.returncode == 0, log_path.read_text()
