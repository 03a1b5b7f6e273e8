"""Pension qualification certification (资格认证, item B02).

A pensioner is certified once every ``config.certification_interval_months`` (12):

* **due date** = last certification + 12 months (same day, clamped to the month's end;
  for a pensioner never certified, pass the pension's start date as ``last_certified``).
  Certifying on the due date itself is on time.
* **reminder** from ``config.remind_days_before`` (sample 30) days before the due date.
* **overdue** the day after the due date; the pension is **suspended from the month
  after the due month** (due 15 March → pension for April onwards withheld). Between
  the due date and the end of its month the pensioner is overdue but still paid.
* **certifying a suspended pensioner** resumes the pension and back-pays the suspended
  months. The suspended months run from the first suspended month *through the month
  of certification*, all back-paid at once (``months × monthly pension``); regular
  payment resumes with the month after certification. Putting the certification month
  in the back pay means no month is lost or paid twice whether or not that month's
  regular run has already gone out: the payment run must not pay the certification
  month again (see :attr:`CertificationResult.regular_payment_resumes`).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, timedelta

from cardsvc.rules.config import RulesConfig
from cardsvc.rules.errors import RuleInputError
from cardsvc.rules.months import YearMonth, add_months, months_inclusive


class CertificationState(enum.Enum):
    CURRENT = "current"
    """Certified, due date more than the reminder period away."""
    REMIND = "remind"
    """Within the reminder period before the due date (inclusive)."""
    OVERDUE = "overdue"
    """Past the due date, still in the due month: not suspended yet."""
    SUSPENDED = "suspended"
    """Past the due month: the pension is withheld until certification."""


@dataclass(frozen=True, slots=True)
class CertificationStatus:
    state: CertificationState
    rule: str
    reasons: tuple[str, ...]
    last_certified: date
    due_date: date
    remind_from: date
    suspended_from: YearMonth
    """First month withheld if not certified by the due date."""

    @property
    def remind(self) -> bool:
        return self.state is CertificationState.REMIND

    @property
    def suspended(self) -> bool:
        return self.state is CertificationState.SUSPENDED


@dataclass(frozen=True, slots=True)
class CertificationResult:
    """The outcome of certifying a pensioner on ``certified_on``."""

    rule: str
    reasons: tuple[str, ...]
    certified_on: date
    was: CertificationState
    resumed: bool
    """True when the pension had been suspended and is now resumed."""
    suspended_months: tuple[YearMonth, ...]
    back_pay_fen: int
    regular_payment_resumes: YearMonth | None
    """First month the regular run pays again (None if the pension was never suspended)."""
    next_due: date


def _rule(config: RulesConfig) -> str:
    return (
        f"certified every {config.certification_interval_months} months; reminder "
        f"{config.remind_days_before} days before due; suspended from the month after due; "
        "certification resumes and back-pays"
    )


def certification_status(
    *, last_certified: date, today: date, config: RulesConfig
) -> CertificationStatus:
    """Where a pensioner stands on ``today``."""
    if today < last_certified:
        raise RuleInputError(
            "today", f"{today.isoformat()} is before last_certified {last_certified.isoformat()}"
        )
    due = add_months(last_certified, config.certification_interval_months)
    remind_from = due - timedelta(days=config.remind_days_before)
    suspended_from = YearMonth.of(due) + 1
    lead = f"last certified {last_certified.isoformat()}, due {due.isoformat()}"
    if YearMonth.of(today) >= suspended_from:
        state = CertificationState.SUSPENDED
        reasons: tuple[str, ...] = (
            lead,
            f"overdue: pension suspended from {suspended_from} until certification",
        )
    elif today > due:
        state = CertificationState.OVERDUE
        reasons = (lead, f"overdue: pension will be suspended from {suspended_from}")
    elif today >= remind_from:
        state = CertificationState.REMIND
        reasons = (lead, f"due within {config.remind_days_before} days: remind the pensioner")
    else:
        state = CertificationState.CURRENT
        reasons = (lead, f"reminder from {remind_from.isoformat()}")
    return CertificationStatus(
        state=state,
        rule=_rule(config),
        reasons=reasons,
        last_certified=last_certified,
        due_date=due,
        remind_from=remind_from,
        suspended_from=suspended_from,
    )


def certify(
    *,
    last_certified: date,
    certified_on: date,
    monthly_pension_fen: int,
    config: RulesConfig,
) -> CertificationResult:
    """Certify on ``certified_on``: resume and back-pay if the pension was suspended."""
    if (
        not isinstance(monthly_pension_fen, int)
        or isinstance(monthly_pension_fen, bool)
        or monthly_pension_fen < 0
    ):
        raise RuleInputError(
            "monthly_pension_fen", f"must be a non-negative integer, got {monthly_pension_fen!r}"
        )
    status = certification_status(last_certified=last_certified, today=certified_on, config=config)
    next_due = add_months(certified_on, config.certification_interval_months)
    if status.state is not CertificationState.SUSPENDED:
        return CertificationResult(
            rule=status.rule,
            reasons=(
                *status.reasons,
                f"certified {certified_on.isoformat()}; next due {next_due.isoformat()}",
            ),
            certified_on=certified_on,
            was=status.state,
            resumed=False,
            suspended_months=(),
            back_pay_fen=0,
            regular_payment_resumes=None,
            next_due=next_due,
        )
    certification_month = YearMonth.of(certified_on)
    months = tuple(months_inclusive(status.suspended_from, certification_month))
    back_pay = len(months) * monthly_pension_fen
    return CertificationResult(
        rule=status.rule,
        reasons=(
            *status.reasons,
            f"certified {certified_on.isoformat()}: pension resumed",
            f"back pay {len(months)} months ({months[0]}–{months[-1]}) × "
            f"{monthly_pension_fen} fen = {back_pay} fen",
            f"regular payment from {certification_month + 1}; next due {next_due.isoformat()}",
        ),
        certified_on=certified_on,
        was=status.state,
        resumed=True,
        suspended_months=months,
        back_pay_fen=back_pay,
        regular_payment_resumes=certification_month + 1,
        next_due=next_due,
    )
