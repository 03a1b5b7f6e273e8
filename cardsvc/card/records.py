"""Decoders of the SSSE's EF05 (issuer data) and EF06 (cardholder data) records.

Card contract section 3. Each record is one TLV, `tag(1) len(1) value`, as
READ RECORD returns it. `an` values are ASCII/GBK, left-aligned, 00-padded;
`cn` values are BCD, F-padded; dates are BCD `YYYYMMDD`.

Every decoder raises only `CardFormatError(field, problem)` on malformed input.
Values are frozen dataclasses; the SSN and the name stay out of `repr` (use
`masked_ssn` wherever a user or a log sees the number).
"""

from __future__ import annotations

import datetime as dt
import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from cardsvc.card.errors import CardFormatError
from cardsvc.crypto import Algorithm
from cardsvc.idcheck import card_number_check_char, mask_ssn, ssn_birth_date, ssn_check_digit

EF05_SFI: Final = 0x05
EF06_SFI: Final = 0x06
ISSUER_ID: Final = bytes.fromhex("D156000005")
# The name fields are GB 18030 (= GBK for every GBK character).
NAME_ENCODING: Final = "gb18030"


class Tag(enum.IntEnum):
    """Record tags (= record identifiers) of EF05 and EF06."""

    CARD_ID = 0x01
    CARD_TYPE = 0x02
    SPEC_VERSION = 0x03
    INIT_ORG = 0x04
    ISSUE_DATE = 0x05
    EXPIRY_DATE = 0x06
    CARD_NUMBER = 0x07
    SSN = 0x08
    NAME = 0x09
    SEX = 0x0A
    NATION = 0x0B
    BIRTHPLACE = 0x0C
    BIRTH_DATE = 0x0D
    NAME_EXT = 0x4E

    @property
    def field_name(self) -> str:
        return _FIELD_NAMES[self]

    @property
    def value_length(self) -> int:
        return VALUE_LENGTHS[self]

    @property
    def sfi(self) -> int:
        return EF05_SFI if self in EF05_TAGS else EF06_SFI


_FIELD_NAMES: Final[Mapping[Tag, str]] = {
    Tag.CARD_ID: "card_id_code",
    Tag.CARD_TYPE: "card_type",
    Tag.SPEC_VERSION: "spec_version",
    Tag.INIT_ORG: "init_org",
    Tag.ISSUE_DATE: "issue_date",
    Tag.EXPIRY_DATE: "expiry_date",
    Tag.CARD_NUMBER: "card_number",
    Tag.SSN: "ssn",
    Tag.NAME: "name",
    Tag.SEX: "sex",
    Tag.NATION: "nationality",
    Tag.BIRTHPLACE: "birthplace",
    Tag.BIRTH_DATE: "birth_date",
    Tag.NAME_EXT: "name_ext",
}
# The field names the basic read's decoders use, looked up once (not per call).
_CARD_ID_NAME: Final = _FIELD_NAMES[Tag.CARD_ID]
_SPEC_VERSION_NAME: Final = _FIELD_NAMES[Tag.SPEC_VERSION]
_CARD_NUMBER_NAME: Final = _FIELD_NAMES[Tag.CARD_NUMBER]
_SSN_NAME: Final = _FIELD_NAMES[Tag.SSN]
_NAME_NAME: Final = _FIELD_NAMES[Tag.NAME]
_NAME_EXT_NAME: Final = _FIELD_NAMES[Tag.NAME_EXT]

# Value lengths fixed by the contract (the TLV is 2 bytes longer).
VALUE_LENGTHS: Final[Mapping[Tag, int]] = {
    Tag.CARD_ID: 16,
    Tag.CARD_TYPE: 1,
    Tag.SPEC_VERSION: 4,
    Tag.INIT_ORG: 12,
    Tag.ISSUE_DATE: 4,
    Tag.EXPIRY_DATE: 4,
    Tag.CARD_NUMBER: 9,
    Tag.SSN: 18,
    Tag.NAME: 30,
    Tag.NAME_EXT: 20,
    Tag.SEX: 1,
    Tag.NATION: 1,
    Tag.BIRTHPLACE: 3,
    Tag.BIRTH_DATE: 4,
}

# The same by plain int tag (a lookup that needs no enum conversion).
_LENGTH_BY_TAG: Final[dict[int, int]] = {int(tag): n for tag, n in VALUE_LENGTHS.items()}

