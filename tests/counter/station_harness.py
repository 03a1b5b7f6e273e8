"""What the counter and kiosk tests share: a seeded demo city served by the real API
(`cardsvc seed --demo` + `cardsvc serve` in a subprocess), and a fake of the station
agent's port that drives a simulated card (simulators.ssc_card.UserCard) with the
APDUs a terminal sends and opens real card sessions with the API.

The fake stands in for cardsvc.agent.client.AgentClient (our own port): it answers
what the agent's local HTTP answers, raising problems as ApiProblem-shaped errors
(``wrong-pin`` with ``tries_left``, ``pin-blocked``, ``no-card``).
"""

from __future__ import annotations

import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from cardsvc.client import ApiClient, ApiProblem
from cardsvc.counter.app import run_counter
from cardsvc.counter.lines import ScriptSource
from cardsvc.counter.ports import wait_for_card
from cardsvc.counter.render import Screen
from cardsvc.kiosk.app import run_kiosk
from simulators.ssc_card import UserCard

ROOT = Path(__file__).resolve().parents[2]
SSSE_SELECT = bytes.fromhex("00A404000F") + "sx1.sh.社会保障".encode("gbk")
PASSWORD = "demo2011"
DEVICE_SECRET = "device-demo-2011"
PIN = "123456"
SERVER_ENV = {
    "CARDSVC_DEMO": "1",
    "CARDSVC_RATE_LIMIT_OPERATOR": "1000000",
    "CARDSVC_RATE_LIMIT_DEVICE": "1000000",
    "CARDSVC_RATE_WINDOW": "3600",
}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def cardsvc(*args: str) -> list[str]:
    return [sys.executable, "-m", "cardsvc.cli.main", *args]


@dataclass
class City:
    """A seeded demo city and its running API."""

    url: str
    database: str
    cards_dir: Path
    index: dict[str, Any]
    process: subprocess.Popen[bytes]
    log: Path

    def card_file(self, generation: int) -> Path:
        for entry in self.index["cards"]:
            if entry["generation"] == generation:
                return self.cards_dir / entry["file"]
        raise LookupError(f"no seeded card of generation {generation}")

    def card_files(self) -> list[Path]:
        return [self.cards_dir / entry["file"] for entry in self.index["cards"]]

    def device_id(self, name: str) -> int:
        """The id of a seeded device (the API signs devices in by id)."""
        import sqlalchemy as sa  # noqa: PLC0415

        engine = sa.create_engine(self.database)
        try:
            with engine.connect() as conn:
                row = conn.execute(
                    sa.text("SELECT id FROM devices WHERE name = :name"), {"name": name}
                ).one()
                return int(row[0])
        finally:
            engine.dispose()

    def query(self, sql: str, **params: Any) -> list[Any]:
        import sqlalchemy as sa  # noqa: PLC0415

        engine = sa.create_engine(self.database)
        try:
            with engine.connect() as conn:
                return list(conn.execute(sa.text(sql), params).all())
        finally:
            engine.dispose()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


@contextmanager
def served_city(directory: Path, *, persons: int = 300, card_files: int = 6) -> Iterator[City]:
    """Seed a demo city into SQLite under `directory` and serve it; stop it afterwards."""
    database = f"sqlite:///{directory / 'city.db'}"
    cards_dir = directory / "cards"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARDSVC_")}
    env.update(SERVER_ENV)
    seeded = subprocess.run(
        cardsvc("seed", "--persons", str(persons), "--demo", "--cards-dir", str(cards_dir),
                "--card-files", str(card_files), "--database", database),
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert seeded.returncode == 0, seeded.stderr
    index = json.loads((cards_dir / "index.json").read_text(encoding="utf-8"))
    port = free_port()
    log = directory / "server.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            cardsvc("serve", "--database", database, "--port", str(port), "--log-level", "warning"),
            cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT,
        )  # fmt: skip
    city = City(f"http://127.0.0.1:{port}", database, cards_dir, index, process, log)
    try:
        _wait_up(city)
        yield city
    finally:
        city.stop()


