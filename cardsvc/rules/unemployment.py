"""Unemployment benefit eligibility (item B01; 失业保险条例 arts. 14 and 17).

Art. 14 — eligible only when all hold:

1. unemployment insurance was paid for at least 12 months in total;
2. the employment ended not of the person's own will;
3. the person is registered unemployed and seeking work;

and (arts. 15/16) the person is not drawing a basic pension.

Art. 17 — the longest duration, by total months paid: 12–59 → 12 months,
60–119 → 18 months, 120 or more → 24 months. After re-employment the months paid
count afresh, and a remaining entitlement from the earlier unemployment may be added,
up to 24 months in all (``carried_over_months``).

Monthly amount (*sample*): ``config.unemployment_benefit_bp`` (90 %) of the local
minimum wage ``config.minimum_wage_fen``, rounded half up to the fen.

A refusal lists every condition that failed, not just the first.

Why an employment ended (:class:`SeparationReason`, recorded on the employment
registration) decides condition 2: :func:`ended_involuntarily` follows
失业保险金申领发放办法 art. 4 — the contract expired, the employer ended it
(dismissal, closure, or an agreement the employer proposed), or the worker ended it
for the employer's fault (劳动合同法 art. 38). Resigning, an agreement the worker
proposed, and retiring are of the person's own will.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from cardsvc.rules.config import RulesConfig
from cardsvc.rules.contributions import apply_rate
from cardsvc.rules.errors import RuleInputError

RULE = "失业保险条例 arts. 14 and 17"
SEPARATION_RULE = "失业保险金申领发放办法 art. 4"


class SeparationReason(enum.StrEnum):
    """Why an employment ended (stored on the employment registration; never renumber)."""

    CONTRACT_EXPIRED = "contract_expired"  # 劳动合同期满终止
    DISMISSED = "dismissed"  # 被用人单位解除劳动合同、辞退、开除、除名
    EMPLOYER_CLOSED = "employer_closed"  # 用人单位破产、撤销、关闭
    EMPLOYER_AT_FAULT = "employer_at_fault"  # 劳动合同法 art. 38: ended for the employer's fault
    MUTUAL_EMPLOYER_PROPOSED = "mutual_employer_proposed"  # 单位提出、协商一致解除
    MUTUAL_EMPLOYEE_PROPOSED = "mutual_employee_proposed"  # 本人提出、协商一致解除
    RESIGNED = "resigned"  # 本人辞职
    RETIRED = "retired"  # 达到法定退休年龄


INVOLUNTARY_SEPARATIONS: frozenset[SeparationReason] = frozenset(
    {
        SeparationReason.CONTRACT_EXPIRED,
        SeparationReason.DISMISSED,
        SeparationReason.EMPLOYER_CLOSED,
        SeparationReason.EMPLOYER_AT_FAULT,
        SeparationReason.MUTUAL_EMPLOYER_PROPOSED,
    }
)
"""The reasons that count as "not of the person's own will" (art. 4)."""


def ended_involuntarily(reason: SeparationReason) -> bool:
    """Whether an employment that ended for `reason` ended not of the person's own will."""
    if not isinstance(reason, SeparationReason):
        raise RuleInputError("separation_reason", f"must be a SeparationReason, got {reason!r}")
    return reason in INVOLUNTARY_SEPARATIONS


MIN_MONTHS_PAID = 12
MAX_DURATION_MONTHS = 24
_DURATION_BANDS: tuple[tuple[int, int], ...] = ((120, 24), (60, 18), (12, 12))
"""(months paid at least, longest duration in months), highest band first."""


@dataclass(frozen=True, slots=True)
class UnemploymentDecision:
    """Whether unemployment benefit is due, for how long and how much a month."""

    eligible: bool
    rule: str
    reasons: tuple[str, ...]
    """When refused: every failed condition; when granted: how duration and amount came out."""
    months_paid: int
    duration_months: int
    """Longest duration granted (0 when not eligible)."""
    monthly_amount_fen: int
    """0 when not eligible."""
    total_amount_fen: int
    """``duration_months × monthly_amount_fen``."""


def duration_for_months_paid(months_paid: int) -> int:
    """Art. 17 duration for a total of ``months_paid`` (0 below 12 months)."""
    _check_count("months_paid", months_paid)
    for at_least, duration in _DURATION_BANDS:
        if months_paid >= at_least:
            return duration
    return 0


def _check_count(field: str, value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise RuleInputError(field, f"must be a non-negative integer, got {value!r}")


def unemployment_benefit(
    *,
    months_paid: int,
    ended_involuntarily: bool,
    registered_unemployed: bool,
    seeking_work: bool,
    drawing_pension: bool,
    config: RulesConfig,
    carried_over_months: int = 0,
) -> UnemploymentDecision:
    """Decide unemployment benefit (B01). Keyword-only: the booleans are easy to mix up."""
    _check_count("carried_over_months", carried_over_months)
    base_duration = duration_for_months_paid(months_paid)

    failed: list[str] = []
    if months_paid < MIN_MONTHS_PAID:
        failed.append(
            f"paid {months_paid} months in total; at least {MIN_MONTHS_PAID} are needed (art. 14)"
        )
    if not ended_involuntarily:
        failed.append("employment ended of the person's own will (art. 14)")
    if not registered_unemployed:
        failed.append("not registered as unemployed (art. 14)")
    if not seeking_work:
        failed.append("not seeking work (art. 14)")
    if drawing_pension:
        failed.append("draws a basic pension (art. 15)")

    if failed:
        return UnemploymentDecision(
            eligible=False,
            rule=RULE,
            reasons=tuple(failed),
            months_paid=months_paid,
            duration_months=0,
            monthly_amount_fen=0,
            total_amount_fen=0,
        )

    duration = min(MAX_DURATION_MONTHS, base_duration + carried_over_months)
    monthly = apply_rate(config.minimum_wage_fen, config.unemployment_benefit_bp)
    reasons = [
        "paid at least 12 months, ended involuntarily, registered unemployed and seeking "
        "work, no pension (art. 14)",
        f"{months_paid} months paid → up to {base_duration} months (art. 17)",
    ]
    if carried_over_months:
        reasons.append(
            f"plus {carried_over_months} months not drawn from the earlier unemployment, "
            f"{duration} months in all (at most {MAX_DURATION_MONTHS}, art. 17)"
        )
    reasons.append(
        f"monthly amount {config.unemployment_benefit_bp / 100:g}% of the minimum wage "
        f"{config.minimum_wage_fen} fen = {monthly} fen"
    )
    return UnemploymentDecision(
        eligible=True,
        rule=RULE,
        reasons=tuple(reasons),
        months_paid=months_paid,
        duration_months=duration,
        monthly_amount_fen=monthly,
        total_amount_fen=duration * monthly,
    )