EF05_TAGS: Final = (
    Tag.CARD_ID,
    Tag.CARD_TYPE,
    Tag.SPEC_VERSION,
    Tag.INIT_ORG,
    Tag.ISSUE_DATE,
    Tag.EXPIRY_DATE,
    Tag.CARD_NUMBER,
)
EF06_TAGS: Final = (
    Tag.SSN,
    Tag.NAME,
    Tag.NAME_EXT,
    Tag.SEX,
    Tag.NATION,
    Tag.BIRTHPLACE,
    Tag.BIRTH_DATE,
)

_SPEC_VERSION = re.compile(r"[0-9]\.[0-9]{2}")
# C0 and C1 control characters (and DEL): never in a text field.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_CARD_CHARS = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")


class Sex(enum.Enum):
    """EF06 tag 0A: `'1'` male, `'2'` female."""

    MALE = "1"
    FEMALE = "2"


@dataclass(frozen=True, slots=True)
class CardIdCode:
    """EF05 tag 01: region (3 B BCD) ‖ D156000005 ‖ chip serial (4 B) ‖ issuer-unique (4 B)."""

    region_code: str
    chip_serial: bytes
    suffix: bytes

    @property
    def raw(self) -> bytes:
        return bytes.fromhex(self.region_code) + ISSUER_ID + self.chip_serial + self.suffix

    def __str__(self) -> str:
        """Upper-case hex, as the standard reader interface shows it."""
        return self.raw.hex().upper()


@dataclass(frozen=True, slots=True)
class IssuerInfo:
    """EF05, every record decoded (readable even while the application is blocked)."""

    card_id: CardIdCode
    card_type: str
    spec_version: str
    init_org: bytes
    issue_date: dt.date
    expiry_date: dt.date
    card_number: str

    @property
    def generation(self) -> int:
        return generation_of(self.spec_version)

    @property
    def algorithm(self) -> Algorithm:
        return Algorithm.for_generation(self.generation)

    @property
    def region_code(self) -> str:
        return self.card_id.region_code


@dataclass(frozen=True, slots=True)
class Cardholder:
    """EF06, every record decoded. The SSN and name stay out of repr."""

    ssn: str = field(repr=False)
    name: str = field(repr=False)
    sex: Sex = field(repr=False)
    nationality: str = field(repr=False)
    birthplace: str = field(repr=False)
    birth_date: dt.date = field(repr=False)

    @property
    def masked_ssn(self) -> str:
        return mask_ssn(self.ssn)


@dataclass(frozen=True, slots=True)
class BasicInfo:
    """EF05 and EF06 together, every field decoded (`read_basic_info`)."""

    card_id: CardIdCode
    card_type: str
    spec_version: str
    init_org: bytes
    issue_date: dt.date
    expiry_date: dt.date
    card_number: str
    ssn: str = field(repr=False)
    name: str = field(repr=False)
    sex: Sex = field(repr=False)
    nationality: str = field(repr=False)
    birthplace: str = field(repr=False)
    birth_date: dt.date = field(repr=False)

    @classmethod
    def of(cls, issuer: IssuerInfo, holder: Cardholder) -> BasicInfo:
        return cls(
            card_id=issuer.card_id,
            card_type=issuer.card_type,
            spec_version=issuer.spec_version,
            init_org=issuer.init_org,
            issue_date=issuer.issue_date,
            expiry_date=issuer.expiry_date,
            card_number=issuer.card_number,
            ssn=holder.ssn,
            name=holder.name,
            sex=holder.sex,
            nationality=holder.nationality,
            birthplace=holder.birthplace,
            birth_date=holder.birth_date,
        )

    @property
    def generation(self) -> int:
        return generation_of(self.spec_version)

    @property
    def region_code(self) -> str:
        return self.card_id.region_code

    @property
    def masked_ssn(self) -> str:
        return mask_ssn(self.ssn)


# --- TLV and field decoders --------------------------------------------------------------


def parse_tlv(tag: int, tlv: bytes) -> bytes:
    """The value of one record `tag len value`, checked against the tag it was read by."""
    size = len(tlv) - 2
    # The usual case first, without building an error's field name.
    if size >= 0 and tlv[0] == tag and tlv[1] == size and _LENGTH_BY_TAG.get(tag, size) == size:
        return tlv[2:]
    name = _name(tag)
    if size < 0:
        raise CardFormatError(name, f"record of {len(tlv)} bytes has no tag and length")
    if tlv[0] != tag:
        raise CardFormatError(name, f"record tag {tlv[0]:02X}, expected {tag:02X}")
    if tlv[1] != size:
        raise CardFormatError(
            name, f"record length byte says {tlv[1]}, but {size} value bytes follow"
        )
    # a DF record (a tag not in the contract's table) may have any length
    raise CardFormatError(name, f"{size} bytes, the contract says {_LENGTH_BY_TAG[tag]}")


