"""Helpers of the API tests: run the real server (uvicorn subprocess), write test rows
through the models, check problem responses. Fixtures are in conftest.py.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import argon2
import httpx
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from api import tokens
from cardsvc.db import migrate
from cardsvc.db.engine import make_engine
from cardsvc.db.models import ApiToken, Device, DeviceKind, Operator, Role, Site, SiteLevel
from cardsvc.db.uow import make_session_factory

_HERE = Path(__file__).resolve().parent
_ROOT = _HERE.parents[1]

SITE_CODE = "370402"
OTHER_SITE_CODE = "370403"
APP = "api_test_server:create_test_app"
STARTUP_TIMEOUT_S = 30.0
LOCKOUT_S = 2
RATE_LIMIT = 25
RATE_WINDOW_S = 600
MAX_BODY = 4096

SERVER_ENV: dict[str, str] = {
    "CARDSVC_LOGIN_MAX_FAILURES": "5",
    "CARDSVC_LOGIN_LOCKOUT": str(LOCKOUT_S),
    "CARDSVC_RATE_LIMIT_OPERATOR": str(RATE_LIMIT),
    "CARDSVC_RATE_LIMIT_DEVICE": str(RATE_LIMIT),
    "CARDSVC_RATE_WINDOW": str(RATE_WINDOW_S),
    "CARDSVC_MAX_BODY_BYTES": str(MAX_BODY),
    "CARDSVC_IDEMPOTENCY_TIMEOUT": "60",
}

# Cheap argon2 parameters for the hashes the tests write (the server rehashes at sign-in).
CHEAP_ARGON = argon2.PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


# --------------------------------------------------------------------------- servers


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class ApiServer:
    """A uvicorn subprocess serving the test app."""

    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=20.0, **kwargs)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def _launch(command: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    with log_path.open("ab") as log:
        return subprocess.Popen(command, cwd=_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)


def wait_until_up(url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    """Poll /healthz until it answers; fail with the server's log if it never does."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"the server exited with {process.returncode}:\n{log_path.read_text()}"
            )
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/healthz", timeout=2.0).status_code == 200:
                return
        time.sleep(0.05)
    process.kill()
    process.wait(timeout=10)
    raise RuntimeError(
        f"the server did not answer within {STARTUP_TIMEOUT_S} s:\n{log_path.read_text()}"
    )


