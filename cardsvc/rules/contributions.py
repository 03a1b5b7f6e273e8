"""Contributions: employer and personal parts, and the personal pension account interest.

Parts (shared/domain.md section 2): ``part = base × rate``, computed in integers and
rounded half up to the fen, each part on its own (sample rates in
:class:`~cardsvc.rules.config.RulesConfig`: pension 16 % + 8 %, medical 7.5 % + 2 %,
unemployment 0.7 % + 0.3 %, work injury 0.2–1.9 % employer only, the rate set per
employer by its industry risk class).

Personal pension account interest (月积数法, the month-product method): each year the
opening balance earns the year's announced rate for twelve months, and the personal
part credited in month m (1..12) earns it for the 13 − m months from its month to the
year's end. With ``r`` the rate::

    interest = round_half_up(opening × r + Σ_m part_m × r × (13 − m) / 12)

For twelve equal monthly parts this is the familiar
``opening × r + year_total × r × 1.083 × ½`` (Σ (13 − m) / 12 = 6.5 = 12 × 1.0833 / 2),
but exact. Interest is credited at the year's end and earns interest from the next
year on. Example, sample 2022 rate 6.12 %, 1,000.00 yuan a month from January, nothing
before: interest = 100000 × 0.0612 × 78 / 12 = 39,780 fen; closing 1,239,780 fen.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from cardsvc.rules.config import BP_PER_UNIT, ContributionScheme, RulesConfig
from cardsvc.rules.errors import RuleInputError
from cardsvc.rules.months import YearMonth

__all__ = [
    "ContributionParts",
    "ContributionScheme",
    "YearBalance",
    "apply_rate",
    "contribution_parts",
    "pension_account_balances",
    "round_half_up_div",
]


@dataclass(frozen=True, slots=True)
class ContributionParts:
    """One month's contribution to one scheme."""

    scheme: ContributionScheme
    base_fen: int
    employer_rate_bp: int
    personal_rate_bp: int
    employer_fen: int
    personal_fen: int
    rule: str

    @property
    def total_fen(self) -> int:
        return self.employer_fen + self.personal_fen


@dataclass(frozen=True, slots=True)
class YearBalance:
    """The personal pension account over one calendar year."""

    year: int
    opening_fen: int
    contributions_fen: int
    interest_fen: int
    closing_fen: int
    rate_bp: int
    rule: str


def round_half_up_div(numerator: int, denominator: int) -> int:
    """``numerator / denominator`` rounded half up, for numerator >= 0 and denominator > 0."""
    if denominator <= 0:
        raise RuleInputError("denominator", f"must be positive, got {denominator}")
    if numerator < 0:
        raise RuleInputError("numerator", f"must not be negative, got {numerator}")
    return (2 * numerator + denominator) // (2 * denominator)


def apply_rate(amount_fen: int, rate_bp: int) -> int:
    """``amount × rate`` in fen, rounded half up (rate in basis points)."""
    return round_half_up_div(amount_fen * rate_bp, BP_PER_UNIT)