def _name(tag: int) -> str:
    try:
        return Tag(tag).field_name
    except ValueError:
        return f"tag {tag:02X}"


def bcd_digits(field_name: str, value: bytes) -> str:
    """`cn` digits: BCD, trailing F nibbles are padding."""
    text = value.hex().upper().rstrip("F")
    if not text or not text.isdigit():
        raise CardFormatError(field_name, f"not BCD digits: {value.hex().upper()}")
    return text


def bcd_date(field_name: str, value: bytes) -> dt.date:
    """A BCD `YYYYMMDD` date."""
    if len(value) != 4:
        raise CardFormatError(field_name, f"a date is 4 BCD bytes, not {len(value)}")
    text = value.hex()
    if not text.isdigit():
        raise CardFormatError(field_name, f"not a BCD date: {text.upper()}")
    try:
        return dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        raise CardFormatError(field_name, f"not a real date: {text}") from None


def an_text(field_name: str, value: bytes, encoding: str = "ascii") -> str:
    """An `an` value: 00-padding stripped; no 00 inside; decoded strictly."""
    body = value.rstrip(b"\x00")
    if b"\x00" in body:
        raise CardFormatError(field_name, "00 bytes inside the text (only trailing padding)")
    try:
        text = body.decode(encoding)
    except UnicodeDecodeError:
        raise CardFormatError(field_name, f"not valid {encoding.upper()} text") from None
    # printable text has no control character (C0, C1 and DEL are not printable)
    if not text.isprintable() and _CONTROL.search(text) is not None:
        raise CardFormatError(field_name, "control characters in the text")
    return text


def decode_card_id(value: bytes) -> CardIdCode:
    name = _CARD_ID_NAME
    if len(value) != 16:
        raise CardFormatError(name, f"{len(value)} bytes, the contract says 16")
    region = value[:3].hex()
    if not region.isdigit():
        raise CardFormatError(name, f"region code is not BCD: {region.upper()}")
    if value[3:8] != ISSUER_ID:
        raise CardFormatError(
            name, f"issuer id {value[3:8].hex().upper()}, expected {ISSUER_ID.hex().upper()}"
        )
    return CardIdCode(region, bytes(value[8:12]), bytes(value[12:16]))


def decode_card_type(value: bytes) -> str:
    text = an_text(Tag.CARD_TYPE.field_name, value)
    if len(text) != 1 or text not in _CARD_CHARS:
        raise CardFormatError(Tag.CARD_TYPE.field_name, f"expected one of 0-9/A-Z, got {text!r}")
    return text


def generation_of(spec_version: str) -> int:
    """The card generation: the first character of the spec version (1, 2 or 3)."""
    if not _SPEC_VERSION.fullmatch(spec_version):
        raise CardFormatError("spec_version", f"expected N.NN, got {spec_version!r}")
    generation = int(spec_version[0])
    if generation not in (1, 2, 3):
        raise CardFormatError("spec_version", f"unknown generation {spec_version!r}")
    return generation


def decode_spec_version(value: bytes) -> str:
    text = an_text(_SPEC_VERSION_NAME, value)
    generation_of(text)
    return text


def decode_card_number(value: bytes) -> str:
    name = _CARD_NUMBER_NAME
    text = an_text(name, value)
    if len(text) != 9 or not _CARD_CHARS.issuperset(text):
        raise CardFormatError(name, "expected 8 characters 0-9/A-Z and a check character")
    expected = card_number_check_char(text[:8])
    if text[8] != expected:
        raise CardFormatError(name, f"check character {text[8]!r}, expected {expected!r}")
    return text


def decode_ssn(value: bytes) -> str:
    name = _SSN_NAME
    text = an_text(name, value)
    if len(text) != 18 or not (text[:17].isascii() and text[:17].isdigit()):
        raise CardFormatError(name, "expected 17 digits and a check character")
    if ssn_birth_date(text) is None:
        raise CardFormatError(name, "characters 7-14 are not a real birth date")
    expected = ssn_check_digit(text[:17])
    if text[17] != expected:
        # never show the number itself: a user or a log may see this message
        raise CardFormatError(name, "GB 11643 check character does not match")
    return text


