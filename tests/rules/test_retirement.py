"""Retirement: the official cases of the 2025 reform and the minimum contribution per year."""

import itertools
from datetime import date

import pytest

from cardsvc.rules.errors import RuleInputError
from cardsvc.rules.months import YearMonth
from cardsvc.rules.retirement import (
    RetirementCategory,
    StatutoryAge,
    minimum_contribution_months,
    retirement_eligibility,
    statutory_age,
)

M = RetirementCategory.MALE
F55 = RetirementCategory.FEMALE_55
F50 = RetirementCategory.FEMALE_50

# (category, born YYYYMM, age years, age months, retires YYYYMM), from the official
# comparison table 《延迟法定退休年龄对照表》.
OFFICIAL = [
    # the cases the brief names
    (M, "196412", 60, 0, "202412"),
    (M, "196501", 60, 1, "202502"),
    (M, "196505", 60, 2, "202507"),
    (M, "197609", 63, 0, "203909"),
    (F50, "197501", 50, 1, "202502"),
    (F50, "198411", 55, 0, "203911"),
    (F55, "197001", 55, 1, "202502"),
    (F55, "198109", 58, 0, "203909"),
    # more rows of the table: block edges
    (M, "196504", 60, 1, "202505"),
    (M, "196508", 60, 2, "202510"),
    (M, "196509", 60, 3, "202512"),
    (M, "196512", 60, 3, "202603"),
    (M, "196601", 60, 4, "202605"),
    (M, "197605", 62, 11, "203904"),
    (M, "197608", 62, 11, "203907"),
    (M, "197701", 63, 0, "204001"),
    (M, "199012", 63, 0, "205312"),
    (F55, "196912", 55, 0, "202412"),
    (F55, "197004", 55, 1, "202505"),
    (F55, "197005", 55, 2, "202507"),
    (F55, "198105", 57, 11, "203904"),
    (F55, "198108", 57, 11, "203907"),
    (F55, "198201", 58, 0, "204001"),
    (F50, "197412", 50, 0, "202412"),
    (F50, "197502", 50, 1, "202503"),
    (F50, "197503", 50, 2, "202505"),
    (F50, "197504", 50, 2, "202506"),
    (F50, "197512", 50, 6, "202606"),
    (F50, "197601", 50, 7, "202608"),
    (F50, "198409", 54, 11, "203908"),
    (F50, "198410", 54, 11, "203909"),
    (F50, "198501", 55, 0, "204001"),
]


@pytest.mark.parametrize(("category", "born", "years", "months", "retires"), OFFICIAL)
def test_official_table(
    category: RetirementCategory, born: str, years: int, months: int, retires: str
) -> None:
    age = statutory_age(YearMonth.parse(born), category)
    assert age.statutory_age == StatutoryAge(years, months)
    assert age.retirement_month == YearMonth.parse(retires)
    assert age.rule


def test_man_1965_04_versus_1965_05() -> None:
    april = statutory_age(YearMonth(1965, 4), M)
    may = statutory_age(YearMonth(1965, 5), M)
    assert (april.delay_months, may.delay_months) == (1, 2)
    assert may.retirement_month - april.retirement_month == 2


@pytest.mark.parametrize(("category", "cap"), [(M, 36), (F55, 36), (F50, 60)])
def test_delay_is_monotonic_and_capped(category: RetirementCategory, cap: int) -> None:
    delays = [statutory_age(YearMonth(1950, 1) + i, category).delay_months for i in range(12 * 45)]
    assert all(a <= b for a, b in itertools.pairwise(delays))
    assert max(delays) == cap
    assert delays[0] == 0


@pytest.mark.parametrize(
    ("year", "months"),
    [
        (2024, 180),
        (2025, 180),
        (2029, 180),
        (2030, 186),
        (2031, 192),
        (2032, 198),
        (2033, 204),
        (2034, 210),
        (2035, 216),
        (2036, 222),
        (2037, 228),
        (2038, 234),
        (2039, 240),
        (2040, 240),
        (2060, 240),
    ],
)
def test_minimum_contribution_by_year(year: int, months: int) -> None:
    assert minimum_contribution_months(year) == months


def test_eligible_when_age_reached_and_enough_paid() -> None:
    d = retirement_eligibility(
        birth_date=date(1965, 1, 10), category=M, months_paid=200, today=date(2025, 2, 10)
    )
    assert d.eligible
    assert d.age_reached
    assert d.retirement_date == date(2025, 2, 10)
    assert d.retirement_month == YearMonth(2025, 2)
    assert d.months_required == 180
    assert d.months_still_needed == 0
    assert "2024-09-13" in d.rule


def test_not_yet_of_age() -> None:
    d = retirement_eligibility(
        birth_date=date(1965, 1, 10), category=M, months_paid=200, today=date(2025, 2, 9)
    )
    assert not d.eligible
    assert not d.age_reached
    assert any("reaches the statutory age on 2025-02-10" in r for r in d.reasons)


def test_months_still_needed_use_year_of_retirement() -> None:
    # a man born 1970-06: old month 2030-06 is month 66, ceil(66/4) = 17 → 61 y 5 m,
    # retires 2031-11 and needs the 2031 minimum of 16 years
    d = retirement_eligibility(
        birth_date=date(1970, 6, 1), category=M, months_paid=150, today=date(2025, 1, 1)
    )
    assert d.statutory_age == StatutoryAge(61, 5)
    assert d.retirement_month == YearMonth(2031, 11)
    assert d.months_required == 192
    assert d.months_still_needed == 42
    assert not d.eligible
    assert any("still needed" in r for r in d.reasons)


def test_retirement_date_clamps_to_month_end() -> None:
    d = retirement_eligibility(
        birth_date=date(1965, 1, 31), category=M, months_paid=180, today=date(2025, 3, 1)
    )
    assert d.retirement_date == date(2025, 2, 28)
    assert d.eligible


def test_age_reached_but_too_few_months() -> None:
    d = retirement_eligibility(
        birth_date=date(1960, 5, 5), category=F50, months_paid=179, today=date(2025, 1, 1)
    )
    assert d.age_reached
    assert not d.eligible
    assert d.months_still_needed == 1


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"months_paid": -1, "today": date(2025, 1, 1)}, "months_paid"),
        ({"months_paid": 10, "today": date(1960, 1, 1)}, "today"),
    ],
)
def test_bad_input(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(RuleInputError) as info:
        retirement_eligibility(birth_date=date(1965, 1, 1), category=M, **kwargs)  # type: ignore[arg-type]
    assert info.value.field == field
