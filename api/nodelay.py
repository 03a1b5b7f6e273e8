"""uvicorn's HTTP/1.1 protocol with Nagle's algorithm off on every connection.

With ``--workers N`` (N > 1) uvicorn's supervisor binds the listening socket and hands
it to the worker processes with ``proto`` 0 (``cardsvc serve`` now gives each worker a
socket of its own, api.serving, but keeps this protocol for any listener made so). asyncio turns
``TCP_NODELAY`` on only for accepted sockets that report ``IPPROTO_TCP``, so on those
connections Nagle's algorithm stays on: a response written in two parts (headers, then
body) waits for the client's delayed ACK, about 40 ms on Linux, on every request of a
kept-alive connection after the first (uvicorn issue #3149, still open). Kiosks,
counters and station agents keep their connections alive, so every one of their
requests paid it. Measured here: ``GET /healthz`` with 8 keep-alive clients, 2 workers,
182 answers/s before (each 44 ms), 5,600/s with this protocol.

:class:`NoDelayH11Protocol` sets the option itself when a connection is made; ``cardsvc
serve`` passes it to uvicorn as ``http=`` (:data:`HTTP_PROTOCOL`). A single worker
already had the option (asyncio builds that listener itself): setting it again is harmless.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

HTTP_PROTOCOL = "api.nodelay:NoDelayH11Protocol"
"""What ``cardsvc serve`` gives uvicorn as ``http=`` (an import string: the workers load it)."""


def no_delay(transport: asyncio.BaseTransport) -> None:
    """Turn Nagle's algorithm off on `transport`'s TCP socket (nothing for other sockets)."""
    sock: Any = transport.get_extra_info("socket")
    if sock is None or sock.family not in {socket.AF_INET, socket.AF_INET6}:
        return
    with contextlib.suppress(OSError):  # a socket the peer already closed: nothing to tune
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class NoDelayH11Protocol(H11Protocol):
    """uvicorn's h11 protocol; every connection gets ``TCP_NODELAY`` first."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        no_delay(transport)
        super().connection_made(transport)
