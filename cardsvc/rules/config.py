"""The figures the rules use that a city or a year may change: :class:`RulesConfig`.

Defaults are the *sample* figures of shared/domain.md. Rates are integers in basis
points (1 bp = 0.01 %, so 16 % is 1600 and 6.12 % is 612); money is integer fen.
Statutory figures that only a law changes (retirement ages, minimum contribution
years, the benefit duration table) live in the rule modules, not here.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import date

from cardsvc.rules.errors import RuleInputError

BP_PER_UNIT = 10_000
"""Basis points in 100 %."""


class ContributionScheme(enum.Enum):
    """Employee schemes with a contribution rate (resident schemes pay flat amounts)."""

    PENSION = "employee_pension"
    MEDICAL = "employee_medical"
    UNEMPLOYMENT = "unemployment"
    WORK_INJURY = "work_injury"


@dataclass(frozen=True, slots=True)
class ContributionRates:
    """Employer and personal rates of one scheme, in basis points."""

    employer_bp: int
    personal_bp: int

    def __post_init__(self) -> None:
        _check_bp("employer_bp", self.employer_bp)
        _check_bp("personal_bp", self.personal_bp)


@dataclass(frozen=True, slots=True)
class MonthDay:
    """A day of the year without the year (for periods that repeat yearly)."""

    month: int
    day: int

    def __post_init__(self) -> None:
        if not 1 <= self.month <= 12:
            raise RuleInputError("month", f"must be in 1..12, got {self.month}")
        # validate against a leap year so 02-29 is accepted
        try:
            date(2000, self.month, self.day)
        except ValueError:
            raise RuleInputError("day", f"no day {self.day} in month {self.month}") from None

    def in_year(self, year: int) -> date:
        """This day in ``year`` (29 February becomes 28 February in other years)."""
        if self.month == 2 and self.day == 29:
            try:
                return date(year, 2, 29)
            except ValueError:
                return date(year, 2, 28)
        return date(year, self.month, self.day)


def _check_bp(name: str, value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= BP_PER_UNIT:
        raise RuleInputError(
            name, f"must be an integer number of basis points 0..10000, got {value!r}"
        )


def _check_positive(name: str, value: int, minimum: int = 1) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise RuleInputError(name, f"must be an integer >= {minimum}, got {value!r}")


@dataclass(frozen=True, slots=True)
class RulesConfig:
    """Sample figures, injected into every rule that needs one (never hard-coded)."""

    # card
    temp_loss_lapse_days: int = 5
    """A temporary loss report lapses (card back to active) this many days after it."""
    pin_try_limit: int = 6
    """Wrong PIN presentations before the PIN blocks (per city)."""

    # unemployment benefit
    minimum_wage_fen: int = 201_000
    """Local monthly minimum wage (sample: 2,010 yuan)."""
    unemployment_benefit_bp: int = 9_000
    """Monthly unemployment benefit as a share of the minimum wage (sample 90 %)."""

    # contributions
    pension_rates: ContributionRates = field(default_factory=lambda: ContributionRates(1600, 800))
    medical_rates: ContributionRates = field(default_factory=lambda: ContributionRates(750, 200))
    unemployment_rates: ContributionRates = field(default_factory=lambda: ContributionRates(70, 30))
    work_injury_min_bp: int = 20
    """Lowest employer work-injury rate (by industry risk class), sample 0.2 %."""
    work_injury_max_bp: int = 190
    """Highest employer work-injury rate, sample 1.9 %."""
    pension_interest_bp: tuple[tuple[int, int], ...] = ((2022, 612), (2023, 397))
    """Announced personal pension account interest rate per year, (year, bp)."""

    # pension qualification certification
    certification_interval_months: int = 12
    remind_days_before: int = 30

    # resident medical insurance: collection period in the year before coverage
    resident_medical_collection_start: MonthDay = field(default_factory=lambda: MonthDay(9, 1))
    resident_medical_collection_end: MonthDay = field(default_factory=lambda: MonthDay(12, 31))

    def __post_init__(self) -> None:
        _check_positive("temp_loss_lapse_days", self.temp_loss_lapse_days)
        _check_positive("pin_try_limit", self.pin_try_limit)
        _check_positive("minimum_wage_fen", self.minimum_wage_fen, minimum=0)
        _check_bp("unemployment_benefit_bp", self.unemployment_benefit_bp)
        _check_bp("work_injury_min_bp", self.work_injury_min_bp)
        _check_bp("work_injury_max_bp", self.work_injury_max_bp)
        if self.work_injury_min_bp > self.work_injury_max_bp:
            raise RuleInputError(
                "work_injury_min_bp",
                f"{self.work_injury_min_bp} is above work_injury_max_bp {self.work_injury_max_bp}",
            )
        years = [year for year, _ in self.pension_interest_bp]
        if len(set(years)) != len(years):
            raise RuleInputError("pension_interest_bp", "a year appears more than once")
        for year, rate in self.pension_interest_bp:
            _check_positive("pension_interest_bp year", year)
            _check_bp(f"pension_interest_bp[{year}]", rate)
        _check_positive("certification_interval_months", self.certification_interval_months)
        _check_positive("remind_days_before", self.remind_days_before, minimum=0)
        start = self.resident_medical_collection_start
        end = self.resident_medical_collection_end
        if (start.month, start.day) > (end.month, end.day):
            raise RuleInputError(
                "resident_medical_collection_start",
                "must not be after resident_medical_collection_end (both in the previous year)",
            )

    def contribution_rates(self, scheme: ContributionScheme) -> ContributionRates:
        """Rates of a fixed-rate scheme; work injury varies by employer (see contributions)."""
        if scheme is ContributionScheme.PENSION:
            return self.pension_rates
        if scheme is ContributionScheme.MEDICAL:
            return self.medical_rates
        if scheme is ContributionScheme.UNEMPLOYMENT:
            return self.unemployment_rates
        raise RuleInputError(
            "scheme", "work injury has an employer-specific rate; pass work_injury_rate_bp"
        )

    def interest_rates(self) -> dict[int, int]:
        """The announced pension account interest rates as {year: bp}."""
        return dict(self.pension_interest_bp)


DEFAULT_CONFIG = RulesConfig()
"""The sample figures of shared/domain.md."""
