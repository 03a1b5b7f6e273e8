"""PC/SC result codes and state bits, their meaning, and their translation into our errors.

Shared by the PC/SC backend (reader_driver.pcsc) and its event watcher
(reader_driver.events). `load_scard` imports pyscard on first use: importing
this module needs neither pyscard's native library nor pcscd.
"""

from __future__ import annotations

import enum
import functools
import os
from collections.abc import Sequence
from typing import Any, Final

from reader_driver.errors import (
    CardRemoved,
    CardReset,
    CardUnresponsive,
    NoCard,
    NoReader,
    PcscdUnavailable,
    ReaderBusy,
    ReaderTimeout,
    TransportError,
)


class Code(enum.IntEnum):
    """PC/SC result codes (the values pcsc-lite and WinSCard share)."""

    S_SUCCESS = 0x00000000
    F_INTERNAL_ERROR = 0x80100001
    E_CANCELLED = 0x80100002
    E_INVALID_HANDLE = 0x80100003
    E_INVALID_PARAMETER = 0x80100004
    E_NO_MEMORY = 0x80100006
    E_INSUFFICIENT_BUFFER = 0x80100008
    E_UNKNOWN_READER = 0x80100009
    E_TIMEOUT = 0x8010000A
    E_SHARING_VIOLATION = 0x8010000B
    E_NO_SMARTCARD = 0x8010000C
    E_PROTO_MISMATCH = 0x8010000F
    E_NOT_READY = 0x80100010
    E_INVALID_VALUE = 0x80100011
    F_COMM_ERROR = 0x80100013
    F_UNKNOWN_ERROR = 0x80100014
    E_NOT_TRANSACTED = 0x80100016
    E_READER_UNAVAILABLE = 0x80100017
    E_NO_SERVICE = 0x8010001D
    E_SERVICE_STOPPED = 0x8010001E
    E_UNEXPECTED = 0x8010001F
    E_NO_READERS_AVAILABLE = 0x8010002E
    W_UNSUPPORTED_CARD = 0x80100065
    W_UNRESPONSIVE_CARD = 0x80100066
    W_UNPOWERED_CARD = 0x80100067
    W_RESET_CARD = 0x80100068
    W_REMOVED_CARD = 0x80100069


class State(enum.IntFlag):
    """SCARD_STATE_* bits of a reader state (the high 16 bits are pcsc-lite's event counter)."""

    UNAWARE = 0x0000
    IGNORE = 0x0001
    CHANGED = 0x0002
    UNKNOWN = 0x0004
    UNAVAILABLE = 0x0008
    EMPTY = 0x0010
    PRESENT = 0x0020
    ATRMATCH = 0x0040
    EXCLUSIVE = 0x0080
    INUSE = 0x0100
    MUTE = 0x0200
    UNPOWERED = 0x0400


SCOPE_USER: Final = 0x0000
SHARE_SHARED: Final = 0x0002
PROTOCOL_T0: Final = 0x0001
PROTOCOL_T1: Final = 0x0002
LEAVE_CARD: Final = 0x0000
RESET_CARD: Final = 0x0001
# The pseudo-reader whose state changes when readers come and go.
PNP_NOTIFICATION: Final = "\\\\?PnP?\\Notification"
DEFAULT_SOCKET: Final = "/run/pcscd/pcscd.comm"

# pcscd is gone (or was restarted): drop the context and establish a new one.
SERVICE_GONE: Final = frozenset(
    {Code.E_NO_SERVICE, Code.E_SERVICE_STOPPED, Code.F_COMM_ERROR, Code.E_INVALID_HANDLE}
)
CARD_GONE: Final = frozenset({Code.W_REMOVED_CARD, Code.E_NO_SMARTCARD})
MUTE_CARD: Final = frozenset(
    {Code.W_UNRESPONSIVE_CARD, Code.W_UNPOWERED_CARD, Code.W_UNSUPPORTED_CARD}
)
# On an open connection: the reader could not exchange with the card it had. Seen with
# pcsc-lite 1.9.9 + vpcd when a card is swapped before pcscd's presence poll noticed
# the removal: pcscd still shows the old card (and its ATR) as present and every
# transmit fails, also on new connections, until someone resets the card. The
# connection resets it (SCardReconnect) to find out what is there now: see
# reader_driver.pcsc.PcscConnection.
CONTACT_LOST: Final = frozenset({Code.E_NOT_TRANSACTED})