def _check_fen(field: str, value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise RuleInputError(field, f"must be a non-negative integer amount in fen, got {value!r}")


def contribution_parts(
    scheme: ContributionScheme,
    base_fen: int,
    config: RulesConfig,
    work_injury_rate_bp: int | None = None,
) -> ContributionParts:
    """Employer and personal parts of one month's contribution on ``base_fen``.

    Work injury needs ``work_injury_rate_bp`` (the employer's rate, within the
    configured range); other schemes refuse it.
    """
    _check_fen("base_fen", base_fen)
    if scheme is ContributionScheme.WORK_INJURY:
        if work_injury_rate_bp is None:
            raise RuleInputError(
                "work_injury_rate_bp", "work injury needs the employer's rate (by risk class)"
            )
        low, high = config.work_injury_min_bp, config.work_injury_max_bp
        if (
            not isinstance(work_injury_rate_bp, int)
            or isinstance(work_injury_rate_bp, bool)
            or not low <= work_injury_rate_bp <= high
        ):
            raise RuleInputError(
                "work_injury_rate_bp",
                f"must be within {low}..{high} bp, got {work_injury_rate_bp!r}",
            )
        employer_bp, personal_bp = work_injury_rate_bp, 0
    else:
        if work_injury_rate_bp is not None:
            raise RuleInputError("work_injury_rate_bp", f"not used for {scheme.value}")
        rates = config.contribution_rates(scheme)
        employer_bp, personal_bp = rates.employer_bp, rates.personal_bp
    employer = apply_rate(base_fen, employer_bp)
    personal = apply_rate(base_fen, personal_bp)
    return ContributionParts(
        scheme=scheme,
        base_fen=base_fen,
        employer_rate_bp=employer_bp,
        personal_rate_bp=personal_bp,
        employer_fen=employer,
        personal_fen=personal,
        rule=(
            f"{scheme.value}: employer {_pct(employer_bp)} + personal {_pct(personal_bp)} "
            "of the base, each rounded half up to the fen"
        ),
    )


def pension_account_balances(
    monthly_personal_fen: Mapping[YearMonth, int],
    config: RulesConfig,
    *,
    rates_bp: Mapping[int, int] | None = None,
    opening_fen: int = 0,
    first_year: int | None = None,
    last_year: int | None = None,
) -> tuple[YearBalance, ...]:
    """Yearly balances of the personal pension account (see the module docstring).

    ``monthly_personal_fen`` maps months to the personal part credited that month;
    ``rates_bp`` maps years to the announced rate (default: ``config``'s sample rates).
    Years run from ``first_year`` (default: the first month's year) to ``last_year``
    (default: the last month's year); ``opening_fen`` is the balance before
    ``first_year``. Every year in the span needs a rate, else :class:`RuleInputError`
    names the year.
    """
    _check_fen("opening_fen", opening_fen)
    for month, amount in monthly_personal_fen.items():
        if not isinstance(month, YearMonth):
            raise RuleInputError("monthly_personal_fen", f"key {month!r} is not a YearMonth")
        _check_fen(f"monthly_personal_fen[{month}]", amount)
    rates = dict(config.pension_interest_bp) if rates_bp is None else dict(rates_bp)
    years_with_parts = sorted({month.year for month in monthly_personal_fen})
    if not years_with_parts and (first_year is None or last_year is None):
        raise RuleInputError(
            "monthly_personal_fen", "no months given: pass first_year and last_year"
        )
    start = first_year if first_year is not None else years_with_parts[0]
    end = last_year if last_year is not None else years_with_parts[-1]
    if years_with_parts and (years_with_parts[0] < start or years_with_parts[-1] > end):
        raise RuleInputError(
            "monthly_personal_fen",
            f"months from {years_with_parts[0]} to {years_with_parts[-1]} fall outside "
            f"the years {start}..{end}",
        )
    if end < start:
        raise RuleInputError("last_year", f"{end} is before first_year {start}")

    balances: list[YearBalance] = []
    balance = opening_fen
    for year in range(start, end + 1):
        rate = rates.get(year)
        if rate is None:
            raise RuleInputError("rates_bp", f"no announced interest rate for {year}")
        if not isinstance(rate, int) or isinstance(rate, bool) or rate < 0:
            raise RuleInputError(
                f"rates_bp[{year}]", f"must be a non-negative integer, got {rate!r}"
            )
        parts = [monthly_personal_fen.get(YearMonth(year, m), 0) for m in range(1, 13)]
        month_product = balance * 12 + sum(part * (13 - m) for m, part in enumerate(parts, 1))
        interest = round_half_up_div(month_product * rate, BP_PER_UNIT * 12)
        contributed = sum(parts)
        closing = balance + contributed + interest
        balances.append(
            YearBalance(
                year=year,
                opening_fen=balance,
                contributions_fen=contributed,
                interest_fen=interest,
                closing_fen=closing,
                rate_bp=rate,
                rule=(
                    f"{year}: opening × {_pct(rate)} + each month's part × {_pct(rate)} "
                    "× (13 − month) / 12, rounded half up (月积数法)"
                ),
            )
        )
        balance = closing
    return tuple(balances)


def _pct(bp: int) -> str:
    whole, frac = divmod(bp, 100)
    return f"{whole}.{frac:02d}".rstrip("0").rstrip(".") + "%"
