"""B01-B04: decisions with the rules' rule and reasons; B02 resumes and back-pays."""

from __future__ import annotations

from datetime import date

import pytest
from services_city import City
from sqlalchemy import select

from cardsvc.db.models import (
    BenefitPayment,
    Channel,
    ItemCode,
    Outcome,
    PensionCertification,
    PensionEntitlement,
    RetirementCategory,
)
from cardsvc.rules.certification import CertificationState
from cardsvc.rules.unemployment import RULE as UNEMPLOYMENT_RULE
from cardsvc.services.errors import Conflict, NotFound, ValidationFailed
from cardsvc.services.items import benefits, registrations


def test_b01_not_registered_is_not_eligible(city: City) -> None:
    result = benefits.unemployment_benefit_eligibility(
        city.ctx, city.ops["clerk_s1"], city.ssns["zhang"]
    )
    assert not result.eligible
    assert result.rule == UNEMPLOYMENT_RULE
    assert result.months_paid == 24
    assert "not registered as unemployed (art. 14)" in result.reasons
    entry = city.journal()[-1]
    assert (entry.item, entry.outcome) == (ItemCode.B01, Outcome.OK)
    assert entry.detail == {"eligible": False, "provisional": False, "months_paid": 24}


def test_b01_registered_is_eligible_provisionally_until_confirmed(city: City) -> None:
    clerk = city.ops["clerk_s1"]
    registrations.register_unemployment(
        city.ctx,
        clerk,
        city.ssns["zhang"],
        able_to_work=True,
        willing_to_work=True,
        idempotency_key="r02",
    )
    assumed = benefits.unemployment_benefit_eligibility(city.ctx, clerk, city.ssns["zhang"])
    assert assumed.eligible
    assert assumed.provisional
    assert assumed.duration_months == 12
    assert assumed.monthly_amount_fen == 180_900  # 90 % of 2,010 yuan
    assert assumed.certificate_no is not None
    assert any("must confirm" in r for r in assumed.reasons)
    confirmed = benefits.unemployment_benefit_eligibility(
        city.ctx, clerk, city.ssns["zhang"], ended_involuntarily=True
    )
    assert confirmed.eligible
    assert not confirmed.provisional
    quit_ = benefits.unemployment_benefit_eligibility(
        city.ctx, clerk, city.ssns["zhang"], ended_involuntarily=False
    )
    assert not quit_.eligible
    assert "employment ended of the person's own will (art. 14)" in quit_.reasons
    assert city.kiosk is not None
    at_kiosk = benefits.unemployment_benefit_eligibility(
        city.ctx, city.kiosk, city.presence("zhang")
    )
    assert at_kiosk.eligible
    assert at_kiosk.person.ssn.count("*") == 8


def test_b02_resumes_a_suspended_pension_and_back_pays(city: City) -> None:
    clerk = city.ops["clerk_t"]
    with pytest.raises(ValidationFailed) as unchecked:
        benefits.certify_pension_qualification(
            city.ctx, clerk, city.ssns["zhao"], idempotency_key="b02"
        )
    assert unchecked.value.field == "id_checked"
    done = benefits.certify_pension_qualification(
        city.ctx, clerk, city.ssns["zhao"], idempotency_key="b02", id_checked=True
    )
    (cert,) = done.certifications
    assert cert.was is CertificationState.SUSPENDED
    assert cert.resumed
    assert cert.back_paid_months == 4  # 2024-12 .. 2025-03
    assert cert.back_pay_fen == 1_200_000
    assert cert.next_due == date(2026, 3, 10)
    assert cert.rule.startswith("certified every 12 months")
    payments = city.scalars(
        select(BenefitPayment.month).where(BenefitPayment.person_id == city.persons["zhao"])
    )
    assert sorted(payments) == [202412, 202501, 202502, 202503]
    entitlement = city.scalars(select(PensionEntitlement))[0]
    assert (entitlement.last_certified_on, entitlement.suspended_since) == (
        date(2025, 3, 10),
        None,
    )
    (record,) = city.scalars(select(PensionCertification))
    assert (record.channel, record.operator_id) == (Channel.COUNTER, clerk.operator_id)
    # a replay books nothing twice
    again = benefits.certify_pension_qualification(
        city.ctx, clerk, city.ssns["zhao"], idempotency_key="b02", id_checked=True
    )
    assert again == done
    assert len(city.scalars(select(BenefitPayment))) == 4
    # a second certification the same day (new key) is refused
    with pytest.raises(Conflict, match="already certified today"):
        benefits.certify_pension_qualification(
            city.ctx, clerk, city.ssns["zhao"], idempotency_key="b02-again", id_checked=True
        )


def test_b02_refused_without_a_pension_and_done_at_a_kiosk(city: City) -> None:
    with pytest.raises(Conflict, match="no pension") as info:
        benefits.certify_pension_qualification(
            city.ctx, city.ops["clerk_s1"], city.ssns["zhang"], idempotency_key="x", id_checked=True
        )
    assert info.value.current == "no_pension"
    assert city.journal()[-1].outcome is Outcome.REFUSED
    assert city.kiosk is not None
    benefits.certify_pension_qualification(
        city.ctx, city.kiosk, city.presence("zhao"), idempotency_key="kiosk"
    )
    (record,) = city.scalars(select(PensionCertification))
    assert (record.channel, record.device_id) == (Channel.KIOSK, city.kiosk.device_id)


def test_b03_gives_date_months_and_rule(city: City) -> None:
    result = benefits.retirement_eligibility(city.ctx, city.ops["clerk_s1"], city.ssns["zhang"])
    assert not result.eligible
    assert result.category is RetirementCategory.MALE
    assert result.statutory_age == "63 years"
    assert result.retirement_date == date(2053, 1, 1)
    assert (result.months_paid, result.months_required, result.months_still_needed) == (
        24,
        240,
        216,
    )
    assert "2024-09-13" in result.rule
    assert result.resident_pension is None


def test_b03_needs_a_category_for_a_woman_without_one(city: City) -> None:
    clerk = city.ops["clerk_d"]
    with pytest.raises(ValidationFailed) as info:
        benefits.retirement_eligibility(city.ctx, clerk, city.ssns["qian"])
    assert info.value.field == "category"
    result = benefits.retirement_eligibility(
        city.ctx, clerk, city.ssns["qian"], category=RetirementCategory.FEMALE_50
    )
    assert result.retirement_date == date(2020, 2, 2)
    assert result.age_reached
    assert not result.eligible  # nothing paid


def test_b04_employee_and_resident_status(city: City) -> None:
    li = benefits.medical_insurance_status(city.ctx, city.ops["clerk_s2"], city.ssns["li"])
    assert li.employee.active
    assert li.employee.enrolled
    assert not li.resident.active
    assert li.covered
    qian = benefits.medical_insurance_status(city.ctx, city.ops["clerk_d"], city.ssns["qian"])
    assert qian.resident.active
    assert qian.resident.covered_through == date(2025, 12, 31)
    zhang = benefits.medical_insurance_status(city.ctx, city.ops["clerk_s1"], city.ssns["zhang"])
    assert not zhang.covered
    assert zhang.employee.reasons[0] == "latest paid month 202412 is older than 202502"
    with pytest.raises(NotFound):
        benefits.medical_insurance_status(city.ctx, city.ops["clerk_x"], city.ssns["li"])
    entry = city.journal()[-1]
    assert (entry.item, entry.outcome) == (ItemCode.B04, Outcome.DENIED)
