"""Medical insurance status: employee and resident schemes."""

from datetime import date

import pytest

from cardsvc.rules.config import MonthDay, RulesConfig
from cardsvc.rules.errors import RuleInputError
from cardsvc.rules.medical import (
    MedicalScheme,
    ResidentMedicalPayment,
    collection_period,
    employee_medical_status,
    resident_medical_status,
)
from cardsvc.rules.months import YearMonth

CONFIG = RulesConfig()


@pytest.mark.parametrize(
    ("latest", "today", "active"),
    [
        (YearMonth(2025, 2), date(2025, 3, 10), True),
        (YearMonth(2025, 3), date(2025, 3, 10), True),
        (YearMonth(2025, 6), date(2025, 3, 10), True),
        (YearMonth(2025, 1), date(2025, 3, 10), False),
        (YearMonth(2024, 12), date(2025, 1, 1), True),
        (YearMonth(2024, 11), date(2025, 1, 31), False),
    ],
)
def test_employee(latest: YearMonth, today: date, active: bool) -> None:
    s = employee_medical_status(latest_paid_month=latest, today=today)
    assert s.scheme is MedicalScheme.EMPLOYEE
    assert s.active is active
    assert s.covered_through == (latest + 1).last_day()
    assert "previous" in s.rule or "last month" in s.rule
    assert str(latest) in s.reasons[0]


def test_employee_never_paid() -> None:
    s = employee_medical_status(latest_paid_month=None, today=date(2025, 3, 10))
    assert not s.active
    assert s.covered_through is None


@pytest.mark.parametrize(
    ("paid_on", "active"),
    [
        (date(2024, 8, 31), False),
        (date(2024, 9, 1), True),
        (date(2024, 12, 31), True),
        (date(2025, 1, 1), False),
    ],
)
def test_resident_collection_period(paid_on: date, active: bool) -> None:
    s = resident_medical_status(
        payments=[ResidentMedicalPayment(2025, paid_on)], today=date(2025, 5, 1), config=CONFIG
    )
    assert s.scheme is MedicalScheme.RESIDENT
    assert s.active is active
    assert s.covered_through == (date(2025, 12, 31) if active else None)
    if not active:
        assert "outside the collection period" in s.reasons[0]


def test_resident_only_counts_the_current_year() -> None:
    payments = [
        ResidentMedicalPayment(2024, date(2023, 10, 1)),
        ResidentMedicalPayment(2026, date(2025, 10, 1)),
    ]
    s = resident_medical_status(payments=payments, today=date(2025, 11, 1), config=CONFIG)
    assert not s.active
    assert "no payment for 2025" in s.reasons[0]


def test_resident_period_from_config() -> None:
    config = RulesConfig(
        resident_medical_collection_start=MonthDay(10, 1),
        resident_medical_collection_end=MonthDay(11, 30),
    )
    assert collection_period(2025, config) == (date(2024, 10, 1), date(2024, 11, 30))
    s = resident_medical_status(
        payments=[ResidentMedicalPayment(2025, date(2024, 9, 15))],
        today=date(2025, 2, 1),
        config=config,
    )
    assert not s.active


def test_config_refuses_bad_period() -> None:
    with pytest.raises(RuleInputError):
        RulesConfig(
            resident_medical_collection_start=MonthDay(12, 1),
            resident_medical_collection_end=MonthDay(9, 1),
        )
    with pytest.raises(RuleInputError):
        MonthDay(2, 30)
