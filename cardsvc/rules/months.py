"""Calendar months as values: :class:`YearMonth` ("YYYYMM" in records).

Contribution and benefit records are kept per month; this type does the month
arithmetic (``ym + 3``, ``ym - 1``, ``later - earlier`` → number of months) and
the "YYYYMM" text form used in records and on the wire.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import overload

from cardsvc.rules.errors import RuleInputError

_YYYYMM = re.compile(r"[0-9]{6}")

MIN_YEAR = 1
MAX_YEAR = 9999


@dataclass(frozen=True, order=True, slots=True)
class YearMonth:
    """One calendar month. Ordered by time; ``str()`` gives "YYYYMM"."""

    year: int
    month: int

    def __post_init__(self) -> None:
        _require_int("year", self.year)
        _require_int("month", self.month)
        if not MIN_YEAR <= self.year <= MAX_YEAR:
            raise RuleInputError("year", f"must be in {MIN_YEAR}..{MAX_YEAR}, got {self.year}")
        if not 1 <= self.month <= 12:
            raise RuleInputError("month", f"must be in 1..12, got {self.month}")

    # -- construction -----------------------------------------------------------------

    @classmethod
    def parse(cls, text: str) -> YearMonth:
        """Parse "YYYYMM" (exactly six digits, month 01..12)."""
        if not isinstance(text, str) or _YYYYMM.fullmatch(text) is None:
            raise RuleInputError("year_month", f"expected six digits YYYYMM, got {text!r}")
        return cls(int(text[:4]), int(text[4:]))

    @classmethod
    def from_number(cls, number: int) -> YearMonth:
        """The month kept as the integer YYYYMM (as the records store it).

        One combined check instead of the constructor's four: pages of contribution
        lines build one per row.
        """
        year, month = divmod(number, 100) if type(number) is int else (0, 0)
        if not (MIN_YEAR <= year <= MAX_YEAR and 1 <= month <= 12):
            raise RuleInputError("year_month", f"expected an integer YYYYMM, got {number!r}")
        made = object.__new__(cls)
        object.__setattr__(made, "year", year)  # frozen: set once, as __init__ does
        object.__setattr__(made, "month", month)
        return made

    @classmethod
    def of(cls, day: date) -> YearMonth:
        """The month that contains ``day``."""
        return cls(day.year, day.month)

    @classmethod
    def from_index(cls, index: int) -> YearMonth:
        """Inverse of :attr:`index` (months since January of year 0)."""
        year, month0 = divmod(index, 12)
        return cls(year, month0 + 1)

    # -- views ------------------------------------------------------------------------

    @property
    def index(self) -> int:
        """Months since January of year 0; consecutive months differ by one."""
        return self.year * 12 + (self.month - 1)

    def format(self) -> str:
        """The "YYYYMM" form."""
        return f"{self.year:04d}{self.month:02d}"

    def __str__(self) -> str:
        return self.format()

    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    def last_day(self) -> date:
        return date(self.year, self.month, calendar.monthrange(self.year, self.month)[1])

    def day(self, day_of_month: int) -> date:
        """The given day of this month, clamped to the month's last day (31 → 28 in Feb)."""
        if day_of_month < 1:
            raise RuleInputError("day_of_month", f"must be at least 1, got {day_of_month}")
        last = calendar.monthrange(self.year, self.month)[1]
        return date(self.year, self.month, min(day_of_month, last))

    # -- arithmetic -------------------------------------------------------------------

    def plus(self, months: int) -> YearMonth:
        """This month moved by ``months`` (negative moves back)."""
        return YearMonth.from_index(self.index + months)

    def __add__(self, months: int) -> YearMonth:
        if not isinstance(months, int) or isinstance(months, bool):
            return NotImplemented
        return self.plus(months)

    def __radd__(self, months: int) -> YearMonth:
        return self.__add__(months)

    @overload
    def __sub__(self, other: YearMonth) -> int: ...

    @overload
    def __sub__(self, other: int) -> YearMonth: ...

    def __sub__(self, other: YearMonth | int) -> YearMonth | int:
        """``ym - n`` is a month; ``later - earlier`` is the number of months between."""
        if isinstance(other, YearMonth):
            return self.index - other.index
        if isinstance(other, int) and not isinstance(other, bool):
            return self.plus(-other)
        return NotImplemented


def _require_int(field: str, value: object) -> None:
    # bool is an int subclass; refuse it as clearly as any other non-integer
    if not isinstance(value, int) or isinstance(value, bool):
        raise RuleInputError(field, f"must be an integer, got {value!r}")


def months_inclusive(first: YearMonth, last: YearMonth) -> Iterator[YearMonth]:
    """Every month from ``first`` to ``last``, both included (nothing if last < first)."""
    for index in range(first.index, last.index + 1):
        yield YearMonth.from_index(index)


def add_months(day: date, months: int) -> date:
    """``day`` moved by whole months, the day clamped to the target month's end.

    2024-01-31 + 1 month → 2024-02-29; 2023-02-28 + 12 → 2024-02-28.
    """
    return YearMonth.of(day).plus(months).day(day.day)
