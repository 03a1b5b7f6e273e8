"""Unified social credit codes (统一社会信用代码, GB 32100-2015) for synthetic employers.

Layout, 18 characters from the 31-character set ``0-9 A-H J-N P-R T U W-Y``
(no I, O, Z, S, V)::

    9        registration authority (9 = market regulation)
    1        organisation type (1 = enterprise)
    370402   administrative division code of the registering authority
    XXXXXXXX organisation code body (GB 11714) ...
    C        ... and its GB 11714 check character
    K        the GB 32100 check character over the first 17

GB 32100 check: with character values 0-30 (index in the set) and weights
``3^i mod 31`` (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28),
``K = set[(31 - Σ value × weight mod 31) mod 31]``.

GB 11714 check: values 0-9, A=10 … Z=35, weights 3, 7, 9, 10, 5, 8, 4, 2,
``r = 11 - Σ mod 11``; 10 → ``X``, 11 → ``0``. That is exactly the card-number
check of the card contract, so it is reused from cardsvc.idcheck.
"""

from __future__ import annotations

from typing import Final

from cardsvc.idcheck import card_number_check_char
from cardsvc.seed.errors import SeedError

CHARSET: Final = "0123456789ABCDEFGHJKLMNPQRTUWXY"
WEIGHTS: Final = tuple(pow(3, i, 31) for i in range(17))
_VALUES: Final = {c: i for i, c in enumerate(CHARSET)}


class CreditCodeError(SeedError, ValueError):
    """A credit-code body with the wrong length or characters."""


def credit_code_check_char(body17: str) -> str:
    """The GB 32100 check character of the first 17 characters."""
    if len(body17) != 17 or any(c not in _VALUES for c in body17):
        raise CreditCodeError(
            f"credit code body must be 17 characters of {CHARSET}, got {body17!r}"
        )
    total = sum(_VALUES[c] * w for c, w in zip(body17, WEIGHTS, strict=True))
    return CHARSET[(31 - total % 31) % 31]


def organisation_code_check_char(body8: str) -> str:
    """The GB 11714 check character of an 8-character organisation code body."""
    return card_number_check_char(body8)


def is_valid_credit_code(code: str) -> bool:
    """18 characters of the set, a valid GB 11714 organisation code inside, right check."""
    if len(code) != 18 or any(c not in _VALUES for c in code):
        return False
    if organisation_code_check_char(code[8:16]) != code[16]:
        return False
    return credit_code_check_char(code[:17]) == code[17]


def make_credit_code(region_code: str, organisation_number: int) -> str:
    """An enterprise's credit code: authority 9, type 1, `region_code`, organisation code.

    The organisation code body is the 8 decimal digits of `organisation_number`
    (0 … 99,999,999) passed through a fixed bijection, so distinct numbers give
    distinct codes that still look scattered.
    """
    if len(region_code) != 6 or not region_code.isdigit():
        raise CreditCodeError(f"region code must be 6 digits, got {region_code!r}")
    if not 0 <= organisation_number < 100_000_000:
        raise CreditCodeError(f"organisation number out of range: {organisation_number}")
    # 37,124,831 is coprime with 10^8: multiplication by it permutes 0 … 10^8 - 1.
    body8 = f"{(organisation_number * 37_124_831 + 10_203_040) % 100_000_000:08d}"
    org = body8 + organisation_code_check_char(body8)
    body17 = "91" + region_code + org
    return body17 + credit_code_check_char(body17)
