"""`AgentClient`: the Python client of the station agent's local HTTP interface.

Failures are `ApiProblem` (cardsvc.client), as from the API: a problem answer keeps
its members (``slug`` ``wrong-pin`` with ``extra["tries_left"]``, ``pin-blocked``,
``no-card``, ``card-not-served`` …); an agent that does not answer is status 0,
``about:unreachable``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Final, Self

import httpx

from cardsvc.client.api import decode_answer
from cardsvc.client.errors import UNREACHABLE, ApiProblem

DEFAULT_AGENT_URL: Final = "http://127.0.0.1:7443"
_CONNECT_S: Final = 5.0


@dataclass(frozen=True, slots=True)
class AgentEvent:
    """One server-sent event: `kind` (card-inserted, card-removed, …) and its JSON data."""

    kind: str
    data: dict[str, Any]


class AgentClient:
    """A client of the agent at `base_url` (default http://127.0.0.1:7443)."""

    def __init__(
        self,
        base_url: str = DEFAULT_AGENT_URL,
        *,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout, transport=transport)

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

    # --- the routes ---------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        return _object(self._call("GET", "/v1/health"))

    def card(self) -> dict[str, Any] | None:
        """The presented card, None when there is none."""
        try:
            return _object(self._call("GET", "/v1/card"))
        except ApiProblem as problem:
            if problem.slug == "no-card":
                return None
            raise

    def reader_string(self) -> str:
        """The card contract's section-8 string."""
        return str(self._call("GET", "/v1/card/reader-string"))

    def verify_pin(self, pin: str) -> None:
        """VERIFY on the card; ApiProblem wrong-pin (tries_left) / pin-blocked otherwise."""
        self._call("POST", "/v1/card/pin/verify", json={"pin": pin})

    def change_pin(self, old_pin: str, new_pin: str) -> None:
        self._call("POST", "/v1/card/pin/change", json={"old_pin": old_pin, "new_pin": new_pin})

    def reload_pin(self, new_pin: str, token: str, *, id_checked: bool = True) -> dict[str, Any]:
        """RELOAD PIN for the clerk of `token`; {"reloaded", "session_id"} (record it with
        POST /v1/cards/{number}/pin-reload and X-Card-Session: session_id at the API)."""
        body = {"new_pin": new_pin, "id_checked": id_checked}
        return _object(self._call("POST", "/v1/card/pin/reload", json=body, token=token))

    def open_session(self, token: str) -> dict[str, Any]:
        """A card session of the caller of `token` (the API's VerifiedCardSession)."""
        return _object(self._call("POST", "/v1/card/session", token=token))

    # --- events -------------------------------------------------------------------------

    def events(self, timeout: float | None = None) -> Iterator[AgentEvent]:
        """The agent's events as they come, for `timeout` seconds (None: until closed)."""
        with self._stream(timeout) as lines:
            yield from _parse(lines)

    def wait_for_card(self, timeout: float = 30.0) -> dict[str, Any]:
        """The card in the reader, waiting for one; ApiProblem no-card after `timeout`."""
        with self._stream(timeout) as lines:
            current = self.card()  # asked once the stream is open: no insertion is missed
            if current is not None:
                return current
            for event in _parse(lines):
                if event.kind == "card-inserted":
                    return event.data
        raise _timed_out("no card was inserted", timeout)

    def wait_for_removal(self, timeout: float = 30.0) -> None:
        """Return once the reader is empty; ApiProblem card-present after `timeout`."""
        with self._stream(timeout) as lines:
            if self.card() is None:
                return
            for event in _parse(lines):
                if event.kind == "card-removed":
                    return
        raise _timed_out("the card was not taken out", timeout, slug="card-present")

    # --- internals ----------------------------------------------------------------------

    def _call(
        self, method: str, path: str, *, json: object | None = None, token: str | None = None
    ) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token is not None else None
        try:
            response = self._http.request(method, path, json=json, headers=headers)
        except httpx.HTTPError as exc:
            raise _unreachable(self.base_url, path, exc) from None
        return decode_answer(response)

    def _stream(self, timeout: float | None) -> _Lines:
        return _Lines(self._http, self.base_url, timeout)


class _Lines:
    """The event stream's lines until a deadline; opened (": connected" read) on enter."""

    def __init__(self, http: httpx.Client, base_url: str, timeout: float | None) -> None:
        self._http = http
        self._base_url = base_url
        self._deadline = None if timeout is None else time.monotonic() + timeout
        ping = 1.0 if timeout is None else max(0.2, min(1.0, timeout / 4))
        self._params = {"ping": f"{ping:g}"}
        self._timeout = httpx.Timeout(_CONNECT_S, read=ping + _CONNECT_S)
        self._context: Any = None
        self._lines: Iterator[str] | None = None

    def __enter__(self) -> Iterator[str]:
        try:
            self._context = self._http.stream(
                "GET", "/v1/events", params=self._params, timeout=self._timeout
            )
            response = self._context.__enter__()
            if response.status_code != 200:
                response.read()
                decode_answer(response)
            self._lines = response.iter_lines()
            for line in self._lines:  # the stream is open once ": connected" arrives
                if line.startswith(": connected"):
                    break
        except httpx.HTTPError as exc:
            self.__exit__(None, None, None)
            raise _unreachable(self._base_url, "/v1/events", exc) from None
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self._bounded()

    def _bounded(self) -> Iterator[str]:
        assert self._lines is not None
        try:
            for line in self._lines:
                yield line
                if self._deadline is not None and time.monotonic() > self._deadline:
                    return
        except httpx.HTTPError as exc:
            raise _unreachable(self._base_url, "/v1/events", exc) from None

    def __exit__(self, *exc: object) -> None:
        context, self._context = self._context, None
        if context is not None:
            context.__exit__(None, None, None)


def _parse(lines: Iterator[str]) -> Iterator[AgentEvent]:
    """Server-sent events from lines (comments and retry fields skipped)."""
    kind, data = "message", list[str]()
    for line in lines:
        if not line:
            if data:
                yield AgentEvent(kind, json.loads("\n".join(data)))
            kind, data = "message", []
        elif line.startswith(":"):
            continue
        elif line.startswith("event:"):
            kind = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].lstrip())


def _object(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ApiProblem(200, "about:blank", "The agent answered something else than an object")
    return value


def _unreachable(base_url: str, path: str, exc: BaseException) -> ApiProblem:
    return ApiProblem(
        0,
        UNREACHABLE,
        "The station agent cannot be reached",
        f"{base_url}{path}: {exc or type(exc).__name__}; is `cardsvc agent` running there "
        "(--agent URL)?",
    )


def _timed_out(what: str, timeout: float, slug: str = "no-card") -> ApiProblem:
    return ApiProblem(
        408, "https://cardsvc.invalid/problems/" + slug, "Timed out", f"{what} within {timeout:g} s"
    )
