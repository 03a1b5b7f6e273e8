"""Values shared by several items: the person summary and ID-number masking."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from cardsvc.db.models import EmploymentStatus, Sex
from cardsvc.idcheck import mask_ssn
from cardsvc.services.actors import Actor, DeviceActor
from cardsvc.services.person_records import PersonFacts


def ssn_for(actor: Actor, ssn: str) -> str:
    """The SSN as `actor` may see it: masked for kiosks, in full for operators."""
    return mask_ssn(ssn) if isinstance(actor, DeviceActor) else ssn


@dataclass(frozen=True, slots=True)
class PersonSummary:
    """Who an answer is about. `ssn` is masked when the caller is a kiosk."""

    person_id: int
    ssn: str
    name: str
    sex: Sex
    birth_date: date
    residence_site_code: str
    employment_status: EmploymentStatus
    phone: str | None


def person_summary(actor: Actor, person: PersonFacts) -> PersonSummary:
    return PersonSummary(
        person_id=person.id,
        ssn=ssn_for(actor, person.ssn),
        name=person.name,
        sex=person.sex,
        birth_date=person.birth_date,
        residence_site_code=person.residence_site_code,
        employment_status=person.employment_status,
        phone=person.phone if not isinstance(actor, DeviceActor) else _mask_phone(person.phone),
    )


def _mask_phone(phone: str | None) -> str | None:
    if phone is None or len(phone) <= 4:
        return phone
    return "*" * (len(phone) - 4) + phone[-4:]
