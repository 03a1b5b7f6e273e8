"""Run vsmartcard's vicc with TCP_NODELAY and TCP_QUICKACK on its vpcd socket.

Debian's vpcd driver writes a frame's 2-byte length and its payload in two
writes; vicc reads them in two recvs and, with the kernel's delayed ACKs, the
payload waits for the ACK of the length (tens of milliseconds per APDU). Our
simulators' vpcd transport sets TCP_NODELAY once and TCP_QUICKACK before every
recv (the kernel clears QUICKACK again after a while). This wrapper gives vicc
the same, so that the benchmark compares card code and not socket options:
it replaces `socket.socket` with a subclass whose `connect` sets TCP_NODELAY and
whose `recv` sets TCP_QUICKACK first, before `virtualsmartcard.VirtualSmartcard`
is imported. Nothing else of vicc changes.

Run it with vicc's modules on PYTHONPATH (Debian's python3-virtualsmartcard
installs them outside Python's path) and pycryptodome installed:

    PYTHONPATH=/usr/lib/python3/site-packages/virtualsmartcard \\
        .venv/bin/python bench/vicc_quickack.py --type iso7816 --port 35968
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import socket
import sys
from collections.abc import Sequence
from typing import Any

_QUICKACK: int | None = getattr(socket, "TCP_QUICKACK", None)


class QuickAckSocket(socket.socket):
    """A socket that sets TCP_NODELAY on connect and TCP_QUICKACK before every recv."""

    def connect(self, address: Any) -> None:
        super().connect(address)
        if self.type == socket.SOCK_STREAM and self.family in (socket.AF_INET, socket.AF_INET6):
            self.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        if _QUICKACK is not None and self.type == socket.SOCK_STREAM:
            self.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)
        return super().recv(bufsize, flags)


def install() -> None:
    """Make every socket created from now on a QuickAckSocket (this process only)."""
    socket.socket = QuickAckSocket  # type: ignore[misc]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="vsmartcard's vicc with TCP_NODELAY and TCP_QUICKACK on its vpcd socket"
    )
    parser.add_argument(
        "-t", "--type", default="iso7816", help="vicc card type (default %(default)s)"
    )
    parser.add_argument(
        "-H", "--hostname", default="127.0.0.1", help="vpcd host (default %(default)s)"
    )
    parser.add_argument(
        "-P", "--port", type=int, default=35963, help="vpcd port (default %(default)s)"
    )
    parser.add_argument(
        "--plain", action="store_true", help="do not patch the socket (vicc exactly as shipped)"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.plain:
        install()
    try:
        from virtualsmartcard.VirtualSmartcard import (  # type: ignore[import-not-found]  # noqa: PLC0415
            VirtualICC,  # imported after install(): its sockets are QuickAckSockets
        )
    except ImportError as exc:
        print(
            f"vicc_quickack: cannot import vicc's modules ({exc}): put Debian's "
            "/usr/lib/python3/site-packages/virtualsmartcard on PYTHONPATH and install "
            "pycryptodome (scripts/setup.sh --bench)",
            file=sys.stderr,
        )
        return 2
    vicc = VirtualICC(None, args.type, args.hostname, args.port, logginglevel=logging.CRITICAL)
    with contextlib.suppress(KeyboardInterrupt):
        vicc.run()  # ends (sys.exit) when vpcd closes the connection
    return 0


if __name__ == "__main__":
    sys.exit(main())
