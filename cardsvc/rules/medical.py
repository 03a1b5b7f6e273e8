"""Medical insurance status (item B04).

* **Employee scheme** (职工医保): active while the latest paid month is no older than
  the previous month, relative to today. On 2025-03-10 a person paid through 2025-02
  (or later) is active; paid through 2025-01, not. Coverage from a paid month runs to
  the end of the following month (``covered_through``).
* **Resident scheme** (居民医保): a calendar year is covered when it was paid for in
  the collection period before it — sample ``config.resident_medical_collection_start``
  to ``..._end`` of the previous year (1 September – 31 December), both days included.
  A payment for the year made outside that period does not make it active (late
  payers face a waiting period the service handles separately).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from cardsvc.rules.config import RulesConfig
from cardsvc.rules.months import YearMonth


class MedicalScheme(enum.Enum):
    EMPLOYEE = "employee_medical"
    RESIDENT = "resident_medical"


RULE_EMPLOYEE = "employee medical: active while the latest paid month is no older than last month"
RULE_RESIDENT = (
    "resident medical: a calendar year is active when paid in the collection period before it"
)


@dataclass(frozen=True, slots=True)
class MedicalStatus:
    scheme: MedicalScheme
    active: bool
    rule: str
    reasons: tuple[str, ...]
    covered_through: date | None
    """Last day covered by what was paid (None when nothing counts)."""


@dataclass(frozen=True, slots=True)
class ResidentMedicalPayment:
    """One resident medical payment: the year it covers and the day it was paid."""

    coverage_year: int
    paid_on: date


def employee_medical_status(*, latest_paid_month: YearMonth | None, today: date) -> MedicalStatus:
    """Employee scheme status on ``today`` from the latest month paid (None: never paid)."""
    needed = YearMonth.of(today) - 1
    if latest_paid_month is None:
        return MedicalStatus(
            scheme=MedicalScheme.EMPLOYEE,
            active=False,
            rule=RULE_EMPLOYEE,
            reasons=("no month paid",),
            covered_through=None,
        )
    covered_through = (latest_paid_month + 1).last_day()
    if latest_paid_month >= needed:
        return MedicalStatus(
            scheme=MedicalScheme.EMPLOYEE,
            active=True,
            rule=RULE_EMPLOYEE,
            reasons=(
                f"latest paid month {latest_paid_month} is not older than {needed}",
                f"covered through {covered_through.isoformat()}",
            ),
            covered_through=covered_through,
        )
    return MedicalStatus(
        scheme=MedicalScheme.EMPLOYEE,
        active=False,
        rule=RULE_EMPLOYEE,
        reasons=(
            f"latest paid month {latest_paid_month} is older than {needed}",
            f"coverage ended {covered_through.isoformat()}",
        ),
        covered_through=covered_through,
    )


def collection_period(coverage_year: int, config: RulesConfig) -> tuple[date, date]:
    """The days (inclusive) in which ``coverage_year`` must be paid for."""
    return (
        config.resident_medical_collection_start.in_year(coverage_year - 1),
        config.resident_medical_collection_end.in_year(coverage_year - 1),
    )


def resident_medical_status(
    *, payments: Iterable[ResidentMedicalPayment], today: date, config: RulesConfig
) -> MedicalStatus:
    """Resident scheme status on ``today`` from the person's payments."""
    year = today.year
    start, end = collection_period(year, config)
    period = f"{start.isoformat()}–{end.isoformat()}"
    for_year = [p for p in payments if p.coverage_year == year]
    in_period = [p for p in for_year if start <= p.paid_on <= end]
    if in_period:
        paid_on = min(p.paid_on for p in in_period)
        return MedicalStatus(
            scheme=MedicalScheme.RESIDENT,
            active=True,
            rule=RULE_RESIDENT,
            reasons=(
                f"{year} paid on {paid_on.isoformat()}, within the collection period {period}",
            ),
            covered_through=date(year, 12, 31),
        )
    if for_year:
        late = ", ".join(sorted(p.paid_on.isoformat() for p in for_year))
        reasons: tuple[str, ...] = (
            f"{year} paid on {late}, outside the collection period {period}",
        )
    else:
        reasons = (f"no payment for {year} (collection period {period})",)
    return MedicalStatus(
        scheme=MedicalScheme.RESIDENT,
        active=False,
        rule=RULE_RESIDENT,
        reasons=reasons,
        covered_through=None,
    )
