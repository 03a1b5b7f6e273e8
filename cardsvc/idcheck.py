"""Check characters of the two identifiers printed on a social security card.

- Card number (卡号, EF05 tag 07): 8 characters [0-9A-Z] and a check character
  (card contract section 3): values 0-9, A=10 … Z=35; weights 3,7,9,10,5,8,4,2;
  r = 11 − (Σ mod 11); r=10 → `X`, r=11 → `0`, else the digit.
- Social security number (社会保障号码 = citizen ID, GB 11643): 17 digits and a
  check character: weights 2^(17-i) mod 11, check = "10X98765432"[Σ mod 11].

Used by the simulators' personalisation and by the terminal side alike.
"""

from __future__ import annotations

import datetime as dt
import operator
import string

from cardsvc.errors import CardsvcError

_CARD_ALPHABET = string.digits + string.ascii_uppercase
_CARD_VALUES = {c: v for v, c in enumerate(_CARD_ALPHABET)}
_CARD_CHARS = frozenset(_CARD_ALPHABET)
_CARD_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
_SSN_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_SSN_CHECK = "10X98765432"
_SSN_ZERO = ord("0") * sum(_SSN_WEIGHTS)  # what the weighted sum of "000...0" codes adds


class IdFormatError(CardsvcError, ValueError):
    """An identifier body that has the wrong length or characters."""


def card_number_check_char(body8: str) -> str:
    """The check character of an 8-character card-number body, e.g. `A0000001` → `1`."""
    if len(body8) != 8 or not _CARD_CHARS.issuperset(body8):
        raise IdFormatError(f"card number body must be 8 characters 0-9/A-Z, got {body8!r}")
    total = sum(map(operator.mul, map(_CARD_VALUES.__getitem__, body8), _CARD_WEIGHTS))
    r = 11 - total % 11
    if r == 10:
        return "X"
    if r == 11:
        return "0"
    return str(r)


def is_valid_card_number(card_number: str) -> bool:
    """9 characters: an 8-character body [0-9A-Z] and its check character."""
    if len(card_number) != 9:
        return False
    try:
        return card_number_check_char(card_number[:8]) == card_number[8]
    except IdFormatError:
        return False


def ssn_check_digit(body17: str) -> str:
    """The GB 11643 check character (`0`-`9` or `X`) of the first 17 digits."""
    if len(body17) != 17 or not body17.isascii() or not body17.isdigit():
        raise IdFormatError(f"SSN body must be 17 digits, got {len(body17)} characters")
    # On the ASCII codes: sum(w * (code - 48)) = sum(w * code) - 48 * sum(w), no int() per digit.
    total = sum(map(operator.mul, body17.encode("ascii"), _SSN_WEIGHTS)) - _SSN_ZERO
    return _SSN_CHECK[total % 11]


def mask_ssn(ssn: str) -> str:
    """`370402********1238`: the region (first 6) and the last 4 characters only.

    The one masking rule for ID numbers wherever a reader does not need them (kiosks,
    logs, journal views, card files' index, screens). Too short to keep both ends:
    all asterisks.
    """
    if len(ssn) <= 10:
        return "*" * len(ssn)
    return ssn[:6] + "*" * (len(ssn) - 10) + ssn[-4:]


def ssn_birth_date(ssn: str) -> dt.date | None:
    """The birth date held in characters 7-14 of an SSN, or None if it is not a real date."""
    text = ssn[6:14]
    if len(text) != 8 or not text.isascii() or not text.isdigit():
        return None
    try:
        return dt.date(int(text[:4]), int(text[4:6]), int(text[6:8]))
    except ValueError:
        return None


def is_valid_ssn(ssn: str) -> bool:
    """18 characters: 17 digits, a real birth date in 7-14, and the right check character.

    The check character `X` must be upper case (as GB 11643 writes it).
    """
    if len(ssn) != 18 or ssn_birth_date(ssn) is None:
        return False
    try:
        return ssn_check_digit(ssn[:17]) == ssn[17]
    except IdFormatError:
        return False