@functools.cache
def load_scard() -> Any:
    """pyscard's `smartcard.scard`, imported on first use."""
    try:
        from smartcard import scard  # noqa: PLC0415 - pyscard only when PC/SC is used
    except ImportError as exc:  # pragma: no cover - pyscard is a dependency
        raise TransportError(f"pyscard is not installed ({exc}): pip install pyscard") from exc
    return scard


def socket_path() -> str:
    """Where the PC/SC client looks for pcscd (PCSCLITE_CSOCK_NAME overrides it)."""
    return os.environ.get("PCSCLITE_CSOCK_NAME", DEFAULT_SOCKET)


def pcscd_hint() -> str:
    return (
        f"pcscd is not running (nothing answers on {socket_path()}): start it with "
        "`sudo systemctl start pcscd` (or run `sudo pcscd`); for simulated readers run "
        "`cardsvc sim --pcscd --card FILE --psam`, which starts one"
    )


# What the less obvious result codes mean, for messages.
_MEANINGS: Final[dict[int, str]] = {
    Code.E_NOT_TRANSACTED: "the reader could not exchange with the card (removed? mute?)",
    Code.E_PROTO_MISMATCH: "the card does not speak T=0 or T=1",
    Code.E_READER_UNAVAILABLE: "the reader is not available",
}


def code_name(code: int) -> str:
    """`SCARD_E_NO_SMARTCARD (0x8010000C)` for a result code, with its meaning if not obvious."""
    try:
        name = f"SCARD_{Code(code).name}"
    except ValueError:
        name = "unknown PC/SC result"
    meaning = _MEANINGS.get(code)
    return f"{name} (0x{code & 0xFFFFFFFF:08X})" + (f": {meaning}" if meaning else "")


def translate(
    code: int, what: str, reader: str | None = None, readers: Sequence[str] | None = None
) -> TransportError:
    """The error for a failed PC/SC call `what` (e.g. "connect") on `reader`."""
    where = f"{reader}: " if reader else ""
    if code in SERVICE_GONE:
        return PcscdUnavailable(f"{where}{what}: {pcscd_hint()}", reader=reader, code=code)
    if code in (Code.E_UNKNOWN_READER, Code.E_READER_UNAVAILABLE):
        known = (
            ""
            if readers is None
            else f" (readers: {', '.join(readers)})"
            if readers
            else " (no reader is connected)"
        )
        return NoReader(f"no reader named {reader!r}{known}", reader=reader, code=code)
    if code == Code.E_NO_READERS_AVAILABLE:
        return NoReader("no reader is connected", reader=reader, code=code)
    if code in CARD_GONE:
        if what == "connect":
            return NoCard(f"{where}no card in the reader", reader=reader, code=code)
        return CardRemoved(f"{where}the card was removed", reader=reader, code=code)
    if code == Code.W_RESET_CARD:
        return CardReset(
            f"{where}another program reset the card; connect again", reader=reader, code=code
        )
    if code in MUTE_CARD:
        return CardUnresponsive(
            f"{where}the card does not answer the reset ({code_name(code)})",
            reader=reader,
            code=code,
        )
    if code == Code.E_SHARING_VIOLATION:
        return ReaderBusy(
            f"{where}another program holds the card exclusively", reader=reader, code=code
        )
    if code == Code.E_TIMEOUT:
        return ReaderTimeout(f"{where}{what}: timed out", timeout=0.0, reader=reader, code=code)
    return TransportError(f"{where}{what} failed: {code_name(code)}", reader=reader, code=code)
