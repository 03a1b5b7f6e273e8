"""The section-8 reader-interface string and its negative error codes."""

from __future__ import annotations

import pytest
from card_helpers import rig, user_card

from cardsvc.card import (
    ApplicationBlocked,
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
from cardsvc.card.reader_string import (
    ReaderCode,
    ReaderStringError,
    error_code,
    reader_bytes,
    reader_string,
)
from reader_driver import (
    CardRemoved,
    NoCard,
    NoReader,
    PcscdUnavailable,
    ReaderBusy,
    ReaderTimeout,
)

SECTION_8 = (
    "370402|370402199001011238|A00000011|370402D1560000051A2B3C4D00000001|张三|"
    "0081534D97868437041A2B3C4D|2.00|20240101|20340101|370400000001|{serial}|"
)


def test_the_section_8_example_exactly() -> None:
    with rig(user_card(2)) as r:
        session, _ = r.session("psam")
        result = session.basic_read()
        terminal = r.psam.terminal_number
    assert terminal == "370400000001"
    text = reader_string(result, terminal, "KIOSK-0042")
    assert text == SECTION_8.format(serial="KIOSK-0042")
    assert reader_bytes(result, terminal, "KIOSK-0042") == text.encode("gbk")
    assert text.count("|") == 11
    assert text.endswith("|")


def test_key_service_without_terminal_number_leaves_the_field_empty() -> None:
    with rig(user_card(2)) as r:
        session, _ = r.session("keys")
        text = reader_string(session.basic_read(), None, "")
    assert text.endswith("|20340101|||")
    assert text.split("|")[9:] == ["", "", ""]


def test_a_name_outside_gbk_still_encodes() -> None:
    card = user_card(3, name="张𠀀", name_ext="")
    with rig(card) as r:
        result = r.session("keys")[0].basic_read()
    data = reader_bytes(result, "370400000001", "x")
    assert data.decode("gb18030").split("|")[4] == "张𠀀"
    assert "张".encode("gbk") in data


def test_a_field_with_a_separator_is_refused() -> None:
    with rig(user_card(2)) as r:
        result = r.session("keys")[0].basic_read()
    with pytest.raises(ReaderStringError):
        reader_string(result, None, "a|b")


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (WrongCardType("x"), -1),
        (CardFormatError("ssn", "bad"), -1),
        (NoCard("no card"), -2),
        (CardRemoved("pulled"), -2),
        (NoReader("none"), -11),
        (PcscdUnavailable("down"), -11),
        (ReaderTimeout("mute", timeout=1.0), -11),
        (ReaderBusy("busy"), -11),
        (ForgedCard(), -21),
        (InvalidPin(3), -51),
        (PinBlocked(), -52),
        (NoSecurityModule(), -2201),
        (SecurityModuleError("gone"), -2201),
        (SecurityModuleError("no key", 0x6A88), -0x6A88),
        (CardStatusError(0x6A82), -27266),
        (ApplicationBlocked(), -0x6283),
        (HotlistedCard("A00000011"), -0x6283),
    ],
)
def test_error_codes(exc: BaseException, code: int) -> None:
    assert error_code(exc) == code


def test_reader_codes_are_the_contract_numbers() -> None:
    assert [c.value for c in ReaderCode] == [-1, -2, -11, -21, -51, -52, -2201]


def test_a_transport_error_of_the_sam_reader_is_no_psam() -> None:
    assert error_code(CardRemoved("pulled", reader="SAM"), sam_reader="SAM") == -2201
    assert error_code(ReaderTimeout("mute", timeout=1, reader="SAM"), sam_reader="SAM") == -2201
    assert error_code(CardRemoved("pulled", reader="User"), sam_reader="SAM") == -2
