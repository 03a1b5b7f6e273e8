"""EF05 / EF06 decoders, the FCI and the ATR: typed values; only CardFormatError on bad input."""

from __future__ import annotations

import contextlib
import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cardsvc.card import CardFormatError, WrongCardType
from cardsvc.card.atr import card_factor, historical_bytes
from cardsvc.card.records import (
    EF05_TAGS,
    EF06_TAGS,
    Sex,
    Tag,
    decode_basic_info,
    decode_cardholder,
    decode_issuer,
    decode_name,
    parse_tlv,
)
from cardsvc.card.session import parse_fci
from cardsvc.crypto import Algorithm
from cardsvc.idcheck import mask_ssn
from simulators.personalisation import example_profile, parse_personalisation
from simulators.ssc_card import ef05_records, ef06_records, fci

EXAMPLE_ATR = bytes.fromhex("3B6D00000081534D97868437041A2B3C4D")


def records_of(generation: int) -> tuple[dict[int, bytes], dict[int, bytes]]:
    profile = parse_personalisation(example_profile(generation)).profile
    ef05 = {r.tag: r.tlv() for r in ef05_records(profile)}
    ef06 = {r.tag: r.tlv() for r in ef06_records(profile)}
    return ef05, ef06


def tlv(tag: int, value: bytes) -> bytes:
    return bytes((tag, len(value))) + value


@pytest.mark.parametrize("generation", [1, 2, 3])
def test_examples_decode_to_every_field(generation: int) -> None:
    ef05, ef06 = records_of(generation)
    info = decode_basic_info(ef05, ef06)
    p = example_profile(generation)
    assert info.generation == generation
    assert info.card_id.region_code == p["region_code"]
    assert info.card_id.chip_serial.hex().upper() == p["chip_serial"]
    assert info.card_id.suffix.hex().upper() == p["card_id_suffix"]
    assert info.card_type == p["card_type"]
    assert info.init_org.hex().upper() == p["init_org"]
    assert info.issue_date.strftime("%Y%m%d") == p["issue_date"]
    assert info.expiry_date.strftime("%Y%m%d") == p["expiry_date"]
    assert info.card_number == p["card_number"]
    assert info.ssn == p["ssn"]
    assert info.name == f"{p['name']}{p['name_ext']}"
    assert info.sex is Sex(p["sex"])
    assert info.nationality == p["nation"]
    assert info.birthplace == p["birthplace"]
    assert info.birth_date.strftime("%Y%m%d") == p["birth_date"]
    assert p["ssn"] not in repr(info)
    assert p["name"] not in repr(info)
    assert info.masked_ssn == p["ssn"][:6] + "********" + p["ssn"][-4:]


def test_gen1_has_no_name_extension_and_gen2_needs_one() -> None:
    _ef05, ef06 = records_of(1)
    assert Tag.NAME_EXT not in ef06
    assert decode_cardholder(ef06, 1).name == "李四"
    with pytest.raises(CardFormatError, match="name_ext: record missing"):
        decode_cardholder(ef06, 2)


def test_the_name_joins_09_and_4e_at_the_byte_level() -> None:
    full = "阿依古丽·艾合买提江·吐尔洪巴依".encode("gb18030")
    name, ext = full[:29], full[29:]  # a two-byte character split across the records
    assert decode_name(name + bytes(30 - len(name)), ext + bytes(20 - len(ext))) == (
        "阿依古丽·艾合买提江·吐尔洪巴依"
    )
    # a character outside GBK (4 bytes in GB 18030)
    rare = "𠀀".encode("gb18030")
    assert decode_name(b"\xd5\xc5" + rare + bytes(24)) == "张𠀀"


