"""The records migration 0004 added, as seeded: why employments ended and cards were
cancelled, the day resident contributions were paid, months paid before the window."""

from __future__ import annotations

from collections import defaultdict
from datetime import date

from seed_helpers import AS_OF, Seeded
from sqlalchemy import select
from sqlalchemy.orm import Session

from cardsvc.db.models import (
    CancellationReason,
    Card,
    CardState,
    Contribution,
    EmploymentStatus,
    InsuranceRelation,
    Person,
    PriorContribution,
    Registration,
    RegistrationKind,
    RegistrationStatus,
    RelationStatus,
    Scheme,
    SeparationReason,
)
from cardsvc.rules.months import YearMonth
from cardsvc.rules.unemployment import ended_involuntarily
from cardsvc.seed.context import Window
from cardsvc.seed.options import DEFAULT_HISTORY_YEARS
from cardsvc.services.queries import last_closed_employment, months_paid

WINDOW = Window.for_options(AS_OF, DEFAULT_HISTORY_YEARS)


def test_ended_employments_say_when_and_why(seeded: Seeded) -> None:
    with Session(seeded.engine) as s:
        registrations = s.scalars(select(Registration).order_by(Registration.id)).all()
        persons = {p.id: p for p in s.scalars(select(Person))}
    closed_jobs = [
        r
        for r in registrations
        if r.kind is RegistrationKind.EMPLOYMENT and r.status is RegistrationStatus.CLOSED
    ]
    assert closed_jobs
    for r in registrations:
        if r.kind is RegistrationKind.EMPLOYMENT and r.status is RegistrationStatus.CLOSED:
            assert r.end_date is not None, r.id
            assert r.start_date is not None
            assert r.start_date <= r.end_date <= AS_OF
            assert isinstance(r.separation_reason, SeparationReason)
        else:
            assert (r.end_date, r.separation_reason) == (None, None), r.id
    last_job: dict[int, Registration] = {}
    for r in closed_jobs:
        last_job[r.person_id] = r  # ids follow the career: the last is the latest job
    retired = [p for p in last_job if persons[p].employment_status is EmploymentStatus.RETIRED]
    assert retired
    for person_id in retired:
        assert last_job[person_id].separation_reason is SeparationReason.RETIRED
    reasons = {r.separation_reason for r in closed_jobs if r.separation_reason is not None}
    assert any(ended_involuntarily(reason) for reason in reasons)
    assert reasons & {SeparationReason.RESIGNED, SeparationReason.MUTUAL_EMPLOYEE_PROPOSED}


def test_the_registered_unemployed_have_the_reason_b01_reads(seeded: Seeded) -> None:
    with Session(seeded.engine) as s:
        spells = s.scalars(
            select(Registration).where(
                Registration.kind == RegistrationKind.UNEMPLOYMENT,
                Registration.status == RegistrationStatus.OPEN,
            )
        ).all()
        assert spells
        for spell in spells:
            ended = last_closed_employment(s, spell.person_id, closed_by=spell.opened_at)
            if ended is not None:  # a job that ended before 2008 has no registration
                assert ended.separation_reason is not None
                assert ended.separation_reason is not SeparationReason.RETIRED


def test_cancelled_cards_and_only_they_say_why(seeded: Seeded) -> None:
    with Session(seeded.engine) as s:
        cards = s.scalars(select(Card)).all()
    cancelled = [c for c in cards if c.state is CardState.CANCELLED]
    assert cancelled
    for card in cards:
        if card.state is CardState.CANCELLED:
            assert isinstance(card.cancellation_reason, CancellationReason)
        else:
            assert card.cancellation_reason is None


def test_yearly_resident_contributions_record_the_day_paid(seeded: Seeded) -> None:
    with Session(seeded.engine) as s:
        rows = s.scalars(select(Contribution)).all()
    yearly = (Scheme.RESIDENT_PENSION, Scheme.RESIDENT_MEDICAL)
    assert any(r.scheme in yearly for r in rows)
    for row in rows:
        if row.scheme in yearly:
            assert row.paid_on is not None
            assert YearMonth.of(row.paid_on) == YearMonth.parse(f"{row.month:06d}")
            assert row.paid_on < AS_OF
        else:
            assert row.paid_on is None


def _months_of(relation: InsuranceRelation) -> set[YearMonth]:
    """The months a seeded employee relation was paid for (to the last paid month)."""
    first = YearMonth.of(relation.start_date)
    last = WINDOW.last_paid
    if relation.end_date is not None:
        last = min(last, YearMonth.of(relation.end_date))
    return {first + k for k in range(max(0, last - first + 1))}


def test_months_paid_count_the_months_before_the_window(seeded: Seeded) -> None:
    """Prior + detail = every month of the person's employee pension relations."""
    with Session(seeded.engine) as s:
        relations = s.scalars(
            select(InsuranceRelation).where(InsuranceRelation.scheme == Scheme.EMPLOYEE_PENSION)
        ).all()
        prior = s.scalars(select(PriorContribution)).all()
        by_person: dict[int, set[YearMonth]] = defaultdict(set)
        for relation in relations:
            by_person[relation.person_id] |= _months_of(relation)
        assert by_person
        for person_id, months in by_person.items():
            assert months_paid(s, person_id, Scheme.EMPLOYEE_PENSION) == len(months), person_id
    first_detail = int(WINDOW.first.format())
    assert {p.before_month for p in prior} == {first_detail}
    schemes = {p.scheme for p in prior}
    assert Scheme.EMPLOYEE_PENSION in schemes
    assert Scheme.UNEMPLOYMENT in schemes
    assert all(p.months > 0 for p in prior)


def test_resident_pension_years_paid_count_twelve_months(seeded: Seeded) -> None:
    with Session(seeded.engine) as s:
        payers = s.scalars(
            select(InsuranceRelation).where(
                InsuranceRelation.scheme == Scheme.RESIDENT_PENSION,
                InsuranceRelation.status == RelationStatus.ACTIVE,
            )
        ).all()
        assert payers
        checked = 0
        for relation in payers:
            years = {
                m // 100
                for m in s.scalars(
                    select(Contribution.month).where(
                        Contribution.person_id == relation.person_id,
                        Contribution.scheme == Scheme.RESIDENT_PENSION,
                    )
                )
            }
            before = s.get(PriorContribution, (relation.person_id, Scheme.RESIDENT_PENSION))
            earlier = before.months if before is not None else 0
            assert earlier % 12 == 0
            if before is not None:
                assert relation.start_date < date(WINDOW.first.year, 1, 1)
            got = months_paid(s, relation.person_id, Scheme.RESIDENT_PENSION)
            assert got == earlier + 12 * len(years)
            checked += 1
    assert checked
