"""The socket to pcscd behind one PC/SC context, to free a call blocked on a mute card.

pcsc-lite (measured with 1.9.9) gives every context its own UNIX socket to pcscd
(`SCardEstablishContext` connects it, `SCardReleaseContext` closes it), and a
call waits for pcscd's answer in `poll()` + `read()` on that socket with no
deadline. Nothing in the PC/SC API frees such a call (see reader_driver.watchdog),
but `shutdown()` of the socket does: the blocked call returns at once with
SCARD_F_COMM_ERROR, the context's lock is free again, `SCardDisconnect` and
`SCardReleaseContext` return (SCARD_E_NO_SERVICE) and close the socket, and pcscd
drops that client once its reader thread comes back from the driver (the card
answers, is pulled, or the simulator stops); the next connection to that reader
works. So a connection whose socket is known needs no worker thread per call.

The descriptor is not in pcsc-lite's API: `establish_context` finds it as the one
UNIX socket connected to pcscd's socket file that appeared while `SCardEstablishContext` ran,
under a lock of this module, by (descriptor, inode), so a descriptor number
reused meanwhile is not taken for a new one. Anything ambiguous (another thread
of the process made a second pcscd connection at that moment, no /proc) gives
None, and the caller keeps the worker-thread watchdog. `shutdown` checks the
inode again before it touches the descriptor, and the caller (`_Handles`)
serialises it with the release that closes it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import stat
import threading
from collections.abc import Callable
from typing import Final, TypeVar

logger = logging.getLogger(__name__)

_T = TypeVar("_T")

_FD_DIR: Final = "/proc/self/fd"
# pcsc-lite's socket: PCSCLITE_CSOCK_NAME when set, else /run/pcscd/pcscd.comm (or
# wherever the build put a file of that name).
_SOCKET_ENV: Final = "PCSCLITE_CSOCK_NAME"
_SOCKET_NAME: Final = "pcscd.comm"
_establishing = threading.Lock()


def _sockets() -> dict[int, int] | None:
    """This process's socket descriptors and their inodes (None without /proc)."""
    try:
        names = os.listdir(_FD_DIR)
    except OSError:
        return None
    found: dict[int, int] = {}
    for name in names:
        try:
            fd = int(name)
            st = os.fstat(fd)
        except (ValueError, OSError):
            continue
        if stat.S_ISSOCK(st.st_mode):
            found[fd] = st.st_ino
    return found


def _peer(fd: int) -> str | None:
    """The path a connected UNIX stream socket talks to (None for anything else)."""
    try:
        sock = socket.socket(fileno=os.dup(fd))
    except OSError:
        return None
    with sock:
        if sock.family != socket.AF_UNIX or sock.type != socket.SOCK_STREAM:
            return None
        try:
            peer = sock.getpeername()
        except OSError:
            return None
    return peer if isinstance(peer, str) and peer else None


def _is_pcscd(path: str | None) -> bool:
    if path is None:
        return False
    configured = os.environ.get(_SOCKET_ENV)
    if configured:
        return path == configured
    return os.path.basename(path) == _SOCKET_NAME


def establish_context(establish: Callable[[], _T]) -> tuple[_T, tuple[int, int] | None]:
    """`establish()` (SCardEstablishContext) and the (descriptor, inode) of its new socket.

    The socket is None when it cannot be told apart for sure.
    """
    with _establishing:
        before = _sockets()
        result = establish()
        after = _sockets() if before is not None else None
    if before is None or after is None:
        return result, None
    new = [(fd, ino) for fd, ino in after.items() if before.get(fd) != ino]
    connected = [(fd, ino) for fd, ino in new if _is_pcscd(_peer(fd))]
    if len(connected) != 1:
        logger.debug("no single new pcscd socket (%d candidates)", len(connected))
        return result, None
    return result, connected[0]


def shutdown(fd: int, inode: int) -> bool:
    """Shut down the socket `fd` if it is still the one with `inode`; whether it was."""
    try:
        if os.fstat(fd).st_ino != inode:
            return False
        sock = socket.socket(fileno=os.dup(fd))
    except OSError:
        return False
    with sock, contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
        return True
    return False
