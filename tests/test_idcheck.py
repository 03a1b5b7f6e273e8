"""Card-number and SSN check characters (card contract section 3, GB 11643)."""

from __future__ import annotations

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cardsvc.idcheck import (
    IdFormatError,
    card_number_check_char,
    is_valid_card_number,
    is_valid_ssn,
    ssn_birth_date,
    ssn_check_digit,
)


def test_contract_card_number_example() -> None:
    assert card_number_check_char("A0000001") == "1"
    assert is_valid_card_number("A00000011")
    assert not is_valid_card_number("A00000012")


@pytest.mark.parametrize(
    ("body", "check"),
    [
        ("A0000001", "1"),  # Σ = 10·3 + 1·2 = 32 ≡ 10, r = 1
        ("00000000", "0"),  # Σ = 0, r = 11 → '0'
        ("10000000", "8"),  # Σ = 3, r = 8
        ("00000001", "9"),  # Σ = 2, r = 9
        ("00010000", "1"),  # Σ = 10, r = 1
        ("01000000", "4"),  # Σ = 7, r = 4
        ("00000011", "5"),  # Σ = 4 + 2 = 6, r = 5
        ("Z0000000", "5"),  # Σ = 35·3 = 105 ≡ 6, r = 5
        ("00010001", "X"),  # Σ = 10 + 2 = 12 ≡ 1, r = 10 → 'X'
    ],
)
def test_card_number_check_chars(body: str, check: str) -> None:
    assert card_number_check_char(body) == check
    assert is_valid_card_number(body + check)


@pytest.mark.parametrize("body", ["A000000", "A00000001", "a0000001", "A000000-", "A000000 "])
def test_card_number_bad_body(body: str) -> None:
    with pytest.raises(IdFormatError):
        card_number_check_char(body)
    assert not is_valid_card_number(body + "1")


def test_contract_ssn_example() -> None:
    assert ssn_check_digit("37040219900101123") == "8"
    assert is_valid_ssn("370402199001011238")
    assert not is_valid_ssn("370402199001011237")
    assert ssn_birth_date("370402199001011238") is not None


def test_ssn_with_x_check() -> None:
    # a public GB 11643 sample whose check character is X
    assert ssn_check_digit("11010519491231002") == "X"
    assert is_valid_ssn("11010519491231002X")
    assert not is_valid_ssn("11010519491231002x")


@pytest.mark.parametrize(
    "ssn",
    [
        "37040219900101123",  # too short
        "3704021990010112388",  # too long
        "37040219900230123X",  # 30 February
        "3704021990010112A8",  # letter in the body
        "",
    ],
)
def test_invalid_ssns(ssn: str) -> None:
    assert not is_valid_ssn(ssn)


def test_ssn_body_must_be_digits() -> None:
    with pytest.raises(IdFormatError):
        ssn_check_digit("3704021990010112A")
    with pytest.raises(IdFormatError):
        ssn_check_digit("370402")


@given(st.text(alphabet=string.digits + string.ascii_uppercase, min_size=8, max_size=8))
def test_any_body_has_exactly_one_valid_check_char(body: str) -> None:
    check = card_number_check_char(body)
    assert check in string.digits + "X"
    valid = [c for c in string.digits + "X" if is_valid_card_number(body + c)]
    assert valid == [check]


@given(st.text(alphabet=string.digits, min_size=17, max_size=17))
def test_ssn_check_detects_any_single_digit_change(body: str) -> None:
    check = ssn_check_digit(body)
    for i in range(17):
        changed = body[:i] + str((int(body[i]) + 1) % 10) + body[i + 1 :]
        assert ssn_check_digit(changed) != check


@given(st.text(alphabet=string.digits, min_size=17, max_size=17))
def test_ssn_check_digit_is_gb_11643(body: str) -> None:
    # GB 11643: weights 2^(18-i) mod 11, check = (12 - sum mod 11) mod 11, 10 written X
    total = sum(int(d) * (2 ** (17 - i) % 11) for i, d in enumerate(body))
    expected = (12 - total % 11) % 11
    assert ssn_check_digit(body) == ("X" if expected == 10 else str(expected))


def test_ssn_body_with_non_ascii_digits_is_refused() -> None:
    with pytest.raises(IdFormatError):
        ssn_check_digit("\u0661" * 17)  # Arabic-Indic digits: isdigit(), not ASCII
