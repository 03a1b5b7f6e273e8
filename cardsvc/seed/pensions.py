"""Pensions in payment: entitlements, qualification certifications, monthly payments.

Certification follows cardsvc.rules.certification: every 12 months, at a counter (the
nearest clerk up the pensioner's site chain) or a kiosk. Most pensioners certify on
time; about one in twelve stopped certifying and is suspended today
(``suspended_since`` set, no payments from the suspended month on); about one in
fifteen certified late once in the window and was back-paid (``back_paid_months``,
the back pay paid on the day of certification). Certifications before the history
window are not recorded, only ``last_certified_on``.
"""

from __future__ import annotations

import random
from datetime import date, timedelta

from cardsvc.db.models import Benefit, Channel, Scheme
from cardsvc.rules.certification import CertificationState, certification_status, certify
from cardsvc.rules.months import YearMonth
from cardsvc.seed.context import (
    PAY_DAY,
    IdCounters,
    SeedContext,
    add_months_fast,
    at_office,
    month_day,
    month_index,
)
from cardsvc.seed.employment import Career, average_wage_fen
from cardsvc.seed.people import PersonDraft
from cardsvc.seed.rng import between, chance
from cardsvc.seed.tables import Row, RowBuffer


def monthly_pension_fen(rng: random.Random, career: Career) -> int:
    if career.pension is Scheme.RESIDENT_PENSION:
        return between(rng, 150, 400) * 100
    year = career.retirement_year or 2000
    share = 0.35 + 0.25 * rng.random() + 0.1 * (career.wage_factor - 1)
    return max(100_000, int(average_wage_fen(year) * share) // 100 * 100)


def _suspended(last_certified: date, today: date, ctx: SeedContext) -> bool:
    status = certification_status(last_certified=last_certified, today=today, config=ctx.config)
    return status.state is CertificationState.SUSPENDED


def emit_pension(
    rng: random.Random,
    ctx: SeedContext,
    *,
    ids: IdCounters,
    buf: RowBuffer,
    person: PersonDraft,
    career: Career,
) -> None:
    if career.pension is None or career.pension_start is None:
        return
    as_of = ctx.as_of
    window = ctx.window
    config = ctx.config
    started = career.pension_start
    monthly = monthly_pension_fen(rng, career)
    entitlement_id = ids.next("pension_entitlements")

    roll = rng.random()
    lapsing = roll < 0.08
    late_from: date | None = None
    if 0.08 <= roll < 0.15:
        span = max(1, (as_of - window.first.first_day()).days)
        late_from = window.first.first_day() + timedelta(days=int(rng.random() * span))

    # certifications: (day, months back-paid on that day); those long before the window
    # are not generated one by one: the last of them is put a few months before it
    certified: list[tuple[date, tuple[YearMonth, ...]]] = []
    previous = started
    window_start = window.first.first_day()
    if started < window_start - timedelta(days=400):
        previous = window_start - timedelta(days=between(rng, 1, 330))
        certified.append((previous, ()))
    while True:
        due = add_months_fast(previous, config.certification_interval_months)
        if late_from is not None and due >= late_from:
            on = month_day(month_index(due) + between(rng, 2, 5), between(rng, 1, 28))
            late_from = None
        else:
            on = max(previous + timedelta(days=1), due - timedelta(days=between(rng, 0, 40)))
        if on > as_of:
            break
        back_paid: tuple[YearMonth, ...] = ()
        if on > due:  # late: the rules decide what was suspended and is back-paid
            back_paid = certify(
                last_certified=previous, certified_on=on, monthly_pension_fen=monthly, config=config
            ).suspended_months
        certified.append((on, back_paid))
        previous = on
    if lapsing:
        # stopped certifying: drop the latest certifications until the pension is suspended
        kept = list(certified)
        while kept and not _suspended(kept[-1][0], as_of, ctx):
            kept.pop()
        if kept or _suspended(started, as_of, ctx):
            certified = kept

    last_certified = certified[-1][0] if certified else None
    status = certification_status(
        last_certified=last_certified or started, today=as_of, config=config
    )
    suspended_since = None
    if status.state is CertificationState.SUSPENDED:
        suspended_since = status.suspended_from.first_day()

    buf["pension_entitlements"].append(
        (
            entitlement_id,
            person.id,
            career.pension.value,
            monthly,
            started,
            last_certified,
            suspended_since,
        )
    )

    chain = [site.code for site in ctx.layout.parent_chain(person.station.code)]
    certifications = buf["pension_certifications"]
    paid_late: dict[int, date] = {}
    for on, back_paid in certified:
        for month in back_paid:
            paid_late[month.index] = on
        if on < window_start:
            continue
        kiosk = ctx.actors.kiosk_for(chain) if chance(rng, 0.4) else None
        at = at_office(on, between(rng, 540, 990))
        row: Row
        if kiosk is not None:
            device_id, site = kiosk
            row = (
                ids.next("pension_certifications"),
                entitlement_id,
                at,
                Channel.KIOSK.value,
                site,
                None,
                device_id,
                len(back_paid),
            )
        else:
            operator_id, site = ctx.actors.counter_for(chain)
            row = (
                ids.next("pension_certifications"),
                entitlement_id,
                at,
                Channel.COUNTER.value,
                site,
                operator_id,
                None,
                len(back_paid),
            )
        certifications.append(row)

    benefit = (
        Benefit.EMPLOYEE_PENSION
        if career.pension is Scheme.EMPLOYEE_PENSION
        else Benefit.RESIDENT_PENSION
    )
    first = max(month_index(started), window.first_index)
    last = window.last_benefit_index
    if suspended_since is not None:
        last = min(last, month_index(suspended_since) - 1)
    payments = buf["benefit_payments"]
    next_id = ids.counter("benefit_payments").__next__
    pid = person.id
    kind = benefit.value
    for index in range(first, last + 1):
        year, month0 = divmod(index, 12)
        paid_on = paid_late.get(index) or date(year, month0 + 1, PAY_DAY)
        if paid_on > as_of:
            continue
        payments.append((next_id(), pid, kind, year * 100 + month0 + 1, monthly, paid_on))