def name_bytes(field_name: str, value: bytes) -> bytes:
    """The GB 18030 bytes of a name field, 00-padding stripped."""
    body = value.rstrip(b"\x00")
    if b"\x00" in body:
        raise CardFormatError(field_name, "00 bytes inside the name (only trailing padding)")
    return body


def decode_name(name_value: bytes, ext_value: bytes | None = None) -> str:
    """Full name = 09 ‖ 4E, each 00-padding stripped, decoded as GB 18030 together."""
    body = name_bytes(_NAME_NAME, name_value)
    if ext_value is not None:
        body += name_bytes(_NAME_EXT_NAME, ext_value)
    if not body:
        raise CardFormatError(_NAME_NAME, "empty")
    try:
        text = body.decode(NAME_ENCODING)
    except UnicodeDecodeError:
        raise CardFormatError(_NAME_NAME, "not valid GB 18030 text") from None
    if not text.isprintable() and _CONTROL.search(text) is not None:
        raise CardFormatError(_NAME_NAME, "control characters in the name")
    return text


def decode_sex(value: bytes) -> Sex:
    text = value.decode("latin-1")
    try:
        return Sex(text)
    except ValueError:
        raise CardFormatError(Tag.SEX.field_name, f"expected '1' or '2', got {text!r}") from None


def decode_nation(value: bytes) -> str:
    text = bcd_digits(Tag.NATION.field_name, value)
    if len(text) != 2:
        raise CardFormatError(Tag.NATION.field_name, f"expected 2 digits, got {text!r}")
    return text


def decode_birthplace(value: bytes) -> str:
    text = bcd_digits(Tag.BIRTHPLACE.field_name, value)
    if len(text) != 6:
        raise CardFormatError(Tag.BIRTHPLACE.field_name, f"expected 6 digits, got {text!r}")
    return text


# --- whole files -------------------------------------------------------------------------


def _value(records: Mapping[int, bytes], tag: Tag) -> bytes:
    tlv = records.get(tag)
    if tlv is None:
        raise CardFormatError(tag.field_name, "record missing")
    return parse_tlv(tag, tlv)


def decode_issuer(records: Mapping[int, bytes]) -> IssuerInfo:
    """EF05 from its records (tag → TLV as READ RECORD returned it)."""
    return IssuerInfo(
        card_id=decode_card_id(_value(records, Tag.CARD_ID)),
        card_type=decode_card_type(_value(records, Tag.CARD_TYPE)),
        spec_version=decode_spec_version(_value(records, Tag.SPEC_VERSION)),
        init_org=_value(records, Tag.INIT_ORG),
        issue_date=bcd_date(Tag.ISSUE_DATE.field_name, _value(records, Tag.ISSUE_DATE)),
        expiry_date=bcd_date(Tag.EXPIRY_DATE.field_name, _value(records, Tag.EXPIRY_DATE)),
        card_number=decode_card_number(_value(records, Tag.CARD_NUMBER)),
    )


def decode_full_name(records: Mapping[int, bytes], generation: int) -> str:
    """Tag 09 (‖ 4E from generation 2 on: required there, ignored on generation 1)."""
    name = _value(records, Tag.NAME)
    ext = _value(records, Tag.NAME_EXT) if generation >= 2 else None
    return decode_name(name, ext)


def decode_cardholder(records: Mapping[int, bytes], generation: int) -> Cardholder:
    """EF06 from its records (tag → TLV); 4E is read from generation 2 on."""
    return Cardholder(
        ssn=decode_ssn(_value(records, Tag.SSN)),
        name=decode_full_name(records, generation),
        sex=decode_sex(_value(records, Tag.SEX)),
        nationality=decode_nation(_value(records, Tag.NATION)),
        birthplace=decode_birthplace(_value(records, Tag.BIRTHPLACE)),
        birth_date=bcd_date(Tag.BIRTH_DATE.field_name, _value(records, Tag.BIRTH_DATE)),
    )


def decode_basic_info(ef05: Mapping[int, bytes], ef06: Mapping[int, bytes]) -> BasicInfo:
    """EF05 and EF06 together; the generation (for 4E) comes from the spec version."""
    issuer = decode_issuer(ef05)
    return BasicInfo.of(issuer, decode_cardholder(ef06, issuer.generation))
