"""Pension qualification certification: due date, reminder, suspension, resumption, back pay."""

from datetime import date

import pytest

from cardsvc.rules.certification import CertificationState, certification_status, certify
from cardsvc.rules.config import RulesConfig
from cardsvc.rules.errors import RuleInputError
from cardsvc.rules.months import YearMonth

CONFIG = RulesConfig()
LAST = date(2024, 3, 15)


@pytest.mark.parametrize(
    ("today", "state"),
    [
        (date(2024, 3, 15), CertificationState.CURRENT),
        (date(2025, 2, 12), CertificationState.CURRENT),
        (date(2025, 2, 13), CertificationState.REMIND),  # 30 days before 2025-03-15
        (date(2025, 3, 15), CertificationState.REMIND),  # due day is still on time
        (date(2025, 3, 16), CertificationState.OVERDUE),
        (date(2025, 3, 31), CertificationState.OVERDUE),
        (date(2025, 4, 1), CertificationState.SUSPENDED),
        (date(2026, 1, 1), CertificationState.SUSPENDED),
    ],
)
def test_status(today: date, state: CertificationState) -> None:
    s = certification_status(last_certified=LAST, today=today, config=CONFIG)
    assert s.state is state
    assert s.due_date == date(2025, 3, 15)
    assert s.remind_from == date(2025, 2, 13)
    assert s.suspended_from == YearMonth(2025, 4)
    assert s.remind is (state is CertificationState.REMIND)
    assert s.suspended is (state is CertificationState.SUSPENDED)
    assert s.rule
    assert s.reasons


def test_reminder_days_come_from_config() -> None:
    config = RulesConfig(remind_days_before=10)
    s = certification_status(last_certified=LAST, today=date(2025, 3, 4), config=config)
    assert s.state is CertificationState.CURRENT
    s = certification_status(last_certified=LAST, today=date(2025, 3, 5), config=config)
    assert s.state is CertificationState.REMIND


def test_due_date_clamps() -> None:
    s = certification_status(
        last_certified=date(2024, 2, 29), today=date(2024, 3, 1), config=CONFIG
    )
    assert s.due_date == date(2025, 2, 28)


def test_certify_on_time() -> None:
    r = certify(
        last_certified=LAST,
        certified_on=date(2025, 3, 1),
        monthly_pension_fen=300_000,
        config=CONFIG,
    )
    assert not r.resumed
    assert r.back_pay_fen == 0
    assert r.suspended_months == ()
    assert r.regular_payment_resumes is None
    assert r.next_due == date(2026, 3, 1)
    assert r.was is CertificationState.REMIND


def test_certify_overdue_but_not_suspended() -> None:
    r = certify(
        last_certified=LAST,
        certified_on=date(2025, 3, 20),
        monthly_pension_fen=300_000,
        config=CONFIG,
    )
    assert r.was is CertificationState.OVERDUE
    assert not r.resumed
    assert r.back_pay_fen == 0


def test_certify_suspended_resumes_and_back_pays() -> None:
    r = certify(
        last_certified=LAST,
        certified_on=date(2025, 6, 10),
        monthly_pension_fen=300_000,
        config=CONFIG,
    )
    assert r.was is CertificationState.SUSPENDED
    assert r.resumed
    assert r.suspended_months == (YearMonth(2025, 4), YearMonth(2025, 5), YearMonth(2025, 6))
    assert r.back_pay_fen == 3 * 300_000
    assert r.regular_payment_resumes == YearMonth(2025, 7)
    assert r.next_due == date(2026, 6, 10)
    assert any("back pay" in reason for reason in r.reasons)


def test_certify_in_first_suspended_month() -> None:
    r = certify(
        last_certified=LAST,
        certified_on=date(2025, 4, 1),
        monthly_pension_fen=123_456,
        config=CONFIG,
    )
    assert r.resumed
    assert r.suspended_months == (YearMonth(2025, 4),)
    assert r.back_pay_fen == 123_456


def test_bad_input() -> None:
    with pytest.raises(RuleInputError) as info:
        certify(
            last_certified=LAST,
            certified_on=date(2025, 6, 10),
            monthly_pension_fen=-1,
            config=CONFIG,
        )
    assert info.value.field == "monthly_pension_fen"
    with pytest.raises(RuleInputError) as info:
        certification_status(last_certified=LAST, today=date(2024, 1, 1), config=CONFIG)
    assert info.value.field == "today"
