"""What the services do with migration 0004's records: why an employment ended (R02
records it, B01 reads it, E05 shows it), why a card was cancelled (C08), the day a
resident contribution was paid (B04), months paid before the detail (B03)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import pytest
from services_city import EMPLOYER_CODE, City
from sqlalchemy import select

from cardsvc.db.models import (
    CancellationReason,
    Card,
    CardState,
    ContractType,
    Contribution,
    InsuranceRelation,
    PriorContribution,
    Registration,
    RegistrationKind,
    RegistrationStatus,
    RelationStatus,
    RetirementCategory,
    Scheme,
    SeparationReason,
)
from cardsvc.rules.config import MonthDay
from cardsvc.services.context import ServiceContext
from cardsvc.services.errors import IdempotencyKeyReused, ValidationFailed
from cardsvc.services.items import benefits, cards, enquiries, registrations


def _employed_then(city: City, reason: SeparationReason | None, *, key: str = "r02") -> None:
    """Zhang is registered employed (R01), then unemployed (R02) giving `reason`."""
    clerk = city.ops["clerk_s1"]
    today = city.ctx.today()
    registrations.register_employment(
        city.ctx,
        clerk,
        city.ssns["zhang"],
        employer_credit_code=EMPLOYER_CODE,
        start_date=today - timedelta(days=400),
        contract_type=ContractType.FIXED_TERM,
        idempotency_key="r01",
    )
    city.clock.advance(days=1)
    registrations.register_unemployment(
        city.ctx,
        clerk,
        city.ssns["zhang"],
        able_to_work=True,
        willing_to_work=True,
        employment_ended_on=today,
        separation_reason=reason,
        idempotency_key=key,
    )


def _jobs(city: City) -> list[Registration]:
    return city.scalars(
        select(Registration).where(
            Registration.person_id == city.persons["zhang"],
            Registration.kind == RegistrationKind.EMPLOYMENT,
        )
    )


def test_r02_records_when_and_why_the_employment_ended(city: City) -> None:
    _employed_then(city, SeparationReason.CONTRACT_EXPIRED)
    (job,) = _jobs(city)
    assert job.status is RegistrationStatus.CLOSED
    assert job.end_date == city.ctx.today() - timedelta(days=1)
    assert job.separation_reason is SeparationReason.CONTRACT_EXPIRED
    status = enquiries.employment_status(city.ctx, city.ops["clerk_s1"], city.ssns["zhang"])
    assert status.last_ended_employment is not None
    assert status.last_ended_employment.registration_id == job.id
    assert status.last_ended_employment.separation_reason is SeparationReason.CONTRACT_EXPIRED
    assert status.last_ended_employment.employer_name == "枣庄机械厂"
    assert [v.kind for v in status.open_registrations] == [RegistrationKind.UNEMPLOYMENT]


def test_b01_reads_an_involuntary_end_from_the_record(city: City) -> None:
    _employed_then(city, SeparationReason.DISMISSED)
    clerk = city.ops["clerk_s1"]
    result = benefits.unemployment_benefit_eligibility(city.ctx, clerk, city.ssns["zhang"])
    assert result.eligible
    assert not result.provisional
    assert result.separation_reason is SeparationReason.DISMISSED
    assert any("dismissed" in r and "not of the person's own will" in r for r in result.reasons)
    assert not any("must confirm" in r for r in result.reasons)
    agreeing = benefits.unemployment_benefit_eligibility(
        city.ctx, clerk, city.ssns["zhang"], ended_involuntarily=True
    )
    assert agreeing.eligible
    with pytest.raises(ValidationFailed) as info:
        benefits.unemployment_benefit_eligibility(
            city.ctx, clerk, city.ssns["zhang"], ended_involuntarily=False
        )
    assert info.value.field == "ended_involuntarily"
    assert "dismissed" in str(info.value)


def test_b01_refuses_a_recorded_resignation(city: City) -> None:
    _employed_then(city, SeparationReason.RESIGNED)
    result = benefits.unemployment_benefit_eligibility(
        city.ctx, city.ops["clerk_s1"], city.ssns["zhang"]
    )
    assert not result.eligible
    assert not result.provisional
    assert result.separation_reason is SeparationReason.RESIGNED
    assert "employment ended of the person's own will (art. 14)" in result.reasons


def test_b01_without_a_recorded_reason_stays_provisional(city: City) -> None:
    _employed_then(city, None)
    (job,) = _jobs(city)
    assert job.separation_reason is None
    assert job.end_date is not None  # the day is recorded even without the reason
    result = benefits.unemployment_benefit_eligibility(
        city.ctx, city.ops["clerk_s1"], city.ssns["zhang"]
    )
    assert result.eligible
    assert result.provisional
    assert result.separation_reason is None


@pytest.mark.parametrize(
    ("ended", "reason", "field"),
    [
        (None, SeparationReason.DISMISSED, "separation_reason"),  # no day given
        (date(2025, 3, 1), "fired", "separation_reason"),  # not a reason
        (date(2025, 3, 1), SeparationReason.DISMISSED, "separation_reason"),  # no job open
    ],
)
def test_r02_refuses_a_reason_it_cannot_record(
    city: City, ended: date | None, reason: object, field: str
) -> None:
    with pytest.raises(ValidationFailed) as info:
        registrations.register_unemployment(
            city.ctx,
            city.ops["clerk_s1"],
            city.ssns["zhang"],
            able_to_work=True,
            willing_to_work=True,
            employment_ended_on=ended,
            separation_reason=reason,  # type: ignore[arg-type]
            idempotency_key="r02-bad",
        )
    assert info.value.field == field


def test_r02_replay_with_another_reason_is_refused(city: City) -> None:
    _employed_then(city, SeparationReason.DISMISSED, key="same")
    with pytest.raises(IdempotencyKeyReused):
        registrations.register_unemployment(
            city.ctx,
            city.ops["clerk_s1"],
            city.ssns["zhang"],
            able_to_work=True,
            willing_to_work=True,
            employment_ended_on=city.ctx.today() - timedelta(days=1),
            separation_reason=SeparationReason.RESIGNED,
            idempotency_key="same",
        )


def test_c08_records_why_the_card_was_cancelled(city: City) -> None:
    number = city.cards["zhao"]
    changed = cards.cancel_card(
        city.ctx,
        city.ops["sup_city"],
        number,
        reason=CancellationReason.DEATH,
        idempotency_key="c08",
    )
    assert changed.to_state is CardState.CANCELLED
    (card,) = city.scalars(select(Card).where(Card.card_number == number))
    assert card.cancellation_reason is CancellationReason.DEATH
    others = city.scalars(select(Card).where(Card.card_number != number))
    assert others
    assert all(c.cancellation_reason is None for c in others)


def test_b03_months_paid_include_the_months_before_the_detail(city: City) -> None:
    zhang = city.persons["zhang"]
    with city.db.unit_of_work() as uow:
        uow.session.add(
            PriorContribution(
                person_id=zhang, scheme=Scheme.EMPLOYEE_PENSION, months=120, before_month=202301
            )
        )
        # a detail row from before the sum's end is in the sum already: not counted twice
        uow.session.add(
            Contribution(
                person_id=zhang,
                scheme=Scheme.EMPLOYEE_PENSION,
                month=202212,
                base_fen=500_000,
                employer_part_fen=80_000,
                personal_part_fen=40_000,
            )
        )
    result = benefits.retirement_eligibility(city.ctx, city.ops["clerk_s1"], city.ssns["zhang"])
    assert (result.months_paid, result.months_required, result.months_still_needed) == (
        144,
        240,
        96,
    )


def test_b03_resident_pension_counts_twelve_months_a_year_paid(city: City) -> None:
    qian = city.persons["qian"]
    with city.db.unit_of_work() as uow:
        s = uow.session
        s.add(
            InsuranceRelation(
                person_id=qian,
                scheme=Scheme.RESIDENT_PENSION,
                status=RelationStatus.ACTIVE,
                start_date=date(2012, 1, 1),
            )
        )
        s.add(
            PriorContribution(
                person_id=qian, scheme=Scheme.RESIDENT_PENSION, months=120, before_month=202201
            )
        )
        for month in (202205, 202306, 202311):  # 2023 paid twice: still one year
            s.add(
                Contribution(
                    person_id=qian,
                    scheme=Scheme.RESIDENT_PENSION,
                    month=month,
                    base_fen=50_000,
                    employer_part_fen=5_000,
                    personal_part_fen=50_000,
                    paid_on=date(month // 100, month % 100, 10),
                )
            )
    result = benefits.retirement_eligibility(
        city.ctx, city.ops["clerk_d"], city.ssns["qian"], category=RetirementCategory.FEMALE_50
    )
    assert result.resident_pension is not None
    assert result.resident_pension.months_paid == 120 + 24
    assert result.resident_pension.months_still_needed == 180 - 144


def test_b04_the_recorded_day_paid_decides_the_resident_scheme(city: City) -> None:
    """Collection from 15 September: paid on 10 September is late, whatever the month says."""
    late_start = replace(city.ctx.config, resident_medical_collection_start=MonthDay(9, 15))
    ctx = ServiceContext(database=city.db, config=late_start, clock=city.clock)
    qian = city.persons["qian"]
    clerk = city.ops["clerk_d"]
    with city.db.unit_of_work() as uow:
        (row,) = uow.session.scalars(
            select(Contribution).where(
                Contribution.person_id == qian, Contribution.scheme == Scheme.RESIDENT_MEDICAL
            )
        ).all()
        row.month = 202409
    by_month = benefits.medical_insurance_status(ctx, clerk, city.ssns["qian"])
    assert by_month.resident.active  # read by its month alone: paid on the 15th, in time
    with city.db.unit_of_work() as uow:
        found = uow.session.get(Contribution, row.id)
        assert found is not None
        found.paid_on = date(2024, 9, 10)
    by_day = benefits.medical_insurance_status(ctx, clerk, city.ssns["qian"])
    assert not by_day.resident.active
    assert any("2024-09-10" in r for r in by_day.resident.reasons)
    with city.db.unit_of_work() as uow:
        found = uow.session.get(Contribution, row.id)
        assert found is not None
        found.paid_on = date(2024, 9, 20)
    in_time = benefits.medical_insurance_status(ctx, clerk, city.ssns["qian"])
    assert in_time.resident.active
    page = enquiries.contribution_history(ctx, clerk, city.ssns["qian"])
    assert [line.paid_on for line in page.lines] == [date(2024, 9, 20)]
