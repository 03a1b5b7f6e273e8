"""APDU types shared by the card and terminal sides: status words, instructions, parsing.

Short APDUs only (ISO 7816-4 cases 1-4, Lc and Le of one byte), which is all the
social security card speaks.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from cardsvc.errors import CardsvcError

# The logging level of APDU traces: below DEBUG (PIN and key bytes masked by redact()).
TRACE = 5


class ApduFormatError(CardsvcError):
    """A command APDU that cannot be parsed; carries the status word a card answers."""

    def __init__(self, message: str, sw: int) -> None:
        super().__init__(message)
        self.sw = sw


class SW(enum.IntEnum):
    """Status words of the card contract (section 4). 61xx, 6Cxx and 63Cx are families."""

    OK = 0x9000
    APP_BLOCKED = 0x6283
    WRONG_LENGTH = 0x6700
    INCOMPATIBLE_FILE = 0x6981
    SECURITY_NOT_SATISFIED = 0x6982
    AUTH_BLOCKED = 0x6983
    NO_CHALLENGE = 0x6984
    CONDITIONS_NOT_SATISFIED = 0x6985
    NO_CURRENT_EF = 0x6986
    WRONG_MAC = 0x6988
    WRONG_DATA = 0x6A80
    FILE_NOT_FOUND = 0x6A82
    RECORD_NOT_FOUND = 0x6A83
    WRONG_P1P2 = 0x6A86
    KEY_NOT_FOUND = 0x6A88
    INS_NOT_SUPPORTED = 0x6D00
    CLA_NOT_SUPPORTED = 0x6E00
    CARD_BLOCKED = 0x9303

    @staticmethod
    def bytes_waiting(n: int) -> int:
        """61xx: n bytes wait for GET RESPONSE (n=256 encodes as 00)."""
        return 0x6100 | (n & 0xFF)

    @staticmethod
    def wrong_le(n: int) -> int:
        """6Cxx: wrong Le, xx is right (256 encodes as 00)."""
        return 0x6C00 | (n & 0xFF)

    @staticmethod
    def tries_left(n: int) -> int:
        """63Cx: verification failed, x tries left."""
        return 0x63C0 | (n & 0x0F)


def sw_text(sw: int) -> str:
    """A short English meaning of a status word, for logs and CLI messages."""
    hi = sw >> 8
    if hi == 0x61:
        return f"{sw & 0xFF or 256} bytes waiting"
    if hi == 0x6C:
        return f"wrong Le, {sw & 0xFF or 256} is right"
    if sw & 0xFFF0 == 0x63C0:
        return f"verification failed, {sw & 0x0F} tries left"
    try:
        return SW(sw).name.replace("_", " ").lower()
    except ValueError:
        return "unknown status"


class Ins(enum.IntEnum):
    """Instruction codes of the user card and the PSAM."""

    SELECT = 0xA4
    READ_RECORD = 0xB2
    READ_BINARY = 0xB0
    UPDATE_RECORD = 0xDC
    GET_CHALLENGE = 0x84
    EXTERNAL_AUTHENTICATE = 0x82
    INTERNAL_AUTHENTICATE = 0x88
    VERIFY = 0x20
    CHANGE_PIN = 0x5E
    RELOAD_PIN = 0x24
    APPLICATION_BLOCK = 0x1E
    APPLICATION_UNBLOCK = 0x18
    CARD_BLOCK = 0x16
    GET_RESPONSE = 0xC0
    DES_INIT = 0xDE
    DES_CRYPT = 0xFA


@dataclass(frozen=True, slots=True)
class Command:
    """A parsed short command APDU. `le` is None when absent; Le byte 00 means 256."""

    cla: int
    ins: int
    p1: int
    p2: int
    data: bytes = b""
    le: int | None = None

    @property
    def header(self) -> bytes:
        return bytes((self.cla, self.ins, self.p1, self.p2))

    @property
    def case(self) -> int:
        if not self.data:
            return 1 if self.le is None else 2
        return 3 if self.le is None else 4

    def to_bytes(self) -> bytes:
        out = bytearray(self.header)
        if self.data:
            if len(self.data) > 255:
                raise ApduFormatError("command data longer than 255 bytes", SW.WRONG_LENGTH)
            out.append(len(self.data))
            out += self.data
        if self.le is not None:
            if not 1 <= self.le <= 256:
                raise ApduFormatError("Le must be 1..256", SW.WRONG_LENGTH)
            out.append(self.le & 0xFF)
        return bytes(out)

    @classmethod
    def parse(cls, apdu: bytes) -> Command:
        """Parse a short APDU; raises ApduFormatError(sw=6700) when Lc disagrees with the length.

        A 5-byte APDU is case 2 (P3 is Le). `XX XX XX XX 00` keeps Le=256.
        A case-3/4 APDU with Lc=0 is accepted as "no data" (VERIFY with Lc=0 relies on it).
        """
        if len(apdu) < 4:
            raise ApduFormatError(f"APDU too short ({len(apdu)} bytes)", SW.WRONG_LENGTH)
        cla, ins, p1, p2 = apdu[0], apdu[1], apdu[2], apdu[3]
        body = apdu[4:]
        if not body:
            return cls(cla, ins, p1, p2)
        if len(body) == 1:
            return cls(cla, ins, p1, p2, b"", body[0] or 256)
        lc = body[0]
        if lc == 0:
            raise ApduFormatError("Lc=0 with trailing bytes", SW.WRONG_LENGTH)
        if len(body) == 1 + lc:
            return cls(cla, ins, p1, p2, bytes(body[1:]), None)
        if len(body) == 2 + lc:
            return cls(cla, ins, p1, p2, bytes(body[1 : 1 + lc]), body[-1] or 256)
        raise ApduFormatError(
            f"Lc={lc} does not match the {len(body) - 1} bytes that follow", SW.WRONG_LENGTH
        )


def split_response(resp: bytes) -> tuple[bytes, int]:
    """Split a response APDU into data and status word."""
    if len(resp) < 2:
        raise ApduFormatError(f"response too short ({len(resp)} bytes)", SW.WRONG_LENGTH)
    return resp[:-2], (resp[-2] << 8) | resp[-1]


# Commands whose data carries a PIN, a key-derived cryptogram or a MAC: traces hide it.
_SECRET_COMMANDS: frozenset[tuple[int, int]] = frozenset(
    {
        (0x00, Ins.VERIFY),
        (0x80, Ins.CHANGE_PIN),
        (0x84, Ins.RELOAD_PIN),
        (0x00, Ins.EXTERNAL_AUTHENTICATE),
        (0x84, Ins.APPLICATION_BLOCK),
        (0x84, Ins.APPLICATION_UNBLOCK),
        (0x84, Ins.CARD_BLOCK),
        (0x80, Ins.DES_CRYPT),
    }
)


def redact(apdu: bytes) -> str:
    """Hex of a command APDU for logs, with PIN, cryptogram, MAC and PSAM data masked.

    The header and Lc stay visible; each masked byte shows as `**`.
    """
    if len(apdu) > 5 and (apdu[0], apdu[1]) in _SECRET_COMMANDS:
        return apdu[:5].hex().upper() + "**" * (len(apdu) - 5)
    return apdu.hex().upper()


def redact_response(command: bytes, response: bytes) -> str:
    """Hex of a response APDU for logs: data masked after secret commands and GET RESPONSE.

    The status word stays visible. Responses to GET RESPONSE may carry a PSAM
    cryptogram or key-derived data, so their data is masked too.
    """
    secret = len(command) >= 2 and (
        (command[0], command[1]) in _SECRET_COMMANDS
        or command[1] in (Ins.GET_RESPONSE, Ins.INTERNAL_AUTHENTICATE)
    )
    if secret and len(response) > 2:
        return "**" * (len(response) - 2) + response[-2:].hex().upper()
    return response.hex().upper()
