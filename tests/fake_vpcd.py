"""An in-process stand-in for vsmartcard's vpcd: the TCP server a virtual card connects to.

Speaks the vpcd wire protocol (2-byte big-endian length + payload; 1-byte
payloads are control bytes) from the reader side, so the transport can be
tested without pcscd. Every blocking call has a timeout.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

POWER_OFF = 0x00
POWER_ON = 0x01
RESET = 0x02
GET_ATR = 0x04

TIMEOUT = 5.0


class FakeVpcd:
    """A listening socket on 127.0.0.1 that accepts one virtual card at a time."""

    def __init__(self, port: int = 0) -> None:
        self._server: socket.socket | None = None
        self.client: socket.socket | None = None
        self.port = port
        self.listen()

    # --- server lifecycle ----------------------------------------------------

    def listen(self) -> None:
        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", self.port))
        server.listen(1)
        self.port = server.getsockname()[1]
        self._server = server

    def accept(self, timeout: float = TIMEOUT) -> socket.socket:
        assert self._server is not None, "not listening"
        self._server.settimeout(timeout)
        client, _ = self._server.accept()
        client.settimeout(timeout)
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.client = client
        return client

    def drop_client(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None

    def close(self) -> None:
        # the listener first, so a card that sees its connection end cannot get
        # into the backlog of a listener about to close
        if self._server is not None:
            self._server.close()
            self._server = None
        self.drop_client()

    def __enter__(self) -> FakeVpcd:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- wire protocol -------------------------------------------------------

    def send_raw(self, data: bytes) -> None:
        assert self.client is not None, "no card connected"
        self.client.sendall(data)

    def send(self, payload: bytes) -> None:
        self.send_raw(len(payload).to_bytes(2, "big") + payload)

    def recv_exact(self, size: int) -> bytes:
        assert self.client is not None, "no card connected"
        buf = b""
        while len(buf) < size:
            chunk = self.client.recv(size - len(buf))
            if not chunk:
                raise ConnectionError("card closed the connection")
            buf += chunk
        return buf

    def recv(self) -> bytes:
        size = int.from_bytes(self.recv_exact(2), "big")
        return self.recv_exact(size)

    def control(self, code: int) -> None:
        self.send(bytes((code,)))

    def atr(self) -> bytes:
        self.control(GET_ATR)
        return self.recv()

    def transmit(self, apdu: bytes) -> bytes:
        self.send(apdu)
        return self.recv()

    def expect_silence(self, seconds: float) -> bool:
        """True if the card sends nothing and keeps the connection for `seconds`."""
        assert self.client is not None, "no card connected"
        self.client.settimeout(seconds)
        try:
            data = self.client.recv(1)
        except TimeoutError:
            return True
        finally:
            self.client.settimeout(TIMEOUT)
        del data  # anything (bytes or EOF) breaks the silence
        return False

    def expect_closed(self, timeout: float = TIMEOUT) -> bool:
        """True if the card closes the connection within `timeout` (sending nothing)."""
        assert self.client is not None, "no card connected"
        self.client.settimeout(timeout)
        try:
            data = self.client.recv(1)
        except TimeoutError:
            return False
        except ConnectionResetError:
            return True
        return data == b""

    def expect_no_connection(self, seconds: float) -> bool:
        """True if no card connects within `seconds`."""
        assert self._server is not None, "not listening"
        self._server.settimeout(seconds)
        try:
            client, _ = self._server.accept()
        except TimeoutError:
            return True
        client.close()
        return False


def wait_until(condition: Callable[[], bool], timeout: float = TIMEOUT) -> bool:
    """Poll `condition` until true or `timeout` seconds; returns the last result."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()
