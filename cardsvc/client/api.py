"""`ApiClient`: one terminal's (or clerk's) connection to the cardsvc API.

Every answer is JSON (None for 204); every failure is an `ApiProblem`, never an
httpx exception or a traceback: a problem+json answer keeps its members, a
connection refused or a timeout is ``ApiProblem(status=0, type="about:unreachable")``.

Writes (POST, PUT, PATCH, DELETE) carry an ``Idempotency-Key`` (a fresh uuid4 unless
the caller gives one, which is what a retry must do) except the routes that take
none by design: sign-in/out and the card-session routes (a challenge is answered
once; a card command is never stored).

A device signed in with `device_sign_in` signs in again by itself once when its
token expires (401 ``invalid-token``); an operator's password is never kept, so an
operator whose token expired gets the 401 problem and must sign in again.
"""

from __future__ import annotations

import json as jsonlib
import logging
import threading
import uuid
from collections.abc import Mapping
from datetime import datetime
from types import TracebackType
from typing import Any, Final, Self

import httpx

from cardsvc.client.errors import INVALID_ARGUMENT, UNREACHABLE, ApiProblem

logger = logging.getLogger(__name__)

CARD_SESSION_HEADER: Final = "X-Card-Session"
IDEMPOTENCY_HEADER: Final = "Idempotency-Key"
_WRITES: Final = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Writes that take no Idempotency-Key (see the module docstring).
_NO_KEY_PREFIXES: Final = ("/v1/auth/", "/v1/card-sessions")


