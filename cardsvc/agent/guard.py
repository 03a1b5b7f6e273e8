"""Who may talk to the agent: loopback clients only, and pages of the configured origin.

A pure ASGI middleware (server-sent events pass through unbuffered):

- the client's address (the ASGI scope's ``client``) must be loopback (127.0.0.0/8,
  ::1), else 403 — the agent binds 127.0.0.1 anyway; this holds if it is ever
  exposed by mistake (a port forward, a proxy);
- the Host header must name a loopback host (localhost, 127.x, [::1]), else 403:
  a DNS-rebinding page cannot borrow the agent;
- a request with an ``Origin`` header must come from the configured origin
  (``--allow-origin``), else 403; requests without Origin (curl, programs) pass;
- the allowed origin gets CORS headers (and its preflights, including Private
  Network Access, are answered); nobody else gets any.
"""

from __future__ import annotations

import ipaddress
from typing import Final

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cardsvc.agent.problems import problem

ALLOW_METHODS: Final = "GET, POST, OPTIONS"
ALLOW_HEADERS: Final = "Authorization, Content-Type, Accept, Last-Event-ID"
MAX_AGE: Final = "600"
_LOOPBACK_NAMES: Final = frozenset({"localhost", "localhost.", "ip6-localhost"})


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return host.lower() in _LOOPBACK_NAMES


def host_name(host_header: str) -> str:
    """The host part of a Host header (`[::1]:7443` → `::1`, `localhost:7443` → `localhost`)."""
    if host_header.startswith("["):
        return host_header[1 : host_header.find("]")] if "]" in host_header else host_header
    return host_header.rsplit(":", 1)[0] if host_header.count(":") == 1 else host_header


class LocalGuard:
    """Loopback, Host and Origin checks, and CORS for the one allowed origin."""

    def __init__(self, app: ASGIApp, allowed_origin: str | None) -> None:
        self.app = app
        self.allowed_origin = allowed_origin.rstrip("/") if allowed_origin else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        address = client[0] if client else None
        if not is_loopback(address):
            response = problem(
                403, "forbidden", "the station agent answers only on this computer (loopback)"
            )
            await response(scope, receive, send)
            return
        headers = Headers(scope=scope)
        host = headers.get("host")
        if host is not None and not is_loopback(host_name(host)):
            response = problem(
                403,
                "forbidden",
                "the Host header must name this computer (localhost or 127.0.0.1)",
                field="Host",
            )
            await response(scope, receive, send)
            return
        origin = headers.get("origin")
        if origin is not None and origin.rstrip("/") != self.allowed_origin:
            response = problem(
                403,
                "forbidden",
                "pages of this origin may not use the station agent (see --allow-origin)",
                field="Origin",
            )
            await response(scope, receive, send)
            return
        if (
            origin is not None
            and scope["method"] == "OPTIONS"
            and ("access-control-request-method" in headers)
        ):
            await self._preflight(origin, headers, scope, receive, send)
            return
        if origin is None:
            await self.app(scope, receive, send)
            return

        async def with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                raw = list(message.get("headers", []))
                raw.append((b"access-control-allow-origin", origin.encode("latin-1")))
                raw.append((b"vary", b"Origin"))
                message = {**message, "headers": raw}
            await send(message)

        await self.app(scope, receive, with_cors)

    async def _preflight(
        self, origin: str, headers: Headers, scope: Scope, receive: Receive, send: Send
    ) -> None:
        answer = {
            "access-control-allow-origin": origin,
            "access-control-allow-methods": ALLOW_METHODS,
            "access-control-allow-headers": ALLOW_HEADERS,
            "access-control-max-age": MAX_AGE,
            "vary": "Origin",
        }
        if headers.get("access-control-request-private-network") == "true":
            answer["access-control-allow-private-network"] = "true"
        raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in answer.items()]
        await send({"type": "http.response.start", "status": 204, "headers": raw})
        await send({"type": "http.response.body", "body": b""})
