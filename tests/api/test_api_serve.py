"""`cardsvc serve`: refuses an unmigrated or non-durable database; serves with workers."""

from __future__ import annotations

import signal
import subprocess
import sys
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


@pytest.mark.parametrize("workers", [2])
def test_serve_runs_the_app_with_several_workers(tmp_path: Path, workers: int) -> None:
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
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
    assert process.returncode == 0, log_path.read_text()