class ApiClient:
    """A synchronous client of the API at `base_url` (e.g. ``http://127.0.0.1:8000``).

    Thread-safe as httpx.Client is; the token is shared by every thread using it.
    """

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout, transport=transport)
        self._token: str | None = None
        self._device: tuple[int, str] | None = None  # (id, credential) for a renewal
        self._lock = threading.Lock()
        self.identity: dict[str, Any] | None = None
        """The `operator` or `device` member of the last sign-in's answer."""

    def __repr__(self) -> str:
        who = "signed out" if self._token is None else "signed in"
        return f"ApiClient({self.base_url}, {who})"

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # --- signing in ---------------------------------------------------------------------

    @property
    def token(self) -> str | None:
        """The bearer token in use, None when signed out."""
        return self._token

    def use_token(self, token: str | None) -> None:
        """Act with a bearer token obtained elsewhere (e.g. a clerk's, passed to the agent)."""
        with self._lock:
            self._token = token
            self._device = None

    def login(self, username: str, password: str) -> None:
        """Operator sign-in; keeps the bearer token (the password is not kept)."""
        body = self._send(
            "POST", "/v1/auth/login", json={"username": username, "password": password}
        )
        with self._lock:
            self._token = str(body["access_token"])
            self._device = None
            self.identity = body.get("operator")

    def device_sign_in(self, device: str | int, credential: str) -> None:
        """Kiosk or counter-terminal sign-in with the device's id and credential.

        `device` is the id the device was registered with (a number, also as text:
        the API signs devices in by id, not by name).
        """
        device_id = _device_id(device)
        body = self._send(
            "POST",
            "/v1/auth/device-login",
            json={"device_id": device_id, "credential": credential},
        )
        with self._lock:
            self._token = str(body["access_token"])
            self._device = (device_id, credential)
            self.identity = body.get("device")

    def logout(self) -> None:
        """Revoke the token (harmless when it is already invalid); signed out afterwards."""
        token = self._token
        with self._lock:
            self._token = None
            self._device = None
            self.identity = None
        if token is None:
            return
        try:
            self._send("POST", "/v1/auth/logout", token=token)
        except ApiProblem as problem:
            if problem.status != 401:
                raise

    def me(self) -> dict[str, Any]:
        """Who the token belongs to (GET /v1/auth/me)."""
        return _object(self.request("GET", "/v1/auth/me"))

    # --- any route ----------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        json: object | None = None,
        params: Mapping[str, str] | None = None,
        card_session: str | None = None,
        idempotency_key: str | None = None,
    ) -> Any:
        """One call; the JSON answer (None for 204, the text for a non-JSON 2xx answer).

        Non-2xx answers and transport failures raise `ApiProblem`.
        """
        method = method.upper()
        key = idempotency_key
        if key is None and method in _WRITES and not path.startswith(_NO_KEY_PREFIXES):
            key = uuid.uuid4().hex
        try:
            return self._send(
                method, path, json=json, params=params, card_session=card_session, key=key
            )
        except ApiProblem as problem:
            if not (problem.status == 401 and problem.slug == "invalid-token"):
                raise
            device = self._device
            if device is None:
                raise
        logger.info("the device token expired: signing in again")
        self.device_sign_in(*device)
        return self._send(
            method, path, json=json, params=params, card_session=card_session, key=key
        )

    def _send(
        self,
        method: str,
        path: str,
        *,
        json: object | None = None,
        params: Mapping[str, str] | None = None,
        card_session: str | None = None,
        key: str | None = None,
        token: str | None = None,
    ) -> Any:
        headers = {"Accept": "application/json, application/problem+json"}
        bearer = token or self._token
        if bearer is not None:
            headers["Authorization"] = f"Bearer {bearer}"
        if card_session is not None:
            headers[CARD_SESSION_HEADER] = card_session
        if key is not None:
            headers[IDEMPOTENCY_HEADER] = key
        try:
            response = self._http.request(
                method,
                path,
                json=json,
                params=dict(params) if params is not None else None,
                headers=headers,
            )
        except httpx.TimeoutException:
            raise ApiProblem(
                0,
                UNREACHABLE,
                "The API did not answer in time",
                f"{method} {self.base_url}{path}: no answer within the timeout; "
                "check that the API is running and reachable, then retry",
            ) from None
        except httpx.HTTPError as exc:
            raise ApiProblem(
                0,
                UNREACHABLE,
                "The API cannot be reached",
                f"{method} {self.base_url}{path}: {exc or type(exc).__name__}; check the "
                "API's address (--api) and that it is running",
            ) from None
        return decode_answer(response)

    # --- the card-session flow -----------------------------------------------------------

    def open_card_session(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """POST /v1/card-sessions with what the terminal read → session id and challenge."""
        return _object(self.request("POST", "/v1/card-sessions", json=dict(body)))

    def prove_card_session(
        self,
        session_id: str,
        answer: bytes | str,
        pin_verified: bool = False,
        card_challenge: bytes | str | None = None,
    ) -> dict[str, Any]:
        """POST …/proof with the card's answer → the verified session (card, holder, terminal)."""
        body: dict[str, Any] = {"answer": _hex(answer), "pin_verified": pin_verified}
        if card_challenge is not None:
            body["card_challenge"] = _hex(card_challenge)
        return _object(self.request("POST", f"/v1/card-sessions/{session_id}/proof", json=body))

    def card_command(
        self,
        session_id: str,
        action: str,
        card_challenge: bytes | str,
        *,
        new_pin: str | None = None,
        id_checked: bool = False,
    ) -> dict[str, Any]:
        """POST …/card-commands → the APDU to send to the card next (`apdu`, hex)."""
        body: dict[str, Any] = {"action": action, "card_challenge": _hex(card_challenge)}
        if new_pin is not None:
            body["new_pin"] = new_pin
        if id_checked:
            body["id_checked"] = True
        path = f"/v1/card-sessions/{session_id}/card-commands"
        return _object(self.request("POST", path, json=body))

    def end_card_session(self, session_id: str) -> None:
        """DELETE /v1/card-sessions/{id} (card out); ending twice is fine."""
        self.request("DELETE", f"/v1/card-sessions/{session_id}")

    def hotlist(self, since: datetime | str | None = None) -> dict[str, Any]:
        """GET /v1/hotlist (incremental with the previous answer's `next_since`)."""
        params = None
        if since is not None:
            params = {"since": since.isoformat() if isinstance(since, datetime) else since}
        return _object(self.request("GET", "/v1/hotlist", params=params))


# --- helpers ------------------------------------------------------------------------------


def decode_answer(response: httpx.Response) -> Any:
    """The JSON (or text, or None) of a 2xx answer; ApiProblem for any other."""
    if response.is_success:
        if response.status_code == 204 or not response.content:
            return None
        if _is_json(response):
            return _decode(response)
        return response.text
    body: object = None
    if _is_json(response):
        try:
            body = _decode(response)
        except ApiProblem:
            body = None
    raise ApiProblem.from_body(response.status_code, body, response.reason_phrase)


def _is_json(response: httpx.Response) -> bool:
    kind: str = response.headers.get("content-type", "").split(";")[0].strip().lower()
    return kind == "application/json" or kind.endswith("+json")


def _decode(response: httpx.Response) -> Any:
    try:
        return jsonlib.loads(response.content)
    except ValueError:
        raise ApiProblem(
            response.status_code,
            "about:blank",
            "The API answered malformed JSON",
            f"{response.request.method} {response.request.url.path}",
        ) from None


def _object(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ApiProblem(
            200, "about:blank", "The API answered something else than a JSON object", ""
        )
    return value


def _hex(value: bytes | str) -> str:
    return value.hex().upper() if isinstance(value, bytes) else value.upper()


def _device_id(device: str | int) -> int:
    if isinstance(device, int) and device > 0:
        return device
    text = str(device).strip()
    if text.isascii() and text.isdigit() and int(text) > 0:
        return int(text)
    raise ApiProblem(
        0,
        INVALID_ARGUMENT,
        "Not a device id",
        "device sign-in takes the number the device was registered with (e.g. 1), not "
        "its name: the API signs devices in by id",
        field="device",
    )
