"""E01-E05, scope (site subtree, card presence), kiosk rules and journaling of reads."""

from __future__ import annotations

from dataclasses import replace

import pytest
from services_city import STATION1, T0, City
from sqlalchemy import select

from cardsvc.db.models import (
    CardState,
    EmploymentStatus,
    ItemCode,
    Outcome,
    Person,
    RegistrationKind,
    RelationStatus,
    Scheme,
)
from cardsvc.rules.months import YearMonth
from cardsvc.services.actors import CardPresence
from cardsvc.services.context import ServiceContext
from cardsvc.services.errors import NotFound, PermissionDenied, ValidationFailed
from cardsvc.services.items import benefits, cards, enquiries, registrations
from cardsvc.services.person_records import PersonRecord, card_and_holder, person_by_ssn
from cardsvc.services.views import person_summary


def test_e01_lists_participation_and_journals_one_entry(city: City) -> None:
    clerk = city.ops["clerk_s1"]
    before = len(city.journal())

    result = enquiries.insurance_participation(city.ctx, clerk, city.ssns["zhang"])

    assert result.person.person_id == city.persons["zhang"]
    assert result.person.ssn == city.ssns["zhang"]  # a clerk sees the full SSN
    assert {r.scheme for r in result.relations} == {
        Scheme.EMPLOYEE_PENSION,
        Scheme.UNEMPLOYMENT,
        Scheme.EMPLOYEE_MEDICAL,
    }
    assert all(r.status is RelationStatus.ENDED for r in result.relations)
    assert result.relations[0].employer_name == "枣庄机械厂"
    entries = city.journal()
    assert len(entries) == before + 1
    entry = entries[-1]
    assert entry.item is ItemCode.E01
    assert entry.outcome is Outcome.OK
    assert entry.site_code == STATION1
    assert entry.operator_id == clerk.operator_id
    assert entry.device_id is None
    assert entry.person_id == city.persons["zhang"]
    assert entry.card_number is None
    assert entry.at == T0
    assert entry.detail == {"rows": 3}


def test_e02_pages_newest_first_with_total(city: City) -> None:
    clerk = city.ops["clerk_s1"]
    first = enquiries.contribution_history(
        city.ctx, clerk, city.ssns["zhang"], scheme=Scheme.UNEMPLOYMENT, limit=10
    )
    assert first.total == 24
    assert [line.month for line in first.lines[:2]] == [YearMonth(2024, 12), YearMonth(2024, 11)]
    assert len(first.lines) == 10
    last = enquiries.contribution_history(
        city.ctx, clerk, city.ssns["zhang"], scheme=Scheme.UNEMPLOYMENT, limit=10, offset=20
    )
    assert [line.month for line in last.lines] == [
        YearMonth(2023, 4),
        YearMonth(2023, 3),
        YearMonth(2023, 2),
        YearMonth(2023, 1),
    ]
    everything = enquiries.contribution_history(city.ctx, clerk, city.ssns["zhang"], limit=200)
    assert everything.total == 72
    with pytest.raises(ValidationFailed) as info:
        enquiries.contribution_history(city.ctx, clerk, city.ssns["zhang"], limit=0)
    assert info.value.field == "limit"
    entry = city.journal()[-1]
    assert (entry.item, entry.outcome) == (ItemCode.E02, Outcome.REFUSED)
    assert entry.detail["error"] == "ValidationFailed"


def test_e03_yearly_balances_and_uncredited(city: City) -> None:
    account = enquiries.personal_account(city.ctx, city.ops["clerk_s1"], city.ssns["zhang"])
    assert [y.year for y in account.years] == [2023, 2024]
    assert account.balance_fen == 989_979
    assert account.uncredited_fen == 0


def test_e04_benefit_payments_after_back_pay(city: City) -> None:
    benefits.certify_pension_qualification(
        city.ctx,
        city.ops["clerk_t"],
        city.ssns["zhao"],
        idempotency_key="b02-zhao",
        id_checked=True,
    )
    page = enquiries.benefit_payments(city.ctx, city.ops["clerk_t"], city.ssns["zhao"], limit=2)
    assert page.total == 4  # 2024-12 .. 2025-03
    assert page.total_amount_fen == 4 * 300_000
    assert [line.month for line in page.lines] == [YearMonth(2025, 3), YearMonth(2025, 2)]
    empty = enquiries.benefit_payments(city.ctx, city.ops["clerk_s1"], city.ssns["zhang"])
    assert (empty.total, empty.lines) == (0, ())


