"""The seeder's small parts: check characters, hashes, SSN numbering, card numbers, names."""

from __future__ import annotations

import io
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cardsvc.idcheck import is_valid_card_number
from cardsvc.rules.months import add_months
from cardsvc.seed.cards import Fate, card_id_code_for, card_number_for, fate_of
from cardsvc.seed.context import SsnAllocator, add_months_fast, month_day, month_index
from cardsvc.seed.credit_code import (
    CreditCodeError,
    credit_code_check_char,
    is_valid_credit_code,
    make_credit_code,
)
from cardsvc.seed.names import NON_BMP_RARE, split_for_card
from cardsvc.seed.passwords import LOCKED, hash_secret, verify_secret
from cardsvc.seed.progress import TextProgress

REAL_CODES = (
    "91350100M000100Y43",
    "91110000600037341L",
    "914403001922038216",
    "91440300708461136T",
    "9144030071526726XG",
)


@pytest.mark.parametrize("code", REAL_CODES)
def test_real_credit_codes_validate(code: str) -> None:
    assert is_valid_credit_code(code)
    assert credit_code_check_char(code[:17]) == code[17]


def test_a_changed_character_is_caught() -> None:
    code = REAL_CODES[0]
    assert not is_valid_credit_code(code[:17] + ("0" if code[17] != "0" else "1"))
    assert not is_valid_credit_code(code[:5] + "I" + code[6:])  # I is not in the set
    with pytest.raises(CreditCodeError):
        credit_code_check_char("short")


def test_made_codes_are_valid_and_distinct() -> None:
    codes = {make_credit_code("370402", n) for n in range(2000)}
    assert len(codes) == 2000
    assert all(is_valid_credit_code(c) for c in codes)


def test_scrypt_hash_format_and_verification() -> None:
    stored = hash_secret("demo2011", bytes(range(16)))
    scheme, n, r, p, salt, digest = stored.split("$")
    assert (scheme, n, r, p) == ("scrypt", "16384", "8", "1")
    assert len(bytes.fromhex(salt)) == 16
    assert len(bytes.fromhex(digest)) == 32
    assert verify_secret("demo2011", stored)
    assert not verify_secret("demo2012", stored)


@pytest.mark.parametrize(
    "stored", [LOCKED, "", "scrypt$2$8$1$00$00", "bcrypt$x", "scrypt$3$8$1$" + "00" * 16 + "$00"]
)
def test_locked_and_malformed_hashes_never_verify(stored: str) -> None:
    assert not verify_secret("", stored)
    assert not verify_secret("demo2011", stored)


def test_ssn_sequences_are_unique_per_place_day_and_sex() -> None:
    ssns = SsnAllocator()
    day = date(1990, 1, 1)
    men = [ssns.allocate("370402", day, True) for _ in range(500)]
    assert None not in men
    assert len(set(men)) == 500
    assert all(int(s) % 2 == 1 for s in men if s is not None)
    assert ssns.allocate("370402", day, True) is None
    women = {ssns.allocate("370402", day, False) for _ in range(10)}
    assert all(s is not None and int(s) % 2 == 0 for s in women)


def test_observed_ssns_are_not_handed_out_again() -> None:
    first = SsnAllocator()
    day = date(1985, 7, 15)
    taken = [first.allocate("370481", day, False) for _ in range(3)]
    second = SsnAllocator()
    for seq in taken:
        second.observe(f"370481{day:%Y%m%d}{seq}0")
    again = {second.allocate("370481", day, False) for _ in range(20)}
    assert not again & set(taken)


@given(st.integers(min_value=1, max_value=50_000_000), st.sampled_from([1, 2, 3]))
@settings(max_examples=200)
def test_card_numbers_are_valid(card_id: int, generation: int) -> None:
    assert is_valid_card_number(card_number_for(card_id, generation))


def test_card_numbers_and_codes_never_repeat() -> None:
    ids = [*range(1, 3000), *range(8_998_500, 9_001_500)]
    numbers = {card_number_for(i, 1 + i % 3) for i in ids}
    assert len(numbers) == len(ids)
    code = card_id_code_for("370402", 1)
    assert len(code) == 32
    assert code.startswith("370402D156000005")
    assert code.endswith("00000001")
    assert len({card_id_code_for("370402", i)[16:24] for i in ids}) == len(ids)


def test_every_hundred_residents_meet_every_card_fate() -> None:
    for start in (1, 57, 1001):
        assert {fate_of(i, 2011) for i in range(start, start + 100)} == set(Fate)


def test_names_are_split_for_the_card() -> None:
    long_name = "阿依古丽·艾合买提江·吐尔洪巴依"  # 16 characters, 32 bytes
    assert split_for_card(long_name, 2) == ("阿依古丽·艾合买提江·吐尔洪巴", "依")
    assert split_for_card(long_name, 1) is None
    rare = "董" + NON_BMP_RARE[0]
    assert split_for_card(rare, 1) == (rare, "")
    assert len(rare.encode("gb18030")) == 6


@given(st.dates(min_value=date(1930, 1, 1), max_value=date(2090, 12, 31)), st.integers(-400, 400))
@settings(max_examples=200)
def test_fast_month_arithmetic_agrees_with_the_rules(day: date, months: int) -> None:
    assert add_months_fast(day, months) == add_months(day, months)
    assert month_day(month_index(day), day.day) == day


def test_progress_is_silent_unless_a_terminal() -> None:
    quiet = io.StringIO()
    progress = TextProgress(quiet)
    progress.phase("persons", 10)
    progress.advance(10)
    progress.finish()
    assert quiet.getvalue() == ""
    shown = io.StringIO()
    progress = TextProgress(shown, force=True)
    progress.phase("persons", 10)
    progress.advance(10)
    progress.finish()
    assert "\rpersons" in shown.getvalue()
    assert "10/10" in shown.getvalue()
    assert shown.getvalue().endswith("\n")