def server_env(database_url: str, **overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARDSVC_")}
    env.update(SERVER_ENV)
    env["CARDSVC_DATABASE_URL"] = database_url
    env.update(overrides)
    return env


def launch_server(database_url: str, log_dir: Path, **overrides: str) -> ApiServer:
    """Start uvicorn with the test app on a free loopback port and wait until it answers."""
    log_dir.mkdir(parents=True, exist_ok=True)
    for _attempt in range(3):
        port = free_port()
        log_path = log_dir / f"server-{port}.log"
        command = [
            sys.executable, "-m", "uvicorn", APP, "--factory",
            "--app-dir", str(_HERE), "--host", "127.0.0.1", "--port", str(port),
            "--log-level", "warning", "--no-access-log",
        ]  # fmt: skip
        process = _launch(command, server_env(database_url, **overrides), log_path)
        url = f"http://127.0.0.1:{port}"
        try:
            wait_until_up(url, process, log_path)
        except RuntimeError as exc:
            if "address already in use" in str(exc).lower():
                continue  # another process took the port meanwhile: try another
            raise
        return ApiServer(url=url, process=process, log_path=log_path)
    raise RuntimeError("no free port for the test server after 3 attempts")


def launch_servers(database_url: str, log_dir: Path, count: int) -> list[ApiServer]:
    """`count` servers on one database, started side by side."""
    with ThreadPoolExecutor(max_workers=count) as pool:
        futures = [pool.submit(launch_server, database_url, log_dir) for _ in range(count)]
        return [future.result() for future in futures]


def stop_servers(servers: list[ApiServer]) -> None:
    """Stop servers side by side (each gets SIGINT, then a grace period)."""
    with ThreadPoolExecutor(max_workers=max(1, len(servers))) as pool:
        list(pool.map(ApiServer.stop, servers))


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class OperatorLogin:
    id: int
    username: str
    password: str


@dataclass(frozen=True)
class DeviceLogin:
    id: int
    credential: str


@dataclass
class Records:
    """Writes test rows straight into a server's database through the models."""

    url: str
    engine: Engine = field(init=False)
    factory: sessionmaker[Session] = field(init=False)

    def __post_init__(self) -> None:
        self.engine = make_engine(self.url, busy_timeout_s=10)
        self.factory = make_session_factory(self.engine)

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        with self.factory() as session, session.begin():
            yield session

    def ensure_sites(self) -> None:
        with self.session() as session:
            for code in (SITE_CODE, OTHER_SITE_CODE):
                if session.get(Site, code) is None:
                    session.add(Site(code=code, level=SiteLevel.DISTRICT, name=f"district {code}"))

    def operator(
        self,
        *,
        roles: frozenset[Role] = frozenset({Role.CLERK}),
        site_code: str = SITE_CODE,
        password_hash: str | None = None,
        password: str | None = None,
        active: bool = True,
    ) -> OperatorLogin:
        password = password or "pw-" + secrets.token_hex(6)
        username = "op-" + secrets.token_hex(6)
        with self.session() as session:
            row = Operator(
                username=username,
                site_code=site_code,
                roles=roles,
                password_hash=password_hash or CHEAP_ARGON.hash(password),
                active=active,
            )
            session.add(row)
            session.flush()
            return OperatorLogin(row.id, username, password)

    def device(
        self,
        *,
        kind: DeviceKind = DeviceKind.KIOSK,
        site_code: str = SITE_CODE,
        credential_hash: str | None = None,
        credential: str | None = None,
    ) -> DeviceLogin:
        credential = credential or "cred-" + secrets.token_hex(8)
        with self.session() as session:
            row = Device(
                name=f"{kind.value}-{secrets.token_hex(6)}",
                kind=kind,
                site_code=site_code,
                credential_hash=credential_hash or CHEAP_ARGON.hash(credential),
                registered_at=datetime.now(UTC),
            )
            session.add(row)
            session.flush()
            return DeviceLogin(row.id, credential)

    def token(self, operator_id: int, *, expires_in_s: int) -> str:
        """A token written directly (e.g. one that has already expired)."""
        token = secrets.token_urlsafe(32)
        now = datetime.now(UTC)
        with self.session() as session:
            session.add(
                ApiToken(
                    token_hash=tokens.digest(token),
                    operator_id=operator_id,
                    issued_at=now - timedelta(hours=1),
                    expires_at=now + timedelta(seconds=expires_in_s),
                )
            )
        return token

    def password_hash(self, operator_id: int) -> str:
        with self.session() as session:
            row = session.get(Operator, operator_id)
            assert row is not None
            return row.password_hash

    def credential_hash(self, device_id: int) -> str:
        with self.session() as session:
            row = session.get(Device, device_id)
            assert row is not None
            return row.credential_hash

    def dispose(self) -> None:
        self.engine.dispose()


def migrated(url: str) -> str:
    engine = make_engine(url, busy_timeout_s=10)
    try:
        migrate.upgrade(engine)
    finally:
        engine.dispose()
    return url


@dataclass
class ApiEnv:
    """One engine's server(s) and its database."""

    engine_name: str
    url: str
    records: Records
    servers: list[ApiServer]

    @property
    def server(self) -> ApiServer:
        return self.servers[0]

    def client(self) -> httpx.Client:
        return self.server.client()

    def bearer(self, who: OperatorLogin) -> dict[str, str]:
        """Headers with a valid token written straight to the database (no sign-in cost)."""
        return {"Authorization": f"Bearer {self.records.token(who.id, expires_in_s=3600)}"}

    def login(self, client: httpx.Client, who: OperatorLogin) -> str:
        response = client.post(
            "/v1/auth/login", json={"username": who.username, "password": who.password}
        )
        assert response.status_code == 200, response.text
        token: str = response.json()["access_token"]
        return token


def assert_problem(
    response: httpx.Response, status: int, slug: str | None = None
) -> dict[str, Any]:
    """The response is an RFC 9457 problem with `status` (and type `slug`); its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["title"]
    assert body["request_id"] == response.headers["x-request-id"]
    assert body["instance"] == f"urn:cardsvc:request:{body['request_id']}"
    if slug is not None:
        assert body["type"] == f"https://cardsvc.invalid/problems/{slug}"
    return body
