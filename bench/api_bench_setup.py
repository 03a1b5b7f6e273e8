"""What the HTTP API benchmark (bench/api_bench.py) stands on: a database, data, callers,
and the two servers.

- :func:`bench_database`: a PostgreSQL database of its own
  (``cardsvc_api_bench_<pid>``, created on the server and dropped at the end), or a
  SQLite file in a temporary directory.
- :func:`seed`: ``cardsvc seed`` (cardsvc.seed, demo credentials) with N persons;
  :func:`card_files`: personalisation files of seeded cards for the simulated kiosks.
- :func:`add_clerks` / :func:`add_kiosks`: the benchmark's own callers at district
  370402, written through the models (one argon2id hash, the service's hasher);
  :func:`sign_in_operators` / :func:`sign_in_devices` get their bearer tokens over HTTP.
- :func:`in_scope`: persons living at 370402 or below (what a clerk there may ask
  about), with their ids for the floor.
- :func:`serve_api` / :func:`serve_floor`: ``cardsvc serve --workers N`` and the floor
  app under uvicorn with the same worker count, each on a free loopback port, waited
  for (bounded) and stopped (SIGTERM to the process group, then SIGKILL).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from api.passwords import PasswordHasher
from cardsvc.db.engine import make_engine
from cardsvc.db.models import Device, DeviceKind, Operator, Person, Role
from cardsvc.db.uow import make_session_factory

if TYPE_CHECKING:
    from cardsvc.seed.runner import SeedReport

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
SITE = "370402"
"""The district whose clerks and kiosks the benchmark's callers are."""
PASSWORD = "bench-" + "api-2011"
SCRYPT_N = 16
START_TIMEOUT_S = 60.0
STOP_GRACE_S = 15.0

SERVER_ENV = {
    # Rate limits stay ON (every authenticated request is counted in the database, as in
    # production), with budgets no benchmark reaches, so nothing is refused.
    "CARDSVC_RATE_LIMIT_OPERATOR": "1000000000",
    "CARDSVC_RATE_LIMIT_DEVICE": "1000000000",
    # Demo mode: the demo master keys for the card sessions' key service.
    "CARDSVC_DEMO": "1",
}


class SetupError(Exception):
    """The benchmark could not set up (database, data, servers); the message says why."""


# --------------------------------------------------------------------------- database


@contextlib.contextmanager
def bench_database(engine_name: str, server_url: str, *, keep: bool = False) -> Iterator[str]:
    """A fresh, empty database URL for the run; dropped (or deleted) afterwards."""
    if engine_name == "sqlite":
        with tempfile.TemporaryDirectory(prefix="cardsvc-api-bench-") as tmp:
            path = Path(tmp) / "bench.db"
            yield f"sqlite:///{path}"
            if keep:
                kept = Path(tempfile.gettempdir()) / f"cardsvc-api-bench-{os.getpid()}.db"
                path.replace(kept)
                print(f"kept {kept}", file=sys.stderr)
        return
    server = make_url(server_url).set(drivername="postgresql+psycopg")
    name = f"cardsvc_api_bench_{os.getpid()}"
    admin = create_engine(
        server, isolation_level="AUTOCOMMIT", poolclass=NullPool,
        connect_args={"connect_timeout": 5},
    )  # fmt: skip
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        admin.dispose()
        shown = server.render_as_string(hide_password=True)
        raise SetupError(f"cannot create a database on {shown}: {exc}") from exc
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        if keep:
            print(f"kept database {name}", file=sys.stderr)
        else:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class Seeded:
    persons: int
    seconds: float
    as_of: date
    report: SeedReport


def seed(url: str, persons: int) -> Seeded:
    """`cardsvc seed --demo --persons N` into the empty database at `url` (migrates first)."""
    from cardsvc.seed.options import SeedOptions  # noqa: PLC0415 - a heavy import, used once
    from cardsvc.seed.runner import seed_database  # noqa: PLC0415

    as_of = datetime.now(UTC).date()
    engine = make_engine(url)
    try:
        # The seeded accounts' demo passwords are not used here (the benchmark signs in
        # its own callers): cheap scrypt hashes save seconds of seeding.
        options = SeedOptions(as_of=as_of, persons=persons, demo=True, scrypt_n=SCRYPT_N)
        report = seed_database(engine, options)
    finally:
        engine.dispose()
    return Seeded(
        persons=report.persons_added, seconds=report.elapsed_s, as_of=as_of, report=report
    )


def card_files(url: str, seeded: Seeded, count: int, directory: Path) -> list[Path]:
    """Personalisation files (demo keys, PIN 123456) of up to `count` seeded active cards."""
    from cardsvc.seed.card_files import write_card_files  # noqa: PLC0415

    engine = make_engine(url)
    try:
        files = write_card_files(engine, seeded.report, directory, count)
    finally:
        engine.dispose()
    return [f.path for f in files]


@dataclass(frozen=True)
class Caller:
    """A benchmark caller: an operator (username) or a device (id as text) and its secret."""

    name: str
    secret: str


