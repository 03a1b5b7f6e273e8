"""The served API for the card tests: demo key service, generous rate limits, and helpers
for callers (operators, kiosks) and for the card-session flow over HTTP.
"""

from __future__ import annotations

import secrets
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from api_harness import ApiServer, Records, launch_server, stop_servers
from card_terminal import SimTerminal, TestCard

from api import tokens
from cardsvc.db.models import ApiToken, DeviceKind, Role

CARD_SERVER_ENV: dict[str, str] = {
    "CARDSVC_DEMO": "1",
    "CARDSVC_KEY_FILE": "demo",
    "CARDSVC_RATE_LIMIT_OPERATOR": "100000",
    "CARDSVC_RATE_LIMIT_DEVICE": "100000",
}


def launch_card_servers(url: str, log_dir: Path, count: int) -> list[ApiServer]:
    with ThreadPoolExecutor(max_workers=count) as pool:
        futures = [
            pool.submit(launch_server, url, log_dir / f"s{i}", **CARD_SERVER_ENV)
            for i in range(count)
        ]
        return [f.result() for f in futures]


@dataclass
class CardApi:
    """One engine's card servers and database."""

    engine_name: str
    url: str
    records: Records
    servers: list[ApiServer] = field(default_factory=list)

    def client(self, index: int = 0) -> httpx.Client:
        return self.servers[index].client()

    def close(self) -> None:
        stop_servers(self.servers)
        self.records.dispose()

    def logs(self) -> str:
        return "\n".join(server.log() for server in self.servers)

    # -- callers ---------------------------------------------------------------------

    def _token(self, *, operator_id: int | None = None, device_id: int | None = None) -> str:
        token = secrets.token_urlsafe(32)
        now = datetime.now(UTC)
        with self.records.session() as session:
            session.add(
                ApiToken(
                    token_hash=tokens.digest(token),
                    operator_id=operator_id,
                    device_id=device_id,
                    issued_at=now,
                    expires_at=now + timedelta(hours=1),
                )
            )
        return token

    def operator(self, *roles: Role, site_code: str | None = None) -> Caller:
        chosen = frozenset(roles or (Role.CLERK,))
        kwargs: dict[str, Any] = {"roles": chosen}
        if site_code is not None:
            kwargs["site_code"] = site_code
        login = self.records.operator(**kwargs)
        return Caller(self, {"Authorization": f"Bearer {self._token(operator_id=login.id)}"})

    def kiosk(self, kind: DeviceKind = DeviceKind.KIOSK) -> Caller:
        login = self.records.device(kind=kind)
        return Caller(self, {"Authorization": f"Bearer {self._token(device_id=login.id)}"})


@dataclass
class Caller:
    """An authenticated operator or device, with the card-session steps over HTTP."""

    api: CardApi
    headers: dict[str, str]
    server: int = 0

    def on(self, server: int) -> Caller:
        return Caller(self.api, self.headers, server)

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        headers: dict[str, str] | None = None,
        params: dict[str, Any] | None = None,
    ) -> httpx.Response:
        with self.api.client(self.server) as client:
            return client.request(
                method, path, json=json, headers={**self.headers, **(headers or {})}, params=params
            )

    def write(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        key: str | None = None,
        session: str | None = None,
        params: dict[str, Any] | None = None,
    ) -> httpx.Response:
        headers = {"Idempotency-Key": key or uuid.uuid4().hex}
        if session is not None:
            headers["X-Card-Session"] = session
        return self.request(method, path, json=json, headers=headers, params=params)

    # -- the card session -------------------------------------------------------------

    def open(self, body: dict[str, Any]) -> dict[str, Any]:
        response = self.request("POST", "/v1/card-sessions", json=body)
        assert response.status_code == 201, response.text
        opened: dict[str, Any] = response.json()
        return opened

    def prove(self, session_id: str, **body: Any) -> httpx.Response:
        return self.request("POST", f"/v1/card-sessions/{session_id}/proof", json=body)

    def command(self, session_id: str, **body: Any) -> httpx.Response:
        return self.request("POST", f"/v1/card-sessions/{session_id}/card-commands", json=body)

    def present(
        self, card: TestCard | SimTerminal, *, pin: str | None = None, gen3_challenge: bool = False
    ) -> tuple[SimTerminal, str, httpx.Response]:
        """The whole presentation: SELECT, EF05, open, (VERIFY), INTERNAL AUTHENTICATE, proof."""
        terminal = card.terminal() if isinstance(card, TestCard) else card
        assert terminal.select().sw == 0x9000
        opened = self.open(terminal.presentation(blocked=False))
        pin_ok = False
        if pin is not None:
            pin_ok = terminal.verify_pin(pin) == 0x9000
        answer = terminal.send(opened["internal_authenticate"])
        assert answer.sw == 0x9000, f"INTERNAL AUTHENTICATE: {answer.sw:04X}"
        body: dict[str, Any] = {"answer": answer.data.hex().upper(), "pin_verified": pin_ok}
        if gen3_challenge:
            body["card_challenge"] = terminal.get_challenge().hex().upper()
        return terminal, opened["session_id"], self.prove(opened["session_id"], **body)
