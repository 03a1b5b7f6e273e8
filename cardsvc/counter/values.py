"""Checking what a clerk or a resident types, before anything goes to the API.

Each parser takes the text and returns the value the API wants, or raises
:class:`InputError` naming the field and saying what a valid value looks like (the
prompt then asks again; a script gets exit code 2).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Final

from cardsvc.counter.errors import InputError
from cardsvc.idcheck import is_valid_card_number, is_valid_ssn
from cardsvc.seed.credit_code import is_valid_credit_code

CONTRACT_TYPES: Final = ("fixed_term", "open_ended", "task_based", "part_time")
SCHEMES: Final = (
    "employee_pension",
    "resident_pension",
    "employee_medical",
    "resident_medical",
    "unemployment",
    "work_injury",
)
BENEFITS: Final = ("employee_pension", "resident_pension", "unemployment")
RETIREMENT_CATEGORIES: Final = ("male", "female_50", "female_55")
CANCELLATION_REASONS: Final = ("death", "emigration")
YES: Final = frozenset({"y", "yes", "true", "1", "是"})
NO: Final = frozenset({"n", "no", "false", "0", "否"})

_PHONE = re.compile(r"^\+?[0-9][0-9 -]{4,17}[0-9]$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_HEX32 = re.compile(r"^[0-9A-F]{32}$")
_PIN = re.compile(r"^[0-9]{4,12}$")


def ssn(text: str, field: str = "ssn") -> str:
    value = text.strip().upper()
    if not is_valid_ssn(value):
        raise InputError(
            field,
            "not a valid ID number: 18 characters, 17 digits and a check character "
            "(0-9 or X) that matches them, with a real birth date",
        )
    return value


def card_number(text: str, field: str = "card") -> str:
    value = text.strip().upper()
    if not is_valid_card_number(value):
        raise InputError(
            field, "not a card number: 8 characters 0-9/A-Z and the check character, e.g. A00000011"
        )
    return value


def card_id_code(text: str, field: str = "card_id_code") -> str:
    value = text.strip().upper()
    if not _HEX32.fullmatch(value):
        raise InputError(field, "the card identification code is 32 hexadecimal digits")
    return value


def credit_code(text: str, field: str = "employer") -> str:
    value = text.strip().upper()
    if not is_valid_credit_code(value):
        raise InputError(
            field,
            "not a unified social credit code: 18 characters with a matching check "
            "character (GB 32100), e.g. 913704024732787152",
        )
    return value


def date(text: str, field: str = "date") -> str:
    value = text.strip()
    try:
        return dt.date.fromisoformat(value).isoformat() if len(value) == 10 else _bad_date(field)
    except ValueError:
        return _bad_date(field)


def _bad_date(field: str) -> str:
    raise InputError(field, "a date as YYYY-MM-DD, e.g. 2026-12-01")


def choice(text: str, options: tuple[str, ...], field: str) -> str:
    value = text.strip().lower().replace("-", "_")
    if value in options:
        return value
    raise InputError(field, f"one of {', '.join(options)}")


def yes_no(text: str, field: str) -> bool:
    value = text.strip().lower()
    if value in YES:
        return True
    if value in NO:
        return False
    raise InputError(field, "answer yes or no (y/n)")


def phone(text: str, field: str = "phone") -> str:
    value = text.strip()
    if len(value) > 20 or not _PHONE.fullmatch(value):
        raise InputError(field, "a phone number: 6-20 digits (spaces, dashes, a leading +)")
    return value


def free_text(text: str, field: str, *, max_length: int) -> str:
    value = text.strip()
    if not value:
        raise InputError(field, "must not be empty")
    if len(value) > max_length:
        raise InputError(field, f"at most {max_length} characters")
    if _CONTROL.search(value):
        raise InputError(field, "no control characters")
    return value


def pin(text: str, field: str = "pin") -> str:
    """A PIN: 4 to 12 digits. The error never repeats what was typed."""
    if not _PIN.fullmatch(text.strip()):
        raise InputError(field, "a PIN is 4 to 12 digits")
    return text.strip()


def count(text: str, field: str, *, low: int, high: int) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise InputError(field, f"a whole number from {low} to {high}")
    return value
