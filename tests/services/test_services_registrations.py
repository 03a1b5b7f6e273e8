"""R01-R05, the reviewer's decision, and idempotent replays."""

from __future__ import annotations

from datetime import date

import pytest
from services_city import EMPLOYER_CODE, OTHER_EMPLOYER_CODE, City, make_ssn
from sqlalchemy import select

from cardsvc.db.models import (
    ChangeField,
    ChangeStatus,
    ContractType,
    EmploymentStatus,
    IdempotencyRecord,
    InsuranceRelation,
    ItemCode,
    Outcome,
    PendingChange,
    Person,
    Registration,
    RegistrationKind,
    RegistrationStatus,
    Scheme,
)
from cardsvc.services.errors import (
    Conflict,
    IdempotencyKeyReused,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from cardsvc.services.items import registrations as reg


def _register_unemployed(city: City, who: str = "zhang", key: str = "r02", **kw: object) -> object:
    actor = kw.pop("actor", city.ops["clerk_s1"])
    return reg.register_unemployment(
        city.ctx,
        actor,  # type: ignore[arg-type]
        kw.pop("subject", city.ssns[who]),  # type: ignore[arg-type]
        able_to_work=True,
        willing_to_work=True,
        idempotency_key=key,
        **kw,  # type: ignore[arg-type]
    )


def _open(city: City, who: str, kind: RegistrationKind) -> list[Registration]:
    return city.scalars(
        select(Registration).where(
            Registration.person_id == city.persons[who],
            Registration.kind == kind,
            Registration.status == RegistrationStatus.OPEN,
        )
    )


# -- R02 ---------------------------------------------------------------------------------


def test_r02_registers_and_gives_a_certificate(city: City) -> None:
    done = _register_unemployed(city)
    assert isinstance(done, reg.UnemploymentRegistered)
    assert done.certificate_no.startswith("370402001001-2025-")
    (open_reg,) = _open(city, "zhang", RegistrationKind.UNEMPLOYMENT)
    assert open_reg.certificate_no == done.certificate_no
    assert city.get(Person, city.persons["zhang"]).employment_status is EmploymentStatus.UNEMPLOYED
    entry = city.journal()[-1]
    assert (entry.item, entry.outcome) == (ItemCode.R02, Outcome.OK)
    assert entry.detail == {
        "registration": done.registration_id,
        "certificate": done.certificate_no,
    }


def test_r02_duplicate_refused_whichever_site_or_channel(city: City) -> None:
    _register_unemployed(city)
    with pytest.raises(Conflict, match="already registered unemployed") as info:
        _register_unemployed(city, key="other-site", actor=city.ops["clerk_t"])
    assert info.value.current == "registered_unemployed"
    assert city.kiosk is not None
    with pytest.raises(Conflict):
        _register_unemployed(city, key="kiosk", actor=city.kiosk, subject=city.presence("zhang"))
    assert len(_open(city, "zhang", RegistrationKind.UNEMPLOYMENT)) == 1
    outcomes = [e.outcome for e in city.journal()[-3:]]
    assert outcomes == [Outcome.OK, Outcome.REFUSED, Outcome.REFUSED]


def test_r02_refuses_an_employed_person_unless_the_end_is_given(city: City) -> None:
    clerk = city.ops["clerk_s2"]
    with pytest.raises(Conflict, match="employment_ended_on") as info:
        _register_unemployed(city, "li", actor=clerk)
    assert info.value.current == "employed"
    done = _register_unemployed(
        city, "li", key="r02-li-2", actor=clerk, employment_ended_on=date(2025, 2, 28)
    )
    assert isinstance(done, reg.UnemploymentRegistered)


def test_r02_not_able_to_work_is_refused(city: City) -> None:
    with pytest.raises(ValidationFailed) as info:
        reg.register_unemployment(
            city.ctx,
            city.ops["clerk_s1"],
            city.ssns["zhang"],
            able_to_work=False,
            willing_to_work=True,
            idempotency_key="x",
        )
    assert info.value.field == "able_to_work"
    with pytest.raises(Conflict, match="working age"):
        _register_unemployed(city, "zhao", actor=city.ops["clerk_t"])


def test_r02_at_a_kiosk_with_pin(city: City) -> None:
    assert city.kiosk is not None
    done = _register_unemployed(city, key="k", actor=city.kiosk, subject=city.presence("zhang"))
    assert isinstance(done, reg.UnemploymentRegistered)
    assert city.journal()[-1].device_id == city.kiosk.device_id


# -- idempotency ------------------------------------------------------------------------


def test_replay_returns_the_identical_result_without_a_second_effect(city: City) -> None:
    first = _register_unemployed(city, key="same-key")
    entries = len(city.journal())
    again = _register_unemployed(city, key="same-key")
    assert again == first
    assert len(_open(city, "zhang", RegistrationKind.UNEMPLOYMENT)) == 1
    assert len(city.journal()) == entries  # a replay is not a second transaction
    records = city.scalars(select(IdempotencyRecord))
    assert [(r.scope, r.key) for r in records] == [
        (f"operator:{city.ops['clerk_s1'].operator_id}:R02", "same-key")
    ]


def test_same_key_with_other_input_is_refused(city: City) -> None:
    _register_unemployed(city, key="k1")
    with pytest.raises(IdempotencyKeyReused):
        reg.register_unemployment(
            city.ctx,
            city.ops["clerk_s1"],
            city.ssns["zhang"],
            able_to_work=True,
            willing_to_work=True,
            employment_ended_on=date(2025, 1, 1),
            idempotency_key="k1",
        )
    assert city.journal()[-1].outcome is Outcome.REFUSED


def test_the_same_key_is_independent_per_actor_and_item(city: City) -> None:
    _register_unemployed(city, key="shared")
    done = reg.enrol_resident_medical(
        city.ctx, city.ops["clerk_s1"], city.ssns["zhang"], idempotency_key="shared"
    )
    assert done.scheme is Scheme.RESIDENT_MEDICAL
    with pytest.raises(ValidationFailed) as info:
        _register_unemployed(city, key="has space")
    assert info.value.field == "idempotency_key"


def test_a_refusal_leaves_the_key_free(city: City) -> None:
    with pytest.raises(Conflict):
        _register_unemployed(city, "li", key="retry", actor=city.ops["clerk_s2"])
    done = _register_unemployed(
        city, "li", key="retry-2", actor=city.ops["clerk_s2"], employment_ended_on=date(2025, 3, 1)
    )
    assert isinstance(done, reg.UnemploymentRegistered)


# -- R01 ---------------------------------------------------------------------------------


def test_r01_registers_employment_and_closes_unemployment(city: City) -> None:
    unemployed = _register_unemployed(city)
    assert isinstance(unemployed, reg.UnemploymentRegistered)
    done = reg.register_employment(
        city.ctx,
        city.ops["clerk_s1"],
        city.ssns["zhang"],
        employer_credit_code=EMPLOYER_CODE,
        start_date=date(2025, 3, 10),
        contract_type=ContractType.FIXED_TERM,
        idempotency_key="r01",
    )
    assert done.employer_name == "枣庄机械厂"
    assert done.closed_unemployment_registration_id == unemployed.registration_id
    assert _open(city, "zhang", RegistrationKind.UNEMPLOYMENT) == []
    assert len(_open(city, "zhang", RegistrationKind.EMPLOYMENT)) == 1
    assert city.get(Person, city.persons["zhang"]).employment_status is EmploymentStatus.EMPLOYED


def test_r01_unknown_employer_and_duplicate_are_refused(city: City) -> None:
    clerk = city.ops["clerk_s1"]
    with pytest.raises(ValidationFailed) as info:
        reg.register_employment(
            city.ctx,
            clerk,
            city.ssns["zhang"],
            employer_credit_code="91370402MA3C999999",
            start_date=date(2025, 3, 1),
            contract_type=ContractType.OPEN_ENDED,
            idempotency_key="a",
        )
    assert info.value.field == "employer_credit_code"
    reg.register_employment(
        city.ctx,
        clerk,
        city.ssns["zhang"],
        employer_credit_code=EMPLOYER_CODE,
        start_date=date(2025, 3, 1),
        contract_type=ContractType.OPEN_ENDED,
        idempotency_key="b",
    )
    with pytest.raises(Conflict, match="open employment registration"):
        reg.register_employment(
            city.ctx,
            city.ops["clerk_d"],
            city.ssns["zhang"],
            employer_credit_code=OTHER_EMPLOYER_CODE,
            start_date=date(2025, 3, 2),
            contract_type=ContractType.PART_TIME,
            idempotency_key="c",
        )


def test_r01_is_not_a_kiosk_item(city: City) -> None:
    assert city.kiosk is not None
    with pytest.raises(PermissionDenied, match="kiosk"):
        reg.register_employment(
            city.ctx,
            city.kiosk,
            city.presence("zhang"),
            employer_credit_code=EMPLOYER_CODE,
            start_date=date(2025, 3, 1),
            contract_type=ContractType.OPEN_ENDED,
            idempotency_key="k",
        )


# -- R03 / R04 ---------------------------------------------------------------------------


def test_r03_enrols_once_and_r04_not_beside_the_employee_scheme(city: City) -> None:
    clerk = city.ops["clerk_d"]
    done = reg.enrol_resident_pension(city.ctx, clerk, city.ssns["qian"], idempotency_key="r03")
    assert (done.scheme, done.start_date) == (Scheme.RESIDENT_PENSION, date(2025, 3, 10))
    with pytest.raises(Conflict, match="already enrolled"):
        reg.enrol_resident_pension(city.ctx, clerk, city.ssns["qian"], idempotency_key="r03b")
    relations = city.scalars(
        select(InsuranceRelation).where(InsuranceRelation.person_id == city.persons["qian"])
    )
    assert len(relations) == 1
    with pytest.raises(Conflict, match="employee_medical") as info:
        reg.enrol_resident_medical(
            city.ctx, city.ops["clerk_s2"], city.ssns["li"], idempotency_key="r04"
        )
    assert info.value.current == "employee_medical_active"
    done = reg.enrol_resident_medical(
        city.ctx, city.ops["clerk_d"], city.ssns["qian"], idempotency_key="r04"
    )
    assert done.scheme is Scheme.RESIDENT_MEDICAL


# -- R05 ---------------------------------------------------------------------------------


def test_r05_phone_and_address_apply_at_once(city: City) -> None:
    done = reg.change_personal_information(
        city.ctx,
        city.ops["clerk_s1"],
        city.ssns["zhang"],
        phone="13911112222",
        address="枣庄市市中区光明路1号",
        idempotency_key="r05",
    )
    assert (done.applied, done.pending) == (("phone", "address"), ())
    person = city.get(Person, city.persons["zhang"])
    assert (person.phone, person.address) == ("13911112222", "枣庄市市中区光明路1号")
    assert city.journal()[-1].detail == {"applied": ["phone", "address"], "pending": []}
    with pytest.raises(ValidationFailed) as info:
        reg.change_personal_information(
            city.ctx, city.ops["clerk_s1"], city.ssns["zhang"], phone="call me", idempotency_key="p"
        )
    assert info.value.field == "phone"


def test_r05_name_change_waits_for_a_second_operator(city: City) -> None:
    requester = city.ops["clerk_reviewer_t"]
    done = reg.change_personal_information(
        city.ctx, requester, city.ssns["zhang"], name="张三丰", idempotency_key="r05-name"
    )
    (pending,) = done.pending
    assert pending.field is ChangeField.NAME
    assert city.get(Person, city.persons["zhang"]).name == "张三"

    with pytest.raises(PermissionDenied, match="cannot decide"):
        reg.approve_change(city.ctx, requester, pending.change_id, idempotency_key="self")
    with pytest.raises(PermissionDenied, match="reviewer"):
        reg.approve_change(
            city.ctx, city.ops["clerk_t"], pending.change_id, idempotency_key="clerk"
        )
    with pytest.raises(NotFound):  # a reviewer of another district does not see it
        reg.approve_change(
            city.ctx, city.ops["reviewer_x"], pending.change_id, idempotency_key="far"
        )

    decision = reg.approve_change(
        city.ctx, city.ops["reviewer_t"], pending.change_id, idempotency_key="ok"
    )
    assert decision.status is ChangeStatus.APPROVED
    assert city.get(Person, city.persons["zhang"]).name == "张三丰"
    change = city.get(PendingChange, pending.change_id)
    assert change.decided_by_id == city.ops["reviewer_t"].operator_id
    with pytest.raises(Conflict, match="already approved"):
        reg.reject_change(
            city.ctx,
            city.ops["reviewer_t"],
            pending.change_id,
            reason="late",
            idempotency_key="late",
        )
    outcomes = [(e.item, e.outcome) for e in city.journal()[-6:]]
    assert outcomes == [
        (ItemCode.R05, Outcome.OK),
        (ItemCode.R05, Outcome.DENIED),
        (ItemCode.R05, Outcome.DENIED),
        (ItemCode.R05, Outcome.DENIED),
        (ItemCode.R05, Outcome.OK),
        (ItemCode.R05, Outcome.REFUSED),
    ]


def test_r05_ssn_change_rejected_leaves_the_ssn(city: City) -> None:
    new_ssn = make_ssn("37040219900101999")
    done = reg.change_personal_information(
        city.ctx, city.ops["clerk_s1"], city.ssns["zhang"], new_ssn=new_ssn, idempotency_key="s"
    )
    (pending,) = done.pending
    assert pending.field is ChangeField.SSN
    with pytest.raises(Conflict, match="already waiting"):
        reg.change_personal_information(
            city.ctx, city.ops["clerk_t"], city.ssns["zhang"], new_ssn=new_ssn, idempotency_key="t"
        )
    decision = reg.reject_change(
        city.ctx,
        city.ops["reviewer_t"],
        pending.change_id,
        reason="documents do not match",
        idempotency_key="r",
    )
    assert decision.status is ChangeStatus.REJECTED
    assert city.get(Person, city.persons["zhang"]).ssn == city.ssns["zhang"]
    # the journal never holds the full ID numbers
    for entry in city.journal():
        assert new_ssn not in str(entry.detail)
        assert city.ssns["zhang"] not in str(entry.detail)


def test_r05_approved_ssn_change_moves_the_person(city: City) -> None:
    new_ssn = make_ssn("37040219900101888")
    done = reg.change_personal_information(
        city.ctx, city.ops["clerk_s1"], city.ssns["zhang"], new_ssn=new_ssn, idempotency_key="s"
    )
    reg.approve_change(
        city.ctx, city.ops["reviewer_t"], done.pending[0].change_id, idempotency_key="a"
    )
    person = city.get(Person, city.persons["zhang"])
    assert person.ssn == new_ssn


def test_r05_at_a_kiosk_only_the_phone(city: City) -> None:
    assert city.kiosk is not None
    done = reg.change_personal_information(
        city.ctx, city.kiosk, city.presence("zhang"), phone="13700001111", idempotency_key="k1"
    )
    assert done.applied == ("phone",)
    with pytest.raises(PermissionDenied, match="only the phone"):
        reg.change_personal_information(
            city.ctx, city.kiosk, city.presence("zhang"), name="X", idempotency_key="k2"
        )
    assert city.journal()[-1].outcome is Outcome.DENIED
