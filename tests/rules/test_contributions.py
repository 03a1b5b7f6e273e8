"""Contribution parts and the personal pension account interest."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cardsvc.rules.config import ContributionRates, ContributionScheme, RulesConfig
from cardsvc.rules.contributions import (
    apply_rate,
    contribution_parts,
    pension_account_balances,
    round_half_up_div,
)
from cardsvc.rules.errors import RuleInputError
from cardsvc.rules.months import YearMonth

CONFIG = RulesConfig()


@pytest.mark.parametrize(
    ("scheme", "base", "employer", "personal"),
    [
        (ContributionScheme.PENSION, 500_000, 80_000, 40_000),
        (ContributionScheme.MEDICAL, 500_000, 37_500, 10_000),
        (ContributionScheme.UNEMPLOYMENT, 500_000, 3_500, 1_500),
        # 0.7 % of 350050 = 2450.35 → 2450; 0.3 % = 1050.15 → 1050
        (ContributionScheme.UNEMPLOYMENT, 350_050, 2_450, 1_050),
        # 7.5 % of 100006 = 7500.45 → 7500; 2 % = 2000.12 → 2000
        (ContributionScheme.MEDICAL, 100_006, 7_500, 2_000),
        # 16 % of 100003 = 16000.48 → 16000; 8 % = 8000.24 → 8000
        (ContributionScheme.PENSION, 100_003, 16_000, 8_000),
        (ContributionScheme.PENSION, 0, 0, 0),
    ],
)
def test_parts(scheme: ContributionScheme, base: int, employer: int, personal: int) -> None:
    parts = contribution_parts(scheme, base, CONFIG)
    assert (parts.employer_fen, parts.personal_fen) == (employer, personal)
    assert parts.total_fen == employer + personal
    assert parts.base_fen == base
    assert parts.rule


def test_half_up() -> None:
    # 7.5 % of 100 fen = 7.5 → 8; 0.3 % of 500 = 1.5 → 2; 0.3 % of 499 = 1.497 → 1
    assert apply_rate(100, 750) == 8
    assert apply_rate(500, 30) == 2
    assert apply_rate(499, 30) == 1
    assert round_half_up_div(5, 2) == 3
    assert round_half_up_div(3, 2) == 2
    assert round_half_up_div(4, 3) == 1


def test_work_injury_employer_only() -> None:
    parts = contribution_parts(
        ContributionScheme.WORK_INJURY, 500_000, CONFIG, work_injury_rate_bp=50
    )
    assert (parts.employer_fen, parts.personal_fen) == (2_500, 0)
    for bad in (None, 19, 191):
        with pytest.raises(RuleInputError) as info:
            contribution_parts(
                ContributionScheme.WORK_INJURY, 500_000, CONFIG, work_injury_rate_bp=bad
            )
        assert info.value.field == "work_injury_rate_bp"
    with pytest.raises(RuleInputError):
        contribution_parts(ContributionScheme.PENSION, 500_000, CONFIG, work_injury_rate_bp=50)


def test_rates_come_from_config() -> None:
    config = RulesConfig(pension_rates=ContributionRates(1400, 800))
    assert contribution_parts(ContributionScheme.PENSION, 100_000, config).employer_fen == 14_000


def test_negative_base_refused() -> None:
    with pytest.raises(RuleInputError) as info:
        contribution_parts(ContributionScheme.PENSION, -1, CONFIG)
    assert info.value.field == "base_fen"


def test_account_sample_years() -> None:
    months = {YearMonth(y, m): 40_000 for y in (2022, 2023) for m in range(1, 13)}
    b2022, b2023 = pension_account_balances(months, CONFIG)
    # 2022: 40000 × 6.12 % × 78 / 12 = 15912
    assert (b2022.year, b2022.opening_fen, b2022.contributions_fen) == (2022, 0, 480_000)
    assert b2022.interest_fen == 15_912
    assert b2022.closing_fen == 495_912
    assert b2022.rate_bp == 612
    # 2023: 495912 × 3.97 % + 40000 × 3.97 % × 78 / 12 = 19687.7064 + 10322 = 30009.7064 → 30010
    assert b2023.opening_fen == 495_912
    assert b2023.interest_fen == 30_010
    assert b2023.closing_fen == 495_912 + 480_000 + 30_010


def test_account_late_month_earns_one_month() -> None:
    (b,) = pension_account_balances({YearMonth(2022, 12): 120_000}, CONFIG)
    # 120000 × 6.12 % × 1 / 12 = 612
    assert b.interest_fen == 612


def test_account_explicit_span_and_opening() -> None:
    balances = pension_account_balances(
        {},
        CONFIG,
        rates_bp={2022: 612, 2023: 397},
        opening_fen=1_000_000,
        first_year=2022,
        last_year=2023,
    )
    assert [b.interest_fen for b in balances] == [61_200, 42_130]  # 1061200 × 3.97 % = 42129.64
    assert balances[-1].closing_fen == 1_000_000 + 61_200 + 42_130


def test_account_missing_rate_named() -> None:
    with pytest.raises(RuleInputError, match="2024"):
        pension_account_balances({YearMonth(2024, 1): 100}, CONFIG)


def test_account_bad_input() -> None:
    with pytest.raises(RuleInputError):
        pension_account_balances({}, CONFIG)
    with pytest.raises(RuleInputError):
        pension_account_balances({YearMonth(2022, 1): -1}, CONFIG)
    with pytest.raises(RuleInputError):
        pension_account_balances({YearMonth(2022, 1): 1}, CONFIG, first_year=2023)


@settings(max_examples=100)
@given(st.lists(st.integers(0, 200_000), min_size=12, max_size=12), st.integers(0, 1000))
def test_account_closing_is_sum(parts: list[int], rate: int) -> None:
    months = {YearMonth(2022, m): amount for m, amount in enumerate(parts, 1)}
    (b,) = pension_account_balances(months, CONFIG, rates_bp={2022: rate})
    assert b.closing_fen == b.opening_fen + b.contributions_fen + b.interest_fen
    assert b.contributions_fen == sum(parts)
    # interest never exceeds a full year's interest on everything paid
    assert b.interest_fen <= apply_rate(sum(parts), rate) + 1