def add_clerks(url: str, count: int) -> list[Caller]:
    """`count` clerks at SITE, all with the same password (one argon2id hash)."""
    digest = PasswordHasher().hash(PASSWORD)
    names = [f"bench.clerk{i:02d}.{secrets.token_hex(3)}" for i in range(count)]
    engine = make_engine(url)
    try:
        with make_session_factory(engine)() as session, session.begin():
            session.add_all(
                Operator(
                    username=name,
                    site_code=SITE,
                    roles=frozenset({Role.CLERK}),
                    password_hash=digest,
                )
                for name in names
            )
    finally:
        engine.dispose()
    return [Caller(name, PASSWORD) for name in names]


def add_kiosks(url: str, count: int) -> list[Caller]:
    """`count` kiosks at SITE, all with the same credential (one argon2id hash)."""
    digest = PasswordHasher().hash(PASSWORD)
    engine = make_engine(url)
    try:
        with make_session_factory(engine)() as session, session.begin():
            rows = [
                Device(
                    name=f"bench-kiosk-{i:02d}-{secrets.token_hex(3)}",
                    kind=DeviceKind.KIOSK,
                    site_code=SITE,
                    credential_hash=digest,
                    registered_at=datetime.now(UTC),
                )
                for i in range(count)
            ]
            session.add_all(rows)
            session.flush()
            ids = [row.id for row in rows]
    finally:
        engine.dispose()
    return [Caller(str(i), PASSWORD) for i in ids]


def _sign_in(base_url: str, path: str, bodies: Sequence[dict[str, object]]) -> list[str]:
    """Bearer tokens for `bodies`, signed in side by side (argon2 verification is slow)."""

    def one(client: httpx.Client, body: dict[str, object]) -> str:
        response = client.post(path, json=body, headers={"Idempotency-Key": secrets.token_hex(16)})
        if response.status_code != 200:
            raise SetupError(f"{path} answered {response.status_code}: {response.text}")
        return str(response.json()["access_token"])

    with (
        httpx.Client(base_url=base_url, timeout=60.0) as client,
        ThreadPoolExecutor(max_workers=8) as pool,
    ):
        return list(pool.map(lambda body: one(client, body), bodies))


def sign_in_operators(base_url: str, callers: Sequence[Caller]) -> list[str]:
    bodies: list[dict[str, object]] = [{"username": c.name, "password": c.secret} for c in callers]
    return _sign_in(base_url, "/v1/auth/login", bodies)


def sign_in_devices(base_url: str, callers: Sequence[Caller]) -> list[str]:
    bodies = [{"device_id": int(c.name), "credential": c.secret} for c in callers]
    return _sign_in(base_url, "/v1/auth/device-login", bodies)


def in_scope(url: str, limit: int) -> list[tuple[int, str]]:
    """(person id, SSN) of up to `limit` persons living at SITE or below, by id."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(Person.id, Person.ssn)
                .where(Person.residence_site_code.like(SITE + "%"))
                .order_by(Person.id)
                .limit(limit)
            ).all()
    finally:
        engine.dispose()
    if not rows:
        raise SetupError(f"no seeded person lives at {SITE}: seed more persons")
    return [(int(r.id), str(r.ssn)) for r in rows]


# --------------------------------------------------------------------------- servers


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Server:
    name: str
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(STOP_GRACE_S)


def _wait_up(server: Server, path: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise SetupError(
                f"{server.name} exited with {server.process.returncode}:\n{server.log_tail()}"
            )
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(server.url + path, timeout=2.0).status_code == 200:
                return
        time.sleep(0.1)
    server.stop()
    raise SetupError(
        f"{server.name} did not answer {path} within {START_TIMEOUT_S:.0f} s:\n{server.log_tail()}"
    )


def _start(name: str, command: list[str], env: dict[str, str], log_dir: Path) -> Server:
    log_dir.mkdir(parents=True, exist_ok=True)
    port = command[command.index("--port") + 1]
    log_path = log_dir / f"{name}-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    return Server(name=name, url=f"http://127.0.0.1:{port}", process=process, log_path=log_path)


def _env(url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARDSVC_")}
    env.update(SERVER_ENV)
    env["CARDSVC_DATABASE_URL"] = url
    return env


def serve_api(url: str, workers: int, log_dir: Path) -> Server:
    """`cardsvc serve --workers N` on a free loopback port; returns once /readyz is 200."""
    cardsvc = Path(sys.executable).parent / "cardsvc"
    command = [
        str(cardsvc), "serve", "--host", "127.0.0.1", "--port", str(free_port()),
        "--workers", str(workers), "--database", url, "--log-level", "warning",
    ]  # fmt: skip
    server = _start("cardsvc-serve", command, _env(url), log_dir)
    _wait_up(server, "/readyz")
    return server


def serve_floor(url: str, workers: int, log_dir: Path) -> Server:
    """The floor app (bench/api_floor_app.py) under uvicorn with `workers` workers, with
    the same HTTP protocol as ``cardsvc serve`` (api.nodelay)."""
    command = [
        sys.executable, str(BENCH_DIR / "api_floor_app.py"), "--host", "127.0.0.1",
        "--port", str(free_port()), "--workers", str(workers), "--log-level", "warning",
    ]  # fmt: skip
    server = _start("floor", command, _env(url), log_dir)
    _wait_up(server, "/healthz")
    return server
