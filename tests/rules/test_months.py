"""YearMonth: parse/format, arithmetic, validation."""

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cardsvc.rules.errors import RuleError, RuleInputError
from cardsvc.rules.months import YearMonth, add_months, months_inclusive

year_months = st.builds(YearMonth, st.integers(1900, 2200), st.integers(1, 12))


def test_parse_and_format() -> None:
    ym = YearMonth.parse("202501")
    assert ym == YearMonth(2025, 1)
    assert ym.format() == "202501"
    assert str(YearMonth(987, 3)) == "098703"


@pytest.mark.parametrize(
    "text", ["2025-01", "20251", "202513", "202500", "abcdef", "", "2025011", "２０２５０１"]
)
def test_parse_refuses_bad_text(text: str) -> None:
    with pytest.raises(RuleInputError) as info:
        YearMonth.parse(text)
    assert info.value.field in {"year_month", "month", "year"}


@pytest.mark.parametrize(
    ("year", "month", "field"),
    [(2025, 0, "month"), (2025, 13, "month"), (0, 1, "year"), (10000, 1, "year")],
)
def test_constructor_validates(year: int, month: int, field: str) -> None:
    with pytest.raises(RuleInputError) as info:
        YearMonth(year, month)
    assert info.value.field == field
    assert isinstance(info.value, RuleError)


def test_constructor_refuses_non_integers() -> None:
    with pytest.raises(RuleInputError):
        YearMonth(True, 1)
    with pytest.raises(RuleInputError):
        YearMonth(2025, "1")  # type: ignore[arg-type]


@given(year_months)
def test_from_number_is_the_constructor_for_stored_months(ym: YearMonth) -> None:
    made = YearMonth.from_number(ym.year * 100 + ym.month)
    assert made == ym
    assert hash(made) == hash(ym)
    assert made.format() == ym.format()


@pytest.mark.parametrize(
    "number", [202500, 202513, 13, 0, -202501, 1000001, True, 202501.0, "202501"]
)
def test_from_number_refuses_what_is_not_a_month(number: object) -> None:
    with pytest.raises(RuleInputError) as info:
        YearMonth.from_number(number)  # type: ignore[arg-type]
    assert info.value.field == "year_month"


def test_arithmetic() -> None:
    assert YearMonth(2024, 12) + 1 == YearMonth(2025, 1)
    assert 1 + YearMonth(2024, 12) == YearMonth(2025, 1)
    assert YearMonth(2025, 1) - 1 == YearMonth(2024, 12)
    assert YearMonth(2025, 3) - YearMonth(2024, 12) == 3
    assert YearMonth(2024, 12) - YearMonth(2025, 3) == -3
    assert YearMonth(1965, 1) + 60 * 12 + 1 == YearMonth(2025, 2)
    assert YearMonth(2025, 1) < YearMonth(2025, 2) < YearMonth(2026, 1)


def test_days() -> None:
    assert YearMonth(2024, 2).first_day() == date(2024, 2, 1)
    assert YearMonth(2024, 2).last_day() == date(2024, 2, 29)
    assert YearMonth(2023, 2).last_day() == date(2023, 2, 28)
    assert YearMonth(2023, 2).day(31) == date(2023, 2, 28)
    assert YearMonth.of(date(2025, 7, 15)) == YearMonth(2025, 7)
    with pytest.raises(RuleInputError):
        YearMonth(2023, 2).day(0)


def test_add_months_clamps_day() -> None:
    assert add_months(date(2024, 1, 31), 1) == date(2024, 2, 29)
    assert add_months(date(2024, 2, 29), 12) == date(2025, 2, 28)
    assert add_months(date(2024, 3, 15), -3) == date(2023, 12, 15)


def test_months_inclusive() -> None:
    assert list(months_inclusive(YearMonth(2024, 11), YearMonth(2025, 2))) == [
        YearMonth(2024, 11),
        YearMonth(2024, 12),
        YearMonth(2025, 1),
        YearMonth(2025, 2),
    ]
    assert list(months_inclusive(YearMonth(2025, 2), YearMonth(2025, 1))) == []


@settings(max_examples=200)
@given(year_months)
def test_format_parse_round_trip(ym: YearMonth) -> None:
    assert YearMonth.parse(ym.format()) == ym


@settings(max_examples=200)
@given(year_months, st.integers(-1200, 1200))
def test_add_then_subtract(ym: YearMonth, n: int) -> None:
    moved = ym + n
    assert moved - n == ym
    assert moved - ym == n
    assert (moved > ym) == (n > 0)