def _wait_up(city: City) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if city.process.poll() is not None:
            raise RuntimeError(f"the API exited: {city.log.read_text(errors='replace')}")
        try:
            if httpx.get(f"{city.url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"the API did not start: {city.log.read_text(errors='replace')}")


# --------------------------------------------------------------------------- the fake agent


def _problem(status: int, slug: str, title: str, **extra: Any) -> ApiProblem:
    return ApiProblem(status, f"https://cardsvc.invalid/problems/{slug}", title, extra=extra)


class FakeAgent:
    """The agent's port over a simulated card and the real API."""

    def __init__(self, api_url: str) -> None:
        self.api_url = api_url
        self.card_obj: UserCard | None = None
        self.profile: dict[str, Any] = {}
        self._pin_verified = False
        self._inserted = threading.Event()
        self._removed = threading.Event()
        self._removed.set()
        self.calls: list[str] = []
        self.sessions: list[str] = []
        self.initial_pin_signal = False

    # --- the tester's hands

    def insert(self, path: Path) -> None:
        self.profile = json.loads(path.read_text(encoding="utf-8"))
        self.card_obj = UserCard.from_file(path)
        self.card_obj.power_on()
        self._pin_verified = False
        self._removed.clear()
        self._inserted.set()

    def remove(self) -> None:
        self.card_obj = None
        self._inserted.clear()
        self._removed.set()

    # --- APDUs

    def _send(self, apdu: bytes) -> tuple[bytes, int]:
        if self.card_obj is None:
            raise _problem(404, "no-card", "No card in the reader")
        answer = self.card_obj.transmit(apdu)
        data, sw = answer[:-2], int.from_bytes(answer[-2:], "big")
        if sw >> 8 == 0x61:
            answer = self.card_obj.transmit(bytes((0x00, 0xC0, 0x00, 0x00, sw & 0xFF)))
            data, sw = answer[:-2], int.from_bytes(answer[-2:], "big")
        return data, sw

    def _read_tag(self, tag: int, length: int) -> bytes:
        data, sw = self._send(bytes((0x00, 0xB2, tag, 0x28, length + 2)))
        assert sw == 0x9000, f"READ RECORD {tag:02X}: {sw:04X}"
        return data[2:]

    def _challenge(self) -> bytes:
        data, sw = self._send(bytes.fromhex("0084000008"))
        assert sw == 0x9000
        return data

    # --- the port

    def card(self) -> dict[str, Any] | None:
        self.calls.append("card")
        if self.card_obj is None:
            return None
        return {
            "card_number": self.profile["card_number"],
            "generation": self.profile["generation"],
            "serve": True,
            "pin_verified": self._pin_verified,
        }

    def reader_string(self) -> str:
        self.calls.append("reader_string")
        if self.card_obj is None:
            raise _problem(404, "no-card", "No card in the reader")
        p = self.profile
        return f"{p['region_code']}|{p['ssn']}|{p['card_number']}|x|{p['name']}|x|x|x|x|x|x|"

    def verify_pin(self, pin: str) -> None:
        self.calls.append("verify_pin")
        digits = pin if len(pin) % 2 == 0 else pin + "F"
        bcd = bytes.fromhex(digits)
        self._send(SSSE_SELECT)
        _, sw = self._send(bytes((0x00, 0x20, 0x00, 0x00, len(bcd))) + bcd)
        if sw == 0x9000:
            if self.initial_pin_signal:
                self.initial_pin_signal = False
                raise _problem(409, "initial-pin", "The initial PIN must be changed")
            self._pin_verified = True
            return
        if sw >> 4 == 0x63C:
            raise _problem(403, "wrong-pin", "Wrong PIN", tries_left=sw & 0x0F)
        if sw == 0x6983:
            raise _problem(403, "pin-blocked", "The PIN is blocked")
        raise _problem(502, "card-error", f"VERIFY answered {sw:04X}")

    def change_pin(self, old_pin: str, new_pin: str) -> None:
        self.calls.append("change_pin")

        def bcd(pin: str) -> bytes:
            return bytes.fromhex(pin if len(pin) % 2 == 0 else pin + "F")

        body = bcd(old_pin) + b"\xff" + bcd(new_pin)
        self._send(SSSE_SELECT)
        _, sw = self._send(bytes((0x80, 0x5E, 0x01, 0x00, len(body))) + body)
        if sw == 0x9000:
            return
        if sw >> 4 == 0x63C:
            raise _problem(403, "wrong-pin", "Wrong PIN", tries_left=sw & 0x0F)
        raise _problem(403, "pin-blocked", "The PIN is blocked")

    def _present(self, token: str) -> tuple[ApiClient, dict[str, Any]]:
        api = ApiClient(self.api_url)
        api.use_token(token)
        _, sw = self._send(SSSE_SELECT)
        body = {
            "card_id_code": self._read_tag(0x01, 16).hex().upper(),
            "spec_version": self._read_tag(0x03, 4).decode("ascii"),
            "card_number": self._read_tag(0x07, 9).decode("ascii"),
            "atr": self.card_obj.atr.hex().upper() if self.card_obj else "",
            "application_blocked": sw == 0x6283,
        }
        opened = api.open_card_session(body)
        answer, sw = self._send(bytes.fromhex(opened["internal_authenticate"]))
        assert sw == 0x9000
        proof = api.prove_card_session(opened["session_id"], answer, self._pin_verified)
        return api, proof

    def open_session(self, token: str) -> dict[str, Any]:
        self.calls.append("open_session")
        api, proof = self._present(token)
        api.close()
        self.sessions.append(str(proof["session_id"]))
        return proof

    def reload_pin(self, new_pin: str, token: str) -> dict[str, Any]:
        self.calls.append("reload_pin")
        api, proof = self._present(token)
        try:
            command = api.card_command(
                proof["session_id"], "reload-pin", self._challenge(), new_pin=new_pin,
                id_checked=True,
            )  # fmt: skip
            _, sw = self._send(bytes.fromhex(command["apdu"]))
            assert sw == 0x9000, f"RELOAD PIN: {sw:04X}"
        finally:
            api.close()
        return {"reloaded": True, "session_id": proof["session_id"]}

    def wait_for_card(self, timeout: float) -> dict[str, Any]:
        self.calls.append("wait_for_card")
        if self._inserted.wait(timeout):
            card = self.card()
            if card is not None:
                return card
        raise _problem(408, "no-card", "Timed out")

    def wait_for_removal(self, timeout: float) -> None:
        if not self._removed.wait(timeout):
            raise _problem(408, "card-present", "Timed out")

    def close(self) -> None:
        pass


# --------------------------------------------------------------------------- running a session


@dataclass
class Run:
    code: int
    output: str


def run_counter_script(
    city: City, agent: FakeAgent | None, script: str, *, operator: str = "clerk.370402"
) -> Run:
    """A whole counter session driven by `script`, in process; its exit code and plain output."""
    out = io.StringIO()
    screen = Screen(out, plain=True, width=160)
    source = ScriptSource(io.StringIO(script), echo=screen.info)
    with ApiClient(city.url) as api:
        code = run_counter(api, agent, screen, source, username=operator, password=PASSWORD)
    return Run(code, out.getvalue())


def run_kiosk_script(
    city: City,
    agent: FakeAgent,
    script: str,
    *,
    receipt_dir: Path | None = None,
    idle_timeout: float = 60.0,
    source: Any = None,
    device: str = "kiosk.370402",
) -> Run:
    """A kiosk run driven by `script` (or `source`), in process; exit code and plain output."""
    out = io.StringIO()
    screen = Screen(out, plain=True, width=160)
    lines = source or ScriptSource(io.StringIO(script), echo=screen.info)
    with ApiClient(city.url) as api:
        code = run_kiosk(
            api, agent, screen, lines,
            device=str(city.device_id(device)), credential=DEVICE_SECRET,
            idle_timeout=idle_timeout, receipt_dir=receipt_dir, card_wait=2.0,
        )  # fmt: skip
    return Run(code, out.getvalue())


def pdf_characters(pdf: bytes) -> set[str]:
    """The characters a PDF's ToUnicode maps name (what its text can show)."""
    found = set()
    for match in re.finditer(rb"<[0-9A-F]{4}> <([0-9A-F]{4,8})>", pdf):
        text = bytes.fromhex(match.group(1).decode("ascii")).decode("utf-16-be", "replace")
        if text != "\x00":
            found.add(text)
    return found


# --------------------------------------------------------------------------- the real agent


@dataclass
class RealAgent:
    """The station agent (cardsvc.agent) on a station over the in-process reader backend."""

    backend: Any
    station: Any
    server: Any
    client: Any

    def insert(self, path: Path) -> dict[str, Any]:
        self.backend.insert(UserCard.from_file(path), CARD_READER)
        return wait_for_card(self.client, 20)  # presented (authenticated with the API)

    def remove(self) -> None:
        self.backend.remove(CARD_READER)


CARD_READER = "Card reader"
SAM_READER = "SAM reader"


@contextmanager
def real_agent(city: City, device: str) -> Iterator[RealAgent]:
    """`cardsvc agent`'s server for the seeded device `device`, readers in process."""
    from cardsvc.agent import AgentClient  # noqa: PLC0415
    from cardsvc.agent.server import AgentServer  # noqa: PLC0415
    from cardsvc.station import Station, StationConfig  # noqa: PLC0415
    from reader_driver import InProcessBackend  # noqa: PLC0415

    backend = InProcessBackend([CARD_READER, SAM_READER])
    config = StationConfig(
        api_url=city.url,
        device=str(city.device_id(device)),
        credential=DEVICE_SECRET,
        reader=CARD_READER,
        device_serial="TEST-COUNTER-1",
    )
    station = Station(backend, config)
    server = AgentServer(station, keepalive_s=0.5)
    server.start()
    try:
        with AgentClient(server.url, timeout=20) as client:
            yield RealAgent(backend, station, server, client)
    finally:
        server.stop()
        backend.close()
