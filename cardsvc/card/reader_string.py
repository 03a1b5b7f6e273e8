"""The standard reader interface of legacy counter software (card contract section 8).

A basic read returns one GBK string, every field followed by `|`:

    发卡地区行政区划代码|社会保障号码|卡号|卡识别码|姓名|卡复位信息|规范版本|发卡日期|卡有效期|终端机编号|终端设备号|

and a failure returns a negative number (`ReaderCode`, or −SW for a card
status word: `6A82` → −27266).

Encoding: GB 18030, which gives the very GBK bytes for every character GBK
has, and still encodes the rare name characters GBK lacks (instead of failing).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final

from cardsvc.card.errors import (
    CardFormatError,
    CardStatusError,
    ForgedCard,
    HotlistedCard,
    InvalidPin,
    NoSecurityModule,
    PinBlocked,
    SecurityModuleError,
    WrongCardType,
)
from cardsvc.card.session import BasicRead

ENCODING: Final = "gb18030"
SEPARATOR: Final = "|"


class ReaderCode(enum.IntEnum):
    """The interface's own error codes."""

    WRONG_CARD_TYPE = -1
    NO_CARD = -2
    READER_CONNECT = -11
    INTERNAL_AUTH_FAILED = -21
    PIN_WRONG = -51
    PIN_BLOCKED = -52
    NO_PSAM = -2201


class ReaderStringError(ValueError):
    """A field that cannot go into the string (contains `|` or a line break)."""


@dataclass(frozen=True, slots=True)
class ReaderFields:
    """The eleven fields, in order."""

    region_code: str
    ssn: str
    card_number: str
    card_id_code: str
    name: str
    reset_info: str
    spec_version: str
    issue_date: str
    expiry_date: str
    terminal_number: str
    device_serial: str

    @classmethod
    def of(cls, read: BasicRead, terminal_number: str, device_serial: str) -> ReaderFields:
        return cls(
            region_code=read.region_code,
            ssn=read.ssn,
            card_number=read.card_number,
            card_id_code=str(read.card_id),
            name=read.name,
            reset_info=read.reset_info.hex().upper(),
            spec_version=read.spec_version,
            issue_date=read.issue_date.strftime("%Y%m%d"),
            expiry_date=read.expiry_date.strftime("%Y%m%d"),
            terminal_number=terminal_number,
            device_serial=device_serial,
        )

    def values(self) -> tuple[str, ...]:
        return (
            self.region_code,
            self.ssn,
            self.card_number,
            self.card_id_code,
            self.name,
            self.reset_info,
            self.spec_version,
            self.issue_date,
            self.expiry_date,
            self.terminal_number,
            self.device_serial,
        )

    def to_text(self) -> str:
        for value in self.values():
            if SEPARATOR in value or "\n" in value or "\r" in value:
                raise ReaderStringError(f"a field contains '|' or a line break: {value!r}")
        return "".join(value + SEPARATOR for value in self.values())

    def to_bytes(self) -> bytes:
        return self.to_text().encode(ENCODING)


def reader_string(read: BasicRead, terminal_number: str | None, device_serial: str) -> str:
    """The section-8 string of a basic read (`terminal_number` None → empty field)."""
    return ReaderFields.of(read, terminal_number or "", device_serial).to_text()


def reader_bytes(read: BasicRead, terminal_number: str | None, device_serial: str) -> bytes:
    """The same, as the GBK (GB 18030) bytes the legacy interface returns."""
    return reader_string(read, terminal_number, device_serial).encode(ENCODING)


def error_code(exc: BaseException, sam_reader: str | None = None) -> int:
    """The interface's negative code for an exception of a basic read.

    Card errors: wrong card type / malformed card data −1, forged card −21,
    PIN −51 / −52, no security module −2201, a status word −SW. Transport
    errors (reader_driver's, by their class): no card or card pulled −2,
    anything else at the reader −11; but any transport error of `sam_reader`
    (the PSAM pulled, mute or gone) is −2201, not a fault of the cardholder's card.
    """
    if isinstance(exc, WrongCardType | CardFormatError):
        return ReaderCode.WRONG_CARD_TYPE
    if isinstance(exc, ForgedCard):
        return ReaderCode.INTERNAL_AUTH_FAILED
    if isinstance(exc, InvalidPin):
        return ReaderCode.PIN_WRONG
    if isinstance(exc, PinBlocked):
        return ReaderCode.PIN_BLOCKED
    if isinstance(exc, NoSecurityModule):
        return ReaderCode.NO_PSAM
    if isinstance(exc, SecurityModuleError):
        return -exc.sw if exc.sw else ReaderCode.NO_PSAM
    if isinstance(exc, HotlistedCard):
        return -0x6283  # the card is now blocked
    if isinstance(exc, CardStatusError):
        return -exc.sw
    return _transport_code(exc, sam_reader)


def _transport_code(exc: BaseException, sam_reader: str | None) -> int:
    # Only reader_driver's error classes, imported when a non-card error is mapped (no
    # pyscard and no I/O come with them: reader_driver imports pyscard lazily).
    from reader_driver.errors import CardRemoved, NoCard, TransportError  # noqa: PLC0415

    if sam_reader is not None and isinstance(exc, TransportError) and exc.reader == sam_reader:
        return ReaderCode.NO_PSAM

    if isinstance(exc, NoCard | CardRemoved):
        return ReaderCode.NO_CARD
    return ReaderCode.READER_CONNECT