@pytest.mark.parametrize(
    ("tag", "value", "field", "problem"),
    [
        (Tag.CARD_NUMBER, b"A00000012", "card_number", "check character"),
        (Tag.CARD_NUMBER, b"a00000011", "card_number", "0-9/A-Z"),
        (Tag.ISSUE_DATE, bytes.fromhex("20240231"), "issue_date", "not a real date"),
        (Tag.EXPIRY_DATE, bytes.fromhex("2034AB01"), "expiry_date", "not a BCD date"),
        (Tag.SPEC_VERSION, b"4.00", "spec_version", "unknown generation"),
        (Tag.SPEC_VERSION, b"2.0\x00", "spec_version", "expected N.NN"),
        (Tag.CARD_ID, bytes(16), "card_id_code", "issuer id"),
        (Tag.CARD_TYPE, b"\x01", "card_type", "control characters"),
    ],
)
def test_ef05_errors_name_the_field(tag: Tag, value: bytes, field: str, problem: str) -> None:
    ef05, _ = records_of(2)
    ef05[tag] = tlv(tag, value)
    with pytest.raises(CardFormatError, match=problem) as caught:
        decode_issuer(ef05)
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("tag", "value", "field", "problem"),
    [
        (Tag.SSN, b"370402199001011239", "ssn", "check character"),
        (Tag.SSN, b"370402199002301231", "ssn", "birth date"),
        (Tag.NAME, b"\xd5" + bytes(29), "name", "GB 18030"),
        (Tag.NAME, b"\xd5\xc5\x00\xc8\xfd" + bytes(25), "name", "inside"),
        (Tag.NAME, bytes(30), "name", "empty"),
        (Tag.SEX, b"3", "sex", "'1' or '2'"),
        (Tag.NATION, b"\x0a", "nationality", "BCD"),
        (Tag.BIRTHPLACE, bytes.fromhex("37040F"), "birthplace", "6 digits"),
    ],
)
def test_ef06_errors_name_the_field(tag: Tag, value: bytes, field: str, problem: str) -> None:
    _, ef06 = records_of(2)
    ef06[tag] = tlv(tag, value)
    with pytest.raises(CardFormatError, match=problem) as caught:
        decode_cardholder(ef06, 2)
    assert caught.value.field == field
    assert "370402199001011239" not in str(caught.value)


def test_tlv_framing() -> None:
    assert parse_tlv(0x07, tlv(0x07, b"A00000011")) == b"A00000011"
    with pytest.raises(CardFormatError, match="tag 08, expected 07"):
        parse_tlv(0x07, tlv(0x08, b"A00000011"))
    with pytest.raises(CardFormatError, match="length byte says 10"):
        parse_tlv(0x07, b"\x07\x0aA00000011")
    with pytest.raises(CardFormatError, match="the contract says 9"):
        parse_tlv(0x07, tlv(0x07, b"A0000001"))
    assert parse_tlv(0x42, tlv(0x42, b"any length")) == b"any length"


def test_mask_ssn() -> None:
    assert mask_ssn("370402199001011238") == "370402********1238"
    assert mask_ssn("1234") == "****"


def test_fci_and_atr() -> None:
    assert parse_fci(fci(Algorithm.SM4)) is Algorithm.SM4
    assert parse_fci(fci(Algorithm.DES3)) is Algorithm.DES3
    with pytest.raises(CardFormatError, match="unknown algorithm byte 02"):
        parse_fci(fci(Algorithm.DES3)[:-1] + b"\x02")
    other = bytes.fromhex("6F0A8408A000000003000000")
    with pytest.raises(WrongCardType):
        parse_fci(other)
    assert historical_bytes(EXAMPLE_ATR).hex().upper() == "0081534D97868437041A2B3C4D"
    assert card_factor(EXAMPLE_ATR).hex().upper() == "868437041A2B3C4D"
    # TD1 announcing T=1 brings a TCK
    assert historical_bytes(bytes.fromhex("3B8101" + "80" + "81")) == b"\x80"
    with pytest.raises(CardFormatError, match="announce"):
        historical_bytes(EXAMPLE_ATR[:-1])


# --- anything else raises CardFormatError only --------------------------------------------

any_bytes = st.binary(max_size=40)
record_maps = st.dictionaries(
    st.sampled_from([*EF05_TAGS, *EF06_TAGS, 0x42]), st.binary(max_size=40), max_size=16
)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([*EF05_TAGS, *EF06_TAGS]), any_bytes, st.data())
def test_any_single_record_decodes_or_raises_card_format_error(
    tag: Tag, value: bytes, data: st.DataObject
) -> None:
    """Replace one record of a good card by arbitrary value bytes (right or wrong length)."""
    generation = data.draw(st.sampled_from([1, 2, 3]))
    ef05, ef06 = records_of(generation)
    framed = data.draw(st.sampled_from([tlv(tag, value), value]))
    (ef05 if tag in EF05_TAGS else ef06)[tag] = framed
    error: CardFormatError | None = None
    try:
        info = decode_basic_info(ef05, ef06)
    except CardFormatError as exc:
        error = exc
    else:
        assert isinstance(info.birth_date, dt.date)
    assert error is None or error.field


@settings(max_examples=200, deadline=None)
@given(record_maps, record_maps, st.sampled_from([1, 2, 3]))
def test_arbitrary_record_maps_raise_only_card_format_error(
    ef05: dict[int, bytes], ef06: dict[int, bytes], generation: int
) -> None:
    for call in (
        lambda: decode_issuer(ef05),
        lambda: decode_cardholder(ef06, generation),
        lambda: decode_basic_info(ef05, ef06),
    ):
        with contextlib.suppress(CardFormatError):
            call()


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=60))
def test_arbitrary_fci_and_atr(data: bytes) -> None:
    for call in (lambda: parse_fci(data), lambda: historical_bytes(data)):
        with contextlib.suppress(CardFormatError, WrongCardType):
            call()
