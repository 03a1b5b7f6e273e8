"""Working lives: jobs, insurance relations, contributions, pension accounts, registrations.

Each resident follows one *track*:

* **employee** (about half of working age): one to three jobs from the first job to
  today or to retirement, with gaps between them; the employee schemes (pension,
  medical, unemployment, work injury) through each employer. At the statutory age
  (cardsvc.rules.retirement, the 2025 reform included) they retire and draw the
  employee pension. About one in eight of working age is unemployed and registered.
* **resident**: the resident pension (from mid-2011, age 16 on) and resident medical
  schemes, paid yearly; the resident pension from 60.
* **student** (young people, and employees whose first job has not started yet):
  resident medical only.

Contributions (history window only; see cardsvc.seed.context): employee schemes every
month at the rules' sample rates on a base between 60 % and 300 % of a sample average
wage (7,200 yuan in 2024, +5 % a year); work injury at the employer's rate. Resident
schemes once a year: the resident pension at a chosen grade (``base`` = personal part
= the grade; ``employer_part`` holds the government subsidy), resident medical in
the collection period before the year it covers (``month`` is the month paid; a few
pay late); both resident schemes record the day paid (``paid_on``). Unemployment
benefit follows cardsvc.rules.unemployment.

Months paid before the window (from each scheme's first recorded month, see
``SCHEME_FROM``; the resident pension from mid-2011, a year paid counting 12 months)
are summed per scheme in ``prior_contribution_months``, so that months paid (B01,
B03) come out right for older residents. Years deemed paid before 1996 (视同缴费) are
not modelled.

A closed employment registration records the job's last day and why it ended
(``separation_reason``): retirement for a retiree's last job; otherwise one of the
involuntary reasons (a fixed-term contract mostly expired) or one of the person's own
will, as the career decided (``Job.involuntary_end``). These choices and the days
paid are hashed from the seed and the person (cardsvc.seed.rng.mix), not drawn from
the person's stream.
"""

from __future__ import annotations

import enum
import math
import random
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Final

from cardsvc.db.models import (
    Benefit,
    ContractType,
    EmploymentStatus,
    RegistrationKind,
    RegistrationStatus,
    RelationStatus,
    RetirementCategory,
    Scheme,
    SeparationReason,
)
from cardsvc.rules.contributions import apply_rate, round_half_up_div
from cardsvc.rules.months import YearMonth, add_months
from cardsvc.rules.retirement import statutory_age
from cardsvc.rules.unemployment import unemployment_benefit
from cardsvc.seed.context import (
    FIRST_DETAIL_MONTH,
    PAY_DAY,
    IdCounters,
    SeedContext,
    at_office,
    month_day,
    month_index,
    yyyymm,
)
from cardsvc.seed.employers import EmployerPool, EmployerSpec
from cardsvc.seed.people import PersonDraft
from cardsvc.seed.rng import between, chance, mix
from cardsvc.seed.tables import RowBuffer