def test_e05_shows_open_registrations(city: City) -> None:
    clerk = city.ops["clerk_s1"]
    before = enquiries.employment_status(city.ctx, clerk, city.ssns["zhang"])
    assert before.open_registrations == ()
    registrations.register_unemployment(
        city.ctx,
        clerk,
        city.ssns["zhang"],
        able_to_work=True,
        willing_to_work=True,
        idempotency_key="r02-zhang",
    )
    after = enquiries.employment_status(city.ctx, clerk, city.ssns["zhang"])
    assert after.employment_status is EmploymentStatus.UNEMPLOYED
    (open_reg,) = after.open_registrations
    assert open_reg.kind is RegistrationKind.UNEMPLOYMENT
    assert open_reg.certificate_no is not None


# -- scope -------------------------------------------------------------------------------


def test_operator_of_another_district_gets_not_found_and_no_data(city: City) -> None:
    outsider = city.ops["clerk_x"]
    with pytest.raises(NotFound) as info:
        enquiries.insurance_participation(city.ctx, outsider, city.ssns["zhang"])
    message = str(info.value)
    assert city.ssns["zhang"] not in message
    assert "张三" not in message
    # indistinguishable from a person who does not exist
    with pytest.raises(NotFound) as missing:
        enquiries.insurance_participation(city.ctx, outsider, "110101199003074477")
    assert str(missing.value) == message
    denied, refused = city.journal()[-2:]
    assert (denied.outcome, denied.person_id) == (Outcome.DENIED, city.persons["zhang"])
    assert (refused.outcome, refused.person_id) == (Outcome.REFUSED, None)
    assert denied.site_code == outsider.site_code


READS = [
    (ItemCode.E01, enquiries.insurance_participation),
    (ItemCode.E02, enquiries.contribution_history),
    (ItemCode.E03, enquiries.personal_account),
    (ItemCode.E04, enquiries.benefit_payments),
    (ItemCode.E05, enquiries.employment_status),
    (ItemCode.B01, benefits.unemployment_benefit_eligibility),
    (ItemCode.B03, benefits.retirement_eligibility),
    (ItemCode.B04, benefits.medical_insurance_status),
]


def test_every_read_is_journaled_once_and_refused_out_of_scope(city: City) -> None:
    clerk, outsider = city.ops["clerk_s1"], city.ops["clerk_x"]
    for item, read in READS:
        before = len(city.journal())
        read(city.ctx, clerk, city.ssns["zhang"])  # type: ignore[operator]
        with pytest.raises(NotFound):
            read(city.ctx, outsider, city.ssns["zhang"])  # type: ignore[operator]
        ok, denied = city.journal()[before:]
        assert (ok.item, ok.outcome, ok.operator_id, ok.site_code) == (
            item,
            Outcome.OK,
            clerk.operator_id,
            STATION1,
        )
        assert (denied.item, denied.outcome, denied.operator_id, denied.site_code) == (
            item,
            Outcome.DENIED,
            outsider.operator_id,
            outsider.site_code,
        )
        assert ok.person_id == denied.person_id == city.persons["zhang"]
        assert ok.at == denied.at == T0


def test_operator_of_a_parent_site_sees_the_person(city: City) -> None:
    for name in ("clerk_t", "clerk_d", "sup_city"):
        result = enquiries.employment_status(city.ctx, city.ops[name], city.ssns["zhang"])
        assert result.person.person_id == city.persons["zhang"]
    with pytest.raises(NotFound):  # a sibling station is not above the person's site
        enquiries.employment_status(city.ctx, city.ops["clerk_s2"], city.ssns["zhang"])


def test_any_operator_sees_the_person_of_a_presented_card(city: City) -> None:
    outsider = city.ops["clerk_x"]
    result = enquiries.insurance_participation(
        city.ctx, outsider, city.presence("zhang", pin=False)
    )
    assert result.person.ssn == city.ssns["zhang"]
    entry = city.journal()[-1]
    assert entry.card_number == city.cards["zhang"]
    assert entry.outcome is Outcome.OK


def test_a_presence_for_someone_else_grants_nothing(city: City) -> None:
    forged = CardPresence(city.cards["wang"], city.persons["zhang"], pin_verified=True)
    with pytest.raises(NotFound):
        enquiries.insurance_participation(city.ctx, city.ops["clerk_x"], forged)


def test_refusals_of_bad_input_and_of_callers_without_business(city: City) -> None:
    with pytest.raises(ValidationFailed) as info:
        enquiries.insurance_participation(city.ctx, city.ops["clerk_s1"], "370402199001011230")
    assert info.value.field == "ssn"
    with pytest.raises(PermissionDenied):
        enquiries.insurance_participation(city.ctx, city.ops["admin"], city.ssns["zhang"])
    entry = city.journal()[-1]
    assert (entry.outcome, entry.person_id) == (Outcome.DENIED, None)
    assert city.counter_device is not None
    with pytest.raises(PermissionDenied, match="operator"):
        enquiries.employment_status(city.ctx, city.counter_device, city.presence("zhang"))


