"""Employee pension: statutory retirement age and minimum contribution (item B03).

The law: 全国人民代表大会常务委员会关于实施渐进式延迟法定退休年龄的决定
(2024-09-13), with the State Council's 《国务院关于渐进式延迟法定退休年龄的办法》,
in force 2025-01-01.

**Age.** Let ``old`` be the person's original statutory age (men 60; women cadres 55;
women workers 50 — the category is an input, :class:`RetirementCategory`), and
``R0 = birth month + old years`` the month they would have retired in under the old
rules. Number the months from January 2025: ``n = R0 − 2024-12`` (January 2025 is 1).

* men and women with original age 55: ``delay = ceil(n / 4)`` months, at most 36
  (one month for every four months; 63 and 58 years);
* women with original age 50: ``delay = ceil(n / 2)`` months, at most 60
  (one month for every two months; 55 years);
* ``n <= 0`` (old retirement month before 2025): no delay.

The statutory age is ``old years + delay months``; the retirement month is the birth
month plus that age, and the retirement date is the day the person reaches it (the
birthday, clamped to the month's end: born 31 January, age 60 y 1 m → 28/29 February).
Pension is normally paid from the month after.

``ceil`` is what the official comparison table (《延迟法定退休年龄对照表》) does: the
first month of each block of four (two) already carries the next month of delay.
Rows from that table, all in the tests:

=====================  ==============  ===============
born                   statutory age   retires
=====================  ==============  ===============
man 1964-12            60 y            2024-12
man 1965-01 … 1965-04  60 y 1 m        2025-02 … 2025-05
man 1965-05 … 1965-08  60 y 2 m        2025-07 … 2025-10
man 1965-09 … 1965-12  60 y 3 m        2025-12 … 2026-03
man 1966-01            60 y 4 m        2026-05
man 1976-05 … 1976-08  62 y 11 m       2039-04 … 2039-07
man 1976-09 or later   63 y            2039-09 …
woman/55 1970-01       55 y 1 m        2025-02
woman/55 1981-09 on    58 y            2039-09 …
woman/50 1975-01 … 02  50 y 1 m        2025-02 … 2025-03
woman/50 1975-03 … 04  50 y 2 m        2025-05 … 2025-06
woman/50 1984-09 … 10  54 y 11 m       2039-08 … 2039-09
woman/50 1984-11 on    55 y            2039-11 …
=====================  ==============  ===============

So a man born 1965-04 waits 1 month (n = 4, ceil(4/4) = 1) and one born 1965-05 waits
2 (n = 5, ceil(5/4) = 2).

**Minimum contribution**, by the year of the retirement month: 15 years (180 months)
up to 2029; from 2030 it rises by 6 months a year: 2030 → 186 (15.5 y), 2031 → 192,
…, 2039 and later → 240 (20 y).

Not modelled here (the service asks for them separately): flexible early retirement
(up to 3 years, never below the old age, once the minimum contribution is met) and
flexible later retirement (up to 3 years, by agreement), special-post early
retirement, and making up missing years by longer or one-off contribution.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date

from cardsvc.rules.errors import RuleInputError
from cardsvc.rules.months import YearMonth, add_months

RULE_AGE = (
    "全国人大常委会 decision of 2024-09-13 (in force 2025-01-01): gradual delay of the "
    "statutory retirement age"
)
REFORM_BASE = YearMonth(2024, 12)
"""``n`` counts months after this one: the first delayed old retirement month is 2025-01."""


class RetirementCategory(enum.Enum):
    """The original (pre-2025) statutory age group."""

    MALE = "male"
    FEMALE_55 = "female_55"
    FEMALE_50 = "female_50"


@dataclass(frozen=True, slots=True)
class _Schedule:
    original_years: int
    months_per_step: int
    max_delay_months: int


_SCHEDULES: dict[RetirementCategory, _Schedule] = {
    RetirementCategory.MALE: _Schedule(60, 4, 36),
    RetirementCategory.FEMALE_55: _Schedule(55, 4, 36),
    RetirementCategory.FEMALE_50: _Schedule(50, 2, 60),
}

MIN_CONTRIBUTION_BASE_MONTHS = 180
MIN_CONTRIBUTION_MAX_MONTHS = 240
MIN_CONTRIBUTION_RISE_FROM = 2030
MIN_CONTRIBUTION_STEP_MONTHS = 6


@dataclass(frozen=True, slots=True, order=True)
class StatutoryAge:
    years: int
    months: int

    @property
    def total_months(self) -> int:
        return self.years * 12 + self.months

    def __str__(self) -> str:
        if self.months == 0:
            return f"{self.years} years"
        unit = "month" if self.months == 1 else "months"
        return f"{self.years} years {self.months} {unit}"


@dataclass(frozen=True, slots=True)
class RetirementAge:
    """The statutory age and when it is reached."""

    category: RetirementCategory
    birth_month: YearMonth
    original_age_years: int
    original_retirement_month: YearMonth
    delay_months: int
    statutory_age: StatutoryAge
    retirement_month: YearMonth
    rule: str


@dataclass(frozen=True, slots=True)
class RetirementDecision:
    """Item B03: may the person draw the employee pension now; if not, when and what is missing."""

    eligible: bool
    rule: str
    reasons: tuple[str, ...]
    category: RetirementCategory
    statutory_age: StatutoryAge
    retirement_month: YearMonth
    retirement_date: date
    """The day the statutory age is reached."""
    months_paid: int
    months_required: int
    months_still_needed: int
    age_reached: bool


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def statutory_age(birth_month: YearMonth, category: RetirementCategory) -> RetirementAge:
    """The statutory retirement age for someone born in ``birth_month`` (see module doc)."""
    schedule = _SCHEDULES[category]
    original = birth_month + schedule.original_years * 12
    n = original - REFORM_BASE
    delay = 0 if n <= 0 else min(schedule.max_delay_months, _ceil_div(n, schedule.months_per_step))
    total = schedule.original_years * 12 + delay
    age = StatutoryAge(total // 12, total % 12)
    if delay == 0:
        rule = (
            f"original age {schedule.original_years}: old retirement month {original} "
            "is before 2025, no delay"
        )
    else:
        capped = " (the cap)" if delay == schedule.max_delay_months else ""
        rule = (
            f"original age {schedule.original_years}, old retirement month {original} is month "
            f"{n} of the reform; one month of delay per {schedule.months_per_step} months "
            f"(rounded up), at most {schedule.max_delay_months}: {delay} "
            f"{'month' if delay == 1 else 'months'}{capped}"
        )
    return RetirementAge(
        category=category,
        birth_month=birth_month,
        original_age_years=schedule.original_years,
        original_retirement_month=original,
        delay_months=delay,
        statutory_age=age,
        retirement_month=birth_month + total,
        rule=rule,
    )


def minimum_contribution_months(retirement_year: int) -> int:
    """Months of contribution needed by those who retire in ``retirement_year``."""
    if retirement_year < MIN_CONTRIBUTION_RISE_FROM:
        return MIN_CONTRIBUTION_BASE_MONTHS
    steps = retirement_year - MIN_CONTRIBUTION_RISE_FROM + 1
    return min(
        MIN_CONTRIBUTION_MAX_MONTHS,
        MIN_CONTRIBUTION_BASE_MONTHS + steps * MIN_CONTRIBUTION_STEP_MONTHS,
    )


def retirement_eligibility(
    *,
    birth_date: date,
    category: RetirementCategory,
    months_paid: int,
    today: date,
) -> RetirementDecision:
    """Item B03: statutory age, retirement date, months paid/needed, and eligible today?

    ``months_paid`` counts every month that counts for the employee pension (including
    deemed contribution periods); the minimum applies by the year of the retirement month.
    """
    if not isinstance(months_paid, int) or isinstance(months_paid, bool) or months_paid < 0:
        raise RuleInputError("months_paid", f"must be a non-negative integer, got {months_paid!r}")
    if today < birth_date:
        raise RuleInputError("today", f"{today.isoformat()} is before the birth date")
    age = statutory_age(YearMonth.of(birth_date), category)
    retirement_date = add_months(birth_date, age.statutory_age.total_months)
    required = minimum_contribution_months(age.retirement_month.year)
    still_needed = max(0, required - months_paid)
    age_reached = today >= retirement_date

    reasons: list[str] = [f"statutory age {age.statutory_age}: {age.rule}"]
    if age_reached:
        reasons.append(f"reached the statutory age on {retirement_date.isoformat()}")
    else:
        reasons.append(f"reaches the statutory age on {retirement_date.isoformat()}")
    reasons.append(
        f"retiring in {age.retirement_month.year} needs {required} months "
        f"({_years(required)} years) of contribution; paid {months_paid}"
    )
    if still_needed:
        reasons.append(f"{still_needed} months still needed")
    rule = (
        f"{RULE_AGE}; minimum contribution {_years(required)} years in {age.retirement_month.year}"
    )
    return RetirementDecision(
        eligible=age_reached and still_needed == 0,
        rule=rule,
        reasons=tuple(reasons),
        category=category,
        statutory_age=age.statutory_age,
        retirement_month=age.retirement_month,
        retirement_date=retirement_date,
        months_paid=months_paid,
        months_required=required,
        months_still_needed=still_needed,
        age_reached=age_reached,
    )


def _years(months: int) -> str:
    return f"{months / 12:g}"
