"""Ages and the statutory retirement date of a recorded person."""

from __future__ import annotations

from datetime import date

from cardsvc.db.models import Person, RetirementCategory, Sex
from cardsvc.rules.months import YearMonth, add_months
from cardsvc.rules.retirement import statutory_age

MIN_WORKING_AGE = 16


def age_on(birth_date: date, day: date) -> int:
    """Whole years from `birth_date` to `day`."""
    years = day.year - birth_date.year
    if (day.month, day.day) < (birth_date.month, birth_date.day):
        years -= 1
    return years


def retirement_category(person: Person) -> RetirementCategory | None:
    """The recorded category; men default to MALE. None for a woman without one recorded
    (her statutory age is 50 as a worker or 55 as a cadre: only a record can say)."""
    if person.retirement_category is not None:
        return person.retirement_category
    if person.sex is Sex.MALE:
        return RetirementCategory.MALE
    return None


def statutory_retirement_date(birth_date: date, category: RetirementCategory) -> date:
    age = statutory_age(YearMonth.of(birth_date), category)
    return add_months(birth_date, age.statutory_age.total_months)


def working_age_problem(person: Person, day: date) -> str | None:
    """Why `person` is not of working age on `day`, or None when they are.

    Working age: from the 16th birthday until the statutory retirement date. A woman
    without a recorded category is given the later (cadre, 55) age here, so that
    nobody is refused for a record that is missing.
    """
    if age_on(person.birth_date, day) < MIN_WORKING_AGE:
        return f"under {MIN_WORKING_AGE} (born {person.birth_date.isoformat()})"
    category = retirement_category(person) or RetirementCategory.FEMALE_55
    retires = statutory_retirement_date(person.birth_date, category)
    if day >= retires:
        return f"past the statutory retirement date {retires.isoformat()}"
    return None