# -- kiosk -------------------------------------------------------------------------------


def test_kiosk_with_verified_pin_sees_masked_ssn(city: City) -> None:
    assert city.kiosk is not None
    result = enquiries.insurance_participation(city.ctx, city.kiosk, city.presence("wang"))
    ssn = city.ssns["wang"]
    assert result.person.ssn == ssn[:6] + "********" + ssn[-4:]
    entry = city.journal()[-1]
    assert entry.device_id == city.kiosk.device_id
    assert entry.operator_id is None
    assert entry.card_number == city.cards["wang"]


def test_kiosk_enquiry_refused_for_a_hotlisted_card(city: City) -> None:
    assert city.kiosk is not None
    zhang = city.cards["zhang"]
    cards.report_temporary_loss(city.ctx, city.ops["clerk_s1"], zhang, idempotency_key="l1")
    with pytest.raises(PermissionDenied, match="hotlist"):
        enquiries.contribution_history(city.ctx, city.kiosk, city.presence("zhang"))
    entry = city.journal()[-1]
    assert (entry.item, entry.outcome, entry.card_number) == (ItemCode.E02, Outcome.DENIED, zhang)


def test_an_enquiry_reads_the_person_a_write_loads(city: City) -> None:
    """Enquiries read the person as values (Call.person_record), writes as an ORM entity:
    the summary is the same either way, by SSN and by card."""
    clerk = city.ops["clerk_s1"]
    with city.db.read_only_unit_of_work() as uow:
        person = uow.session.execute(
            select(Person).where(Person.ssn == city.ssns["zhang"])
        ).scalar_one()
        expected = person_summary(clerk, person)
    by_ssn = enquiries.contribution_history(city.ctx, clerk, city.ssns["zhang"])
    by_card = enquiries.contribution_history(city.ctx, clerk, city.presence("zhang"))
    assert by_ssn.person == by_card.person == expected


def test_a_presence_read_with_its_session_is_not_read_again(city: City) -> None:
    """A CardPresence carrying its card and holder (the API's bearer lookup reads them with
    the card session) is used as it is: its values answer, its card state decides."""
    assert city.kiosk is not None
    presence = city.presence("zhang")
    with city.db.read_only_unit_of_work() as uow:
        found = card_and_holder(uow.session.connection(), presence.card_number)
    assert found is not None
    card, holder = found
    renamed = replace(holder, name="read with the session")
    read = replace(presence, read=(card, renamed))
    answer = enquiries.contribution_history(city.ctx, city.kiosk, read)
    assert answer.person.name == "read with the session"
    lost = replace(presence, read=(replace(card, state=CardState.LOST), holder))
    with pytest.raises(PermissionDenied, match="hotlist"):
        enquiries.contribution_history(city.ctx, city.kiosk, lost)
    other = replace(presence, read=(replace(card, person_id=card.person_id + 1), holder))
    with pytest.raises(NotFound):  # a read for another person is no read of this card
        enquiries.contribution_history(city.ctx, city.kiosk, other)


def test_a_person_read_with_the_caller_is_not_read_again(city: City) -> None:
    """ServiceContext.known_persons (the API reads an enquiry's person with its bearer
    lookup) is used as it is, and the enquiry's checks still apply to it."""
    clerk = city.ops["clerk_s1"]
    ssn = city.ssns["zhang"]
    with city.db.read_only_unit_of_work() as uow:
        record = person_by_ssn(uow.session.connection(), ssn)
    assert record is not None

    def knowing(known: PersonRecord | None) -> ServiceContext:
        return replace(city.ctx, known_persons={ssn: known})

    renamed = knowing(replace(record, name="read with the caller"))
    answer = enquiries.contribution_history(renamed, clerk, ssn)
    assert answer.person.name == "read with the caller"
    with pytest.raises(NotFound):  # read: no such person
        enquiries.contribution_history(knowing(None), clerk, ssn)
    elsewhere = knowing(replace(record, residence_site_code="370499"))
    with pytest.raises(NotFound):  # out of the clerk's scope, as read
        enquiries.contribution_history(elsewhere, clerk, ssn)
    assert city.journal()[-1].outcome is Outcome.DENIED


def test_kiosk_needs_the_card_and_its_pin(city: City) -> None:
    assert city.kiosk is not None
    with pytest.raises(PermissionDenied, match="PIN"):
        enquiries.employment_status(city.ctx, city.kiosk, city.presence("zhang", pin=False))
    assert city.journal()[-1].outcome is Outcome.DENIED
    with pytest.raises(PermissionDenied, match="card in it"):
        enquiries.employment_status(city.ctx, city.kiosk, city.ssns["zhang"])
