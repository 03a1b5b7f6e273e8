"""Resident pension: age 60 and 180 months paid."""

from datetime import date

import pytest

from cardsvc.rules.errors import RuleInputError
from cardsvc.rules.resident_pension import resident_pension_eligibility


@pytest.mark.parametrize(
    ("today", "months_paid", "eligible", "failures"),
    [
        (date(2025, 6, 15), 180, True, 0),
        (date(2025, 6, 14), 180, False, 1),
        (date(2025, 6, 15), 179, False, 1),
        (date(2025, 6, 14), 0, False, 2),
        (date(2030, 1, 1), 300, True, 0),
    ],
)
def test_table(today: date, months_paid: int, eligible: bool, failures: int) -> None:
    d = resident_pension_eligibility(
        birth_date=date(1965, 6, 15), months_paid=months_paid, today=today
    )
    assert d.eligible is eligible
    assert d.age_reached_on == date(2025, 6, 15)
    assert d.months_required == 180
    assert d.months_still_needed == max(0, 180 - months_paid)
    assert d.rule
    if not eligible:
        assert len(d.reasons) == failures


def test_leap_day_birthday() -> None:
    d = resident_pension_eligibility(
        birth_date=date(1964, 2, 29), months_paid=200, today=date(2024, 2, 29)
    )
    assert d.eligible
    d = resident_pension_eligibility(
        birth_date=date(1963, 2, 28), months_paid=200, today=date(2023, 2, 27)
    )
    assert not d.eligible


def test_bad_input() -> None:
    with pytest.raises(RuleInputError) as info:
        resident_pension_eligibility(
            birth_date=date(1965, 1, 1), months_paid=-5, today=date(2025, 1, 1)
        )
    assert info.value.field == "months_paid"
    with pytest.raises(RuleInputError) as info:
        resident_pension_eligibility(
            birth_date=date(1965, 1, 1), months_paid=5, today=date(1964, 1, 1)
        )
    assert info.value.field == "today"
