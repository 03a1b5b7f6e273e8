"""Resident pension (城乡居民基本养老保险) eligibility: age 60 and 15 years paid.

Both conditions must hold (国发〔2014〕8号): the person has reached 60 (on the 60th
birthday; born 29 February → 28 February in a common year) and has paid for at
least 180 months. The 2025 retirement-age reform does not change this age.
Transitional rules for people already old when the scheme began (paying the
missing years at once, or family binding) are not modelled: the service records
such cases as months paid.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from cardsvc.rules.errors import RuleInputError
from cardsvc.rules.months import add_months

RULE = "城乡居民基本养老保险: age 60 and at least 15 years (180 months) paid"
AGE_YEARS = 60
MIN_MONTHS_PAID = 180


@dataclass(frozen=True, slots=True)
class ResidentPensionDecision:
    eligible: bool
    rule: str
    reasons: tuple[str, ...]
    """When refused: every failed condition."""
    age_reached_on: date
    """The 60th birthday."""
    months_paid: int
    months_required: int
    months_still_needed: int


def resident_pension_eligibility(
    *, birth_date: date, months_paid: int, today: date
) -> ResidentPensionDecision:
    """May the person draw the resident pension on ``today``?"""
    if not isinstance(months_paid, int) or isinstance(months_paid, bool) or months_paid < 0:
        raise RuleInputError("months_paid", f"must be a non-negative integer, got {months_paid!r}")
    if today < birth_date:
        raise RuleInputError("today", f"{today.isoformat()} is before the birth date")
    sixty = add_months(birth_date, AGE_YEARS * 12)
    still_needed = max(0, MIN_MONTHS_PAID - months_paid)
    failed: list[str] = []
    if today < sixty:
        failed.append(f"reaches {AGE_YEARS} on {sixty.isoformat()}")
    if still_needed:
        failed.append(
            f"paid {months_paid} months; {MIN_MONTHS_PAID} needed, {still_needed} still needed"
        )
    reasons = tuple(failed) or (
        f"reached {AGE_YEARS} on {sixty.isoformat()}",
        f"paid {months_paid} months (at least {MIN_MONTHS_PAID})",
    )
    return ResidentPensionDecision(
        eligible=not failed,
        rule=RULE,
        reasons=reasons,
        age_reached_on=sixty,
        months_paid=months_paid,
        months_required=MIN_MONTHS_PAID,
        months_still_needed=still_needed,
    )
