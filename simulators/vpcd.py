"""The vpcd transport: a simulated card in a virtual reader that pcscd sees as real.

vsmartcard's vpcd driver (loaded by pcscd) listens on a TCP port per reader;
the virtual card is the TCP client. Every message is a 2-byte big-endian
length and a payload. A 1-byte payload from vpcd is a control byte (00 power
off, 01 power on, 02 reset, 04 get ATR, answered with the ATR); any other
payload is a command APDU, answered with the response APDU. The card is
"present" while the socket is connected; vpcd asks for the ATR on every
presence poll.

Debian's vpcd writes the length and the payload separately, so the socket sets
TCP_NODELAY and TCP_QUICKACK (before every recv: the kernel clears it), or each
APDU would wait for a delayed ACK.

`VpcdSlot` runs one card in one reader on a background thread: it connects
while the card is inserted, reconnects with a short backoff when vpcd is not
there or goes away, applies the slot's `Faults`, and never dies on garbage.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from collections.abc import Callable
from typing import Final, TypeVar

from cardsvc.apdu import TRACE, redact, redact_response
from simulators.base import SimulatedCard
from simulators.errors import SimulatorError
from simulators.faults import WRONG_ATR, Faults, FaultSettings, corrupt_response

logger = logging.getLogger(__name__)

_T = TypeVar("_T")


DEFAULT_HOST: Final = "127.0.0.1"
DEFAULT_PORT: Final = 35963

CTRL_POWER_OFF: Final = 0x00
CTRL_POWER_ON: Final = 0x01
CTRL_RESET: Final = 0x02
CTRL_ATR: Final = 0x04

# How long a blocking recv waits before the thread looks at its flags again.
_POLL_S: Final = 0.2
_CONNECT_TIMEOUT_S: Final = 0.5
_BACKOFF_FIRST_S: Final = 0.05
_BACKOFF_MAX_S: Final = 0.5
_STOP_JOIN_S: Final = 1.0
# Answer of a card that raised instead of answering (6F00: no precise diagnosis).
_CARD_FAILED: Final = b"\x6f\x00"


class VpcdAddressError(SimulatorError, ValueError):
    """A vpcd address that is not HOST:PORT."""


def parse_vpcd_address(text: str) -> tuple[str, int]:
    """Parse `HOST:PORT` (IPv6 as `[::1]:PORT`) into (host, port)."""
    host, sep, port_text = text.strip().rpartition(":")
    if not sep or not host:
        raise VpcdAddressError(f"vpcd address {text!r}: expected HOST:PORT, e.g. 127.0.0.1:35963")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not host or any(c.isspace() for c in host):
        raise VpcdAddressError(f"vpcd address {text!r}: host is empty or contains spaces")
    if not port_text.isdigit():
        raise VpcdAddressError(f"vpcd address {text!r}: port {port_text!r} is not a number")
    port = int(port_text)
    if not 1 <= port <= 65535:
        raise VpcdAddressError(f"vpcd address {text!r}: port must be 1..65535, not {port}")
    return host, port


class _DisconnectError(Exception):
    """The connection to vpcd is over (EOF, reset, card pulled, slot stopping)."""


def _quickack(sock: socket.socket) -> None:
    """Ask the kernel to ACK at once; it forgets after a while, so call before every recv."""
    quickack = getattr(socket, "TCP_QUICKACK", None)
    if quickack is not None:
        sock.setsockopt(socket.IPPROTO_TCP, quickack, 1)


def _tune(sock: socket.socket) -> None:
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    _quickack(sock)
    sock.settimeout(_POLL_S)


def _atr(card: SimulatedCard) -> bytes:
    return card.atr


def _power_on(card: SimulatedCard) -> None:
    card.power_on()


def _reset(card: SimulatedCard) -> None:
    card.reset()


def _power_off(card: SimulatedCard) -> None:
    card.power_off()


def _frame(payload: bytes) -> bytes:
    return len(payload).to_bytes(2, "big") + payload


class VpcdSlot:
    """One simulated card in one vpcd reader (one TCP port), served by a background thread."""

    def __init__(
        self,
        card: SimulatedCard | None,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        faults: Faults | None = None,
        name: str = "",
    ) -> None:
        self._card = card
        self._host = host
        self._port = port
        self._faults = faults if faults is not None else Faults()
        self.name = name or f"vpcd {host}:{port}"
        self._lock = threading.RLock()  # guards _card, _sock and the counters
        self._sock: socket.socket | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._apdus = 0
        self._connections = 0
        self._failures = 0
        self._drop_reason = ""  # why the slot itself ended the connection, for the log

    # --- public surface ------------------------------------------------------

    @property
    def faults(self) -> Faults:
        return self._faults

    @property
    def card(self) -> SimulatedCard | None:
        with self._lock:
            return self._card

    @property
    def address(self) -> str:
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"{host}:{self._port}"

    @property
    def port(self) -> int:
        return self._port

    @property
    def connected(self) -> bool:
        with self._lock:
            return self._sock is not None

    @property
    def running(self) -> bool:
        thread = self._thread
        return thread is not None and thread.is_alive()

    def start(self) -> None:
        """Start the background thread (once); it connects while the card is inserted."""
        if self.running:
            return
        self._stop.clear()
        self._faults.subscribe(self._on_faults)
        thread = threading.Thread(target=self._run, name=f"vpcd-slot {self.name}", daemon=True)
        self._thread = thread
        thread.start()

    def stop(self, timeout: float = _STOP_JOIN_S) -> None:
        """Disconnect and end the thread; returns within `timeout` seconds."""
        self._stop.set()
        self._wake.set()
        self._faults.unsubscribe(self._on_faults)
        self._shutdown_socket("slot stopping")
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():  # pragma: no cover - only if a card call hangs
                logger.warning("%s: thread did not stop within %.1f s", self.name, timeout)
            else:
                self._thread = None

    def insert(self, card: SimulatedCard | None = None) -> None:
        """Put the card in (connect); with `card`, put that card in instead of the current one.

        Inserting a different card while one is in is a swap: vpcd sees the old
        card go and the new one come.
        """
        with self._lock:
            if card is not None and card is not self._card:
                self._card = card
                self._shutdown_socket("card swapped")
        self._faults.removed = False
        self._wake.set()

    def remove(self) -> None:
        """Pull the card out (disconnect); it stays out until `insert`."""
        self._faults.removed = True

    def swap(self, card: SimulatedCard) -> None:
        """Take the current card out and put `card` in (the slot ends up inserted)."""
        with self._lock:
            self._card = card
            self._shutdown_socket("card swapped")
        self._faults.removed = False
        self._wake.set()

    def state(self) -> dict[str, object]:
        settings = self._faults.snapshot()
        with self._lock:
            card = self._card
            return {
                "name": self.name,
                "address": self.address,
                "inserted": card is not None and not settings.removed,
                "connected": self._sock is not None,
                "running": self.running,
                "apdus": self._apdus,
                "connections": self._connections,
                "faults": settings.to_dict(),
                "card": card.state() if card is not None else None,
            }

    # --- background thread ---------------------------------------------------

    def _on_faults(self, settings: FaultSettings) -> None:
        if settings.removed:
            self._shutdown_socket("card removed")
        self._wake.set()

    def _shutdown_socket(self, reason: str) -> None:
        """Wake a blocked recv on the current connection; the thread closes it."""
        with self._lock:
            sock = self._sock
            if sock is not None:
                self._drop_reason = reason
        if sock is not None:
            with contextlib.suppress(OSError):  # already gone
                sock.shutdown(socket.SHUT_RDWR)

    def _idle(self, seconds: float) -> None:
        self._wake.wait(seconds)
        self._wake.clear()

    def _run(self) -> None:
        logger.debug("%s: thread started", self.name)
        try:
            while not self._stop.is_set():
                if self._faults.removed or self.card is None:
                    self._idle(_BACKOFF_MAX_S)
                    continue
                sock = self._connect()
                if sock is None:
                    delay = min(_BACKOFF_FIRST_S * 2 ** min(self._failures, 8), _BACKOFF_MAX_S)
                    self._idle(delay)
                    continue
                try:
                    self._serve(sock)
                except _DisconnectError as exc:
                    logger.info("%s: disconnected (%s)", self.name, exc)
                except OSError as exc:
                    reason = self._drop_reason or f"connection lost: {exc}"
                    logger.info("%s: disconnected (%s)", self.name, reason)
                finally:
                    self._close(sock)
        finally:
            logger.debug("%s: thread stopped", self.name)

    def _connect(self) -> socket.socket | None:
        try:
            sock = socket.create_connection((self._host, self._port), timeout=_CONNECT_TIMEOUT_S)
        except OSError as exc:
            self._failures += 1
            level = logging.INFO if self._failures == 1 else logging.DEBUG
            logger.log(level, "%s: vpcd not reachable (%s); retrying", self.name, exc)
            return None
        try:
            _tune(sock)
        except OSError as exc:
            logger.info("%s: cannot set socket options (%s)", self.name, exc)
            sock.close()
            return None
        with self._lock:
            if self._stop.is_set() or self._faults.removed or self._card is None:
                sock.close()
                return None
            self._sock = sock
            self._connections += 1
            self._drop_reason = ""
        self._failures = 0
        logger.info("%s: card inserted (connected to vpcd)", self.name)
        return sock

    def _close(self, sock: socket.socket) -> None:
        with self._lock:
            if self._sock is sock:
                self._sock = None
            if self._card is not None:  # a card out of the reader has no power
                self._with_card("power off", _power_off, None)
        with contextlib.suppress(OSError):
            sock.close()

    def _recv_exact(self, sock: socket.socket, size: int) -> bytes:
        buf = bytearray()
        while len(buf) < size:
            if self._stop.is_set():
                raise _DisconnectError("slot stopping")
            _quickack(sock)
            try:
                chunk = sock.recv(size - len(buf))
            except TimeoutError:
                continue
            if not chunk:
                what = "mid-frame" if buf else "between frames"
                raise _DisconnectError(self._drop_reason or f"vpcd closed the connection {what}")
            buf += chunk
        return bytes(buf)

    def _read_frame(self, sock: socket.socket) -> bytes:
        header = self._recv_exact(sock, 2)
        size = int.from_bytes(header, "big")
        return self._recv_exact(sock, size) if size else b""

    def _send(self, sock: socket.socket, payload: bytes) -> None:
        if len(payload) > 0xFFFF:
            logger.error("%s: answer of %d bytes does not fit a frame", self.name, len(payload))
            payload = _CARD_FAILED
        sock.sendall(_frame(payload))

    def _serve(self, sock: socket.socket) -> None:
        while not self._stop.is_set():
            frame = self._read_frame(sock)
            if not frame:
                logger.warning("%s: empty frame from vpcd ignored", self.name)
            elif len(frame) == 1:
                self._control(sock, frame[0])
            else:
                self._command(sock, frame)

    def _with_card(self, what: str, action: Callable[[SimulatedCard], _T], fallback: _T) -> _T:
        """Run `action` on the card under the lock; a card that raises gives `fallback`."""
        with self._lock:
            card = self._card
            if card is None:
                raise _DisconnectError("no card in the slot")
            try:
                return action(card)
            except Exception:  # a broken card must not take the reader down (logged)
                logger.exception("%s: the card failed on %s", self.name, what)
                return fallback

    def _control(self, sock: socket.socket, code: int) -> None:
        if code == CTRL_ATR:
            atr = WRONG_ATR if self._faults.wrong_atr else self._with_card("ATR", _atr, b"")
            if not atr:
                raise _DisconnectError("the card has no ATR")
            self._send(sock, atr)
        elif code == CTRL_POWER_ON:
            logger.debug("%s: power on", self.name)
            self._with_card("power on", _power_on, None)
        elif code == CTRL_RESET:
            logger.debug("%s: reset", self.name)
            self._with_card("reset", _reset, None)
        elif code == CTRL_POWER_OFF:
            logger.debug("%s: power off", self.name)
            self._with_card("power off", _power_off, None)
        else:
            logger.warning("%s: unknown control byte %02X from vpcd ignored", self.name, code)

    def _command(self, sock: socket.socket, apdu: bytes) -> None:
        trace = logger.isEnabledFor(TRACE)
        if self._faults.take_mid_command():
            if trace:
                logger.log(TRACE, "%s: C %s R (card pulled)", self.name, redact(apdu))
            raise _DisconnectError("card pulled mid-command (fault)")
        settings = self._faults.snapshot()
        if settings.mute:
            if trace:
                logger.log(TRACE, "%s: C %s R (mute)", self.name, redact(apdu))
            return
        response = self._with_card("transmit", lambda card: card.transmit(apdu), _CARD_FAILED)
        if len(response) < 2:
            logger.error("%s: the card answered %d bytes; sending 6F00", self.name, len(response))
            response = _CARD_FAILED
        with self._lock:
            self._apdus += 1
        if settings.slow_ms and self._stop.wait(settings.slow_ms / 1000):
            raise _DisconnectError("slot stopping")
        response = corrupt_response(response, settings.corrupt)
        if trace:
            logger.log(
                TRACE, "%s: C %s R %s", self.name, redact(apdu), redact_response(apdu, response)
            )
        self._send(sock, response)