REGISTRATIONS_FROM: Final = date(2008, 1, 2)
"""Registrations are on record from 2008 (the Employment Promotion Law)."""
RESIDENT_PENSION_FROM: Final = date(2011, 7, 1)
RESIDENT_MEDICAL_FROM: Final = date(2008, 1, 1)
SCHEME_FROM: Final = {
    Scheme.EMPLOYEE_PENSION: 199601,
    Scheme.EMPLOYEE_MEDICAL: 199901,
    Scheme.UNEMPLOYMENT: 199901,
    Scheme.WORK_INJURY: 200401,
}
"""First month each employee scheme is recorded for (YYYYMM)."""
UNEMPLOYMENT_FROM: Final = 1999 * 12
"""January 1999 (a month index)."""
_REGISTRATIONS_FROM_MONTH: Final = 2008 * 12
AVERAGE_WAGE_2024_FEN: Final = 720_000
"""*Sample* average monthly wage in 2024 (7,200 yuan); +5 % a year."""
RESIDENT_PENSION_SKIP_SHARE: Final = 0.1
"""Share of years a resident skips paying the resident pension."""
RESIDENT_PENSION_GRADES_YUAN: Final = (100, 300, 500, 800, 1000, 1500, 2000, 3000, 5000)
_GRADE_WEIGHTS: Final = (30, 25, 15, 10, 8, 5, 4, 2, 1)
_INVOLUNTARY: Final = (
    (SeparationReason.DISMISSED, 0.35),
    (SeparationReason.MUTUAL_EMPLOYER_PROPOSED, 0.3),
    (SeparationReason.EMPLOYER_CLOSED, 0.25),
    (SeparationReason.EMPLOYER_AT_FAULT, 0.1),
)
"""Involuntary reasons other than an expired contract, with their shares."""
_CONTRACT_EXPIRED_SHARE: Final = 0.65
"""Share of involuntary ends of fixed-term contracts that are the contract expiring."""
_RESIGNED_SHARE: Final = 0.75
"""Share of voluntary ends that are resignations (the rest: agreements the worker asked)."""
_MONTH_SUMS: Final = tuple((13 - m) * (14 - m) // 2 for m in range(13))
"""_MONTH_SUMS[m0] = Σ (13 - m) for m = m0 … 12 (month-product of equal monthly parts)."""


class Track(enum.Enum):
    EMPLOYEE = "employee"
    RESIDENT = "resident"
    STUDENT = "student"


@dataclass(frozen=True, slots=True)
class Job:
    employer: EmployerSpec
    start: int
    """First month employed (a month index, see cardsvc.seed.context.month_index)."""
    end: int | None
    """Last month employed; None while the job goes on."""
    start_day: int
    end_day: int
    contract: ContractType
    involuntary_end: bool

    @property
    def start_date(self) -> date:
        return month_day(self.start, self.start_day)

    @property
    def end_date(self) -> date | None:
        return None if self.end is None else month_day(self.end, self.end_day)


@dataclass(frozen=True, slots=True)
class Career:
    track: Track
    status: EmploymentStatus
    category: RetirementCategory | None
    jobs: tuple[Job, ...]
    """Oldest first."""
    pension: Scheme | None
    pension_start: date | None
    """First day of the first pension month."""
    wage_factor: float

    @property
    def retirement_year(self) -> int | None:
        return None if self.pension_start is None else (self.pension_start - timedelta(1)).year


def average_wage_fen(year: int) -> int:
    return int(AVERAGE_WAGE_2024_FEN * 1.05 ** (year - 2024)) // 100 * 100


def base_fen(year: int, factor: float) -> int:
    """Contribution base: the person's wage, within 60 %-300 % of the average, in whole yuan."""
    average = average_wage_fen(year)
    return int(average * min(3.0, max(0.6, factor))) // 100 * 100


def age_on(birth: date, day: date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def _contract(rng: random.Random, current: bool) -> ContractType:
    roll = rng.random()
    if current and roll < 0.45:
        return ContractType.OPEN_ENDED
    if roll < 0.9:
        return ContractType.FIXED_TERM
    return ContractType.TASK_BASED if roll < 0.95 else ContractType.PART_TIME


def plan_career(
    rng: random.Random, ctx: SeedContext, person: PersonDraft, employers: EmployerPool
) -> Career:
    as_of = ctx.as_of
    window = ctx.window
    age = age_on(person.birth_date, as_of)
    factor = min(3.0, max(0.6, math.exp(rng.gauss(0.0, 0.35))))
    student = Career(Track.STUDENT, EmploymentStatus.NOT_WORKING, None, (), None, None, factor)
    if age < 16 or (age < 23 and chance(rng, 0.8 if age < 19 else 0.45)):
        return student
    if not chance(rng, 0.42 if person.birth_date.year < 1960 else 0.5):
        sixty = add_months(person.birth_date, 720)
        first_month = YearMonth.of(sixty) + 1
        if first_month <= YearMonth.of(as_of):
            return Career(
                Track.RESIDENT,
                EmploymentStatus.RETIRED,
                None,
                (),
                Scheme.RESIDENT_PENSION,
                max(first_month.first_day(), RESIDENT_PENSION_FROM),
                factor,
            )
        return Career(Track.RESIDENT, EmploymentStatus.NOT_WORKING, None, (), None, None, factor)

    if person.male:
        category = RetirementCategory.MALE
    elif chance(rng, 0.35):
        category = RetirementCategory.FEMALE_55
    else:
        category = RetirementCategory.FEMALE_50
    age_rule = statutory_age(YearMonth.of(person.birth_date), category)
    retirement_date = add_months(person.birth_date, age_rule.statutory_age.total_months)
    career_start = month_index(person.birth_date) + 12 * between(rng, 18, 23) + between(rng, 0, 11)
    last_paid = window.last_paid_index
    if career_start > last_paid:
        return student

    pension: Scheme | None = None
    pension_start: date | None = None
    work_end: int | None
    if month_index(retirement_date) + 1 <= month_index(as_of):
        status = EmploymentStatus.RETIRED
        work_end = month_index(retirement_date)
        pension = Scheme.EMPLOYEE_PENSION
        pension_start = month_day(work_end + 1, 1)
    elif last_paid - career_start >= 14 and chance(rng, 0.12):
        status = EmploymentStatus.UNEMPLOYED
        work_end = max(last_paid - between(rng, 1, 20), career_start + 12)
    else:
        status = EmploymentStatus.EMPLOYED
        work_end = None

    spans: list[tuple[int, int | None]] = []
    end = work_end
    effective_end = last_paid if work_end is None else work_end
    for n in range(3):
        start = effective_end - between(rng, 12, 200) + 1
        if n == 2 or start <= career_start:
            start = career_start
        spans.append((start, end))
        if start == career_start:
            break
        gap = 0 if chance(rng, 0.55) else between(rng, 1, 14)
        previous_end = start - 1 - gap
        if previous_end < career_start + 3:
            spans[-1] = (career_start, end)
            break
        end = effective_end = previous_end
    spans.reverse()

    jobs: list[Job] = []
    for i, (start, end) in enumerate(spans):
        employer = employers.pick(rng.random(), person.station.district_code, chance(rng, 0.8))
        last = i == len(spans) - 1
        end_day = between(rng, 1, 28)
        if last and status is EmploymentStatus.RETIRED:
            end_day = retirement_date.day
        jobs.append(
            Job(
                employer=employer,
                start=start,
                end=end,
                start_day=between(rng, 1, 28),
                end_day=end_day,
                contract=_contract(rng, end is None),
                involuntary_end=end is not None and chance(rng, 0.7),
            )
        )
    return Career(Track.EMPLOYEE, status, category, tuple(jobs), pension, pension_start, factor)


# -- records ----------------------------------------------------------------------------


def emit_employment(
    rng: random.Random,
    ctx: SeedContext,
    *,
    ids: IdCounters,
    buf: RowBuffer,
    person: PersonDraft,
    career: Career,
) -> None:
    """Insurance relations, contributions, pension account years, registrations, benefits."""
    if career.track is Track.EMPLOYEE:
        _employee_relations(ids, buf, person, career)
        _employee_prior_months(ctx, buf, person, career)
        parts = _employee_contributions(ctx, ids, buf, person, career)
        _pension_account_years(ctx, ids, buf=buf, person=person, career=career, parts=parts)
        _registrations(rng, ctx, ids=ids, buf=buf, person=person, career=career)
        return
    if career.track is Track.RESIDENT:
        _resident_pension(rng, ctx, ids=ids, buf=buf, person=person, career=career)
    _resident_medical(rng, ctx, ids, buf, person)


def _employee_relations(
    ids: IdCounters, buf: RowBuffer, person: PersonDraft, career: Career
) -> None:
    rows = buf["insurance_relations"]
    status = career.status
    for i, job in enumerate(career.jobs):
        last = i == len(career.jobs) - 1
        job_start = job.start_date
        job_end = job.end_date
        for scheme, since in SCHEME_FROM.items():
            start = max(job_start, date(since // 100, since % 100, 1))
            end = job_end
            if end is not None and end < start:
                continue
            if not last:
                state = RelationStatus.ENDED
            elif status is EmploymentStatus.EMPLOYED:
                state = RelationStatus.ACTIVE
            elif status is EmploymentStatus.UNEMPLOYED:
                paused = scheme in (Scheme.EMPLOYEE_PENSION, Scheme.EMPLOYEE_MEDICAL)
                state = RelationStatus.SUSPENDED if paused else RelationStatus.ENDED
            elif scheme is Scheme.EMPLOYEE_MEDICAL:  # retirees keep employee medical insurance
                state, end = RelationStatus.ACTIVE, None
            else:
                state = RelationStatus.ENDED
            rows.append(
                (
                    ids.next("insurance_relations"),
                    person.id,
                    scheme.value,
                    state.value,
                    start,
                    end,
                    job.employer.id,
                )
            )


def _employee_prior_months(
    ctx: SeedContext, buf: RowBuffer, person: PersonDraft, career: Career
) -> None:
    """Months of each employee scheme paid before the window, summed (one row a scheme)."""
    before = ctx.window.first_index
    rows = buf["prior_contribution_months"]
    for scheme, since in SCHEME_FROM.items():
        first_month = (since // 100) * 12 + since % 100 - 1
        months = 0
        for job in career.jobs:
            first = max(job.start, first_month)
            last = min(before - 1, ctx.window.last_paid_index if job.end is None else job.end)
            if last >= first:
                months += last - first + 1
        if months:
            rows.append((person.id, scheme.value, months, yyyymm(before)))


def paid_day(seed: int, person_id: int, month_index: int) -> date:
    """The day in a month a yearly resident contribution was paid (hashed, not drawn)."""
    year, month0 = divmod(month_index, 12)
    return date(year, month0 + 1, 1 + int(mix(seed, person_id, month_index) * 28))


def separation_reason(seed: int, person_id: int, job_index: int, job: Job) -> SeparationReason:
    """Why a job that ended ended (not for a retiree's last job: that is retirement)."""
    roll = mix(seed, person_id, job_index, 7)
    if not job.involuntary_end:
        if roll < _RESIGNED_SHARE:
            return SeparationReason.RESIGNED
        return SeparationReason.MUTUAL_EMPLOYEE_PROPOSED
    if job.contract is ContractType.FIXED_TERM:
        if roll < _CONTRACT_EXPIRED_SHARE:
            return SeparationReason.CONTRACT_EXPIRED
        roll = (roll - _CONTRACT_EXPIRED_SHARE) / (1 - _CONTRACT_EXPIRED_SHARE)
    for reason, share in _INVOLUNTARY:
        if roll < share:
            return reason
        roll -= share
    return _INVOLUNTARY[-1][0]


def _employee_contributions(
    ctx: SeedContext, ids: IdCounters, buf: RowBuffer, person: PersonDraft, career: Career
) -> dict[int, int]:
    """Monthly rows of the four employee schemes; returns personal pension parts by month index."""
    rows = buf["contributions"]
    next_id = ids.counter("contributions").__next__
    config = ctx.config
    pension_parts: dict[int, int] = {}
    pid = person.id
    for job in career.jobs:
        months = ctx.window.months(
            job.start, ctx.window.last_paid_index if job.end is None else job.end
        )
        if not months:
            continue
        employer = job.employer
        by_year: dict[int, tuple[int, tuple[tuple[str, int, int, int], ...]]] = {}
        for index in months:
            year, month0 = divmod(index, 12)
            yyyymm = year * 100 + month0 + 1
            found = by_year.get(year)
            if found is None:
                base = base_fen(year, career.wage_factor)
                found = (
                    base,
                    (
                        (
                            Scheme.EMPLOYEE_PENSION.value,
                            apply_rate(base, config.pension_rates.employer_bp),
                            apply_rate(base, config.pension_rates.personal_bp),
                            SCHEME_FROM[Scheme.EMPLOYEE_PENSION],
                        ),
                        (
                            Scheme.EMPLOYEE_MEDICAL.value,
                            apply_rate(base, config.medical_rates.employer_bp),
                            apply_rate(base, config.medical_rates.personal_bp),
                            SCHEME_FROM[Scheme.EMPLOYEE_MEDICAL],
                        ),
                        (
                            Scheme.UNEMPLOYMENT.value,
                            apply_rate(base, config.unemployment_rates.employer_bp),
                            apply_rate(base, config.unemployment_rates.personal_bp),
                            SCHEME_FROM[Scheme.UNEMPLOYMENT],
                        ),
                        (
                            Scheme.WORK_INJURY.value,
                            apply_rate(base, employer.work_injury_bp),
                            0,
                            SCHEME_FROM[Scheme.WORK_INJURY],
                        ),
                    ),
                )
                by_year[year] = found
            base, parts = found
            for scheme, employer_part, personal_part, since in parts:
                if yyyymm >= since:
                    rows.append(
                        (
                            next_id(),
                            pid,
                            scheme,
                            yyyymm,
                            base,
                            employer_part,
                            personal_part,
                            employer.id,
                            None,
                        )
                    )
            pension_parts[index] = parts[0][2]
    return pension_parts


def _pension_account_years(
    ctx: SeedContext,
    ids: IdCounters,
    *,
    buf: RowBuffer,
    person: PersonDraft,
    career: Career,
    parts: dict[int, int],
) -> None:
    """Closed years of the personal account in the window.

    The month-product method (月积数法) of cardsvc.rules.contributions, on integers:
    ``interest = round_half_up(opening × r + Σ part_m × r × (13 − m) / 12)``. The
    tests check every seeded year against `pension_account_balances`.
    """
    career_start = career.jobs[0].start
    start_year, start_month0 = divmod(career_start, 12)
    first_year = max(ctx.window.first.year, start_year, FIRST_DETAIL_MONTH.year)
    last_year = ctx.as_of.year - 1
    if career.retirement_year is not None:
        last_year = min(last_year, career.retirement_year - 1)
    if last_year < first_year:
        return
    personal_bp = ctx.config.pension_rates.personal_bp
    rates = ctx.rates_bp
    balance = 0
    for year in range(max(start_year, FIRST_DETAIL_MONTH.year), first_year):
        part = apply_rate(base_fen(year, career.wage_factor), personal_bp)
        first_month = start_month0 + 1 if year == start_year else 1
        product = balance * 12 + part * _MONTH_SUMS[first_month]
        balance += part * (13 - first_month) + round_half_up_div(product * rates[year], 10_000 * 12)
    rows = buf["pension_account_years"]
    for year in range(first_year, last_year + 1):
        rate = rates[year]
        product = balance * 12
        credited = 0
        base_index = year * 12
        for m in range(12):
            part = parts.get(base_index + m, 0)
            credited += part
            product += part * (12 - m)
        interest = round_half_up_div(product * rate, 10_000 * 12)
        closing = balance + credited + interest
        rows.append(
            (
                ids.next("pension_account_years"),
                person.id,
                year,
                balance,
                credited,
                Decimal(rate) / 10_000,
                interest,
                closing,
            )
        )
        balance = closing


def _unemployment_months_paid(jobs: tuple[Job, ...], through: int) -> int:
    """Months of unemployment insurance in jobs[0 … through] (from 1999)."""
    total = 0
    for job in jobs[: through + 1]:
        if job.end is None:
            continue
        first = max(job.start, UNEMPLOYMENT_FROM)
        if job.end >= first:
            total += job.end - first + 1
    return total


def _registrations(
    rng: random.Random,
    ctx: SeedContext,
    *,
    ids: IdCounters,
    buf: RowBuffer,
    person: PersonDraft,
    career: Career,
) -> None:
    rows = buf["registrations"]
    jobs = career.jobs
    township = person.station.township_code or person.station.code
    for i, job in enumerate(jobs):
        end_date = job.end_date
        if end_date is not None and end_date < REGISTRATIONS_FROM:
            continue
        opened = max(job.start_date, REGISTRATIONS_FROM)
        opened_at = at_office(opened, between(rng, 540, 990))
        closed_at = None
        if end_date is not None:
            closed_at = max(at_office(end_date, between(rng, 540, 990)), opened_at)
        rows.append(
            (
                ids.next("registrations"),
                person.id,
                RegistrationKind.EMPLOYMENT.value,
                (RegistrationStatus.OPEN if end_date is None else RegistrationStatus.CLOSED).value,
                job.employer.site_code,
                opened_at,
                closed_at,
                job.employer.id,
                job.start_date,
                job.contract.value,
                None,
                end_date,
                None if end_date is None else _ended_why(ctx, person, career, i).value,
            )
        )
        # the gap after this job, if the person registered as unemployed in it
        if job.end is None:
            continue
        following = jobs[i + 1] if i + 1 < len(jobs) else None
        if following is None and career.status is not EmploymentStatus.UNEMPLOYED:
            continue  # retired
        gap_first = job.end + 1
        if following is not None and following.start <= gap_first:
            continue
        if gap_first < _REGISTRATIONS_FROM_MONTH:
            continue
        if following is not None and not (job.involuntary_end or chance(rng, 0.5)):
            continue
        _unemployment_spell(
            rng,
            ctx,
            ids=ids,
            buf=buf,
            person=person,
            career=career,
            job_index=i,
            gap_first=gap_first,
            following=following,
            township=township,
        )


def _ended_why(
    ctx: SeedContext, person: PersonDraft, career: Career, job_index: int
) -> SeparationReason:
    last = job_index == len(career.jobs) - 1
    if last and career.status is EmploymentStatus.RETIRED:
        return SeparationReason.RETIRED
    return separation_reason(ctx.seed, person.id, job_index, career.jobs[job_index])


def _unemployment_spell(
    rng: random.Random,
    ctx: SeedContext,
    *,
    ids: IdCounters,
    buf: RowBuffer,
    person: PersonDraft,
    career: Career,
    job_index: int,
    gap_first: int,
    following: Job | None,
    township: str,
) -> None:
    job = career.jobs[job_index]
    opened = month_day(gap_first, between(rng, 1, 25))
    opened_at = at_office(opened, between(rng, 540, 990))
    closed_at = None
    if following is not None:
        closed_at = max(at_office(following.start_date, between(rng, 540, 990)), opened_at)
    registration_id = ids.next("registrations")
    buf["registrations"].append(
        (
            registration_id,
            person.id,
            RegistrationKind.UNEMPLOYMENT.value,
            (RegistrationStatus.OPEN if following is None else RegistrationStatus.CLOSED).value,
            township,
            opened_at,
            closed_at,
            None,
            None,
            None,
            f"{person.station.district_code}{opened.year}{registration_id:09d}",
            None,
            None,
        )
    )
    decision = unemployment_benefit(
        months_paid=_unemployment_months_paid(career.jobs, job_index),
        ended_involuntarily=job.involuntary_end,
        registered_unemployed=True,
        seeking_work=True,
        drawing_pension=False,
        config=ctx.config,
    )
    if not decision.eligible:
        return
    first = month_index(opened) + 1
    last = first + decision.duration_months - 1
    if following is not None:
        last = min(last, following.start - 1)
    last = min(last, ctx.window.last_benefit_index)
    rows = buf["benefit_payments"]
    for index in range(max(first, ctx.window.first_index), last + 1):
        year, month0 = divmod(index, 12)
        rows.append(
            (
                ids.next("benefit_payments"),
                person.id,
                Benefit.UNEMPLOYMENT.value,
                year * 100 + month0 + 1,
                decision.monthly_amount_fen,
                date(year, month0 + 1, PAY_DAY),
            )
        )


def _resident_pension(
    rng: random.Random,
    ctx: SeedContext,
    *,
    ids: IdCounters,
    buf: RowBuffer,
    person: PersonDraft,
    career: Career,
) -> None:
    start = max(RESIDENT_PENSION_FROM, add_months(person.birth_date, 16 * 12))
    end = None if career.pension_start is None else career.pension_start - timedelta(days=1)
    if end is not None and end < start:
        return  # reached 60 before the scheme: drawing without paying (transitional)
    status = RelationStatus.ACTIVE if end is None else RelationStatus.ENDED
    buf["insurance_relations"].append(
        (
            ids.next("insurance_relations"),
            person.id,
            Scheme.RESIDENT_PENSION.value,
            status.value,
            start,
            end,
            None,
        )
    )
    _resident_pension_prior_years(ctx, buf, person, start, end)
    rows = buf["contributions"]
    window = ctx.window
    first, last = window.first_index, window.last_paid_index
    for year in range(window.first.year, ctx.as_of.year + 1):
        month = year * 12 + between(rng, 3, 11) - 1
        grade = RESIDENT_PENSION_GRADES_YUAN[_pick_grade(rng)] * 100
        if chance(rng, 0.1) or not first <= month <= last:
            continue
        if month < month_index(start) or (end is not None and month > month_index(end)):
            continue
        subsidy = 3_000 + grade // 25
        rows.append(
            (
                ids.next("contributions"),
                person.id,
                Scheme.RESIDENT_PENSION.value,
                yyyymm(month),
                grade,
                subsidy,
                grade,
                None,
                paid_day(ctx.seed, person.id, month),
            )
        )


def _resident_pension_prior_years(
    ctx: SeedContext, buf: RowBuffer, person: PersonDraft, start: date, end: date | None
) -> None:
    """Years of the resident pension paid before the window (about 9 in 10), as months."""
    first_year = ctx.window.first.year
    last_year = first_year - 1 if end is None else min(first_year - 1, end.year)
    years = sum(
        1
        for year in range(start.year, last_year + 1)
        if mix(ctx.seed, person.id, year, 11) >= RESIDENT_PENSION_SKIP_SHARE
    )
    if years:
        buf["prior_contribution_months"].append(
            (person.id, Scheme.RESIDENT_PENSION.value, 12 * years, first_year * 100 + 1)
        )


def _pick_grade(rng: random.Random) -> int:
    roll = rng.random() * sum(_GRADE_WEIGHTS)
    for i, weight in enumerate(_GRADE_WEIGHTS):
        if roll < weight:
            return i
        roll -= weight
    return len(_GRADE_WEIGHTS) - 1


def resident_medical_fen(coverage_year: int) -> int:
    """*Sample* personal resident medical contribution for a year, in fen."""
    yuan = {2020: 280, 2021: 320, 2022: 350, 2023: 380}.get(coverage_year)
    if yuan is None:
        yuan = 250 if coverage_year < 2020 else 400
    return yuan * 100


def _resident_medical(
    rng: random.Random, ctx: SeedContext, ids: IdCounters, buf: RowBuffer, person: PersonDraft
) -> None:
    start = max(RESIDENT_MEDICAL_FROM, person.birth_date)
    buf["insurance_relations"].append(
        (
            ids.next("insurance_relations"),
            person.id,
            Scheme.RESIDENT_MEDICAL.value,
            RelationStatus.ACTIVE.value,
            start,
            None,
            None,
        )
    )
    rows = buf["contributions"]
    window = ctx.window
    first, last = window.first_index, window.last_paid_index
    for coverage in range(window.first.year + 1, ctx.as_of.year + 2):
        roll = rng.random()
        if roll < 0.03:
            month = coverage * 12 + between(rng, 1, 3) - 1  # paid late: not covered (rules)
        else:
            month = (coverage - 1) * 12 + between(rng, 9, 12) - 1
        if roll > 0.95 or not first <= month <= last:
            continue
        amount = resident_medical_fen(coverage)
        rows.append(
            (
                ids.next("contributions"),
                person.id,
                Scheme.RESIDENT_MEDICAL.value,
                yyyymm(month),
                amount,
                0,
                amount,
                None,
                paid_day(ctx.seed, person.id, month),
            )
        )
