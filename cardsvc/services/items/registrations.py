"""Registrations and enrolments R01-R05, and the second operator's decision on R05 changes.

Every function here is a write: it takes an ``idempotency_key``.

* R01 employment registration: employer, start date, contract type; closes an open
  unemployment registration.
* R02 unemployment registration: working age, able and willing to work, not employed;
  gives an employment-and-entrepreneurship certificate number. An open employment
  registration is closed by giving ``employment_ended_on`` (the clerk saw the
  termination papers); without it the person counts as employed and is refused. The
  day and, when given, ``separation_reason`` (why it ended: B01 reads it) are
  recorded on the employment registration it closes.
* R03 / R04: resident pension / resident medical enrolment (refused when already
  enrolled, or insured in the matching employee scheme).
* R05: phone and address change at once; a name or ID-number change becomes a
  PendingChange that another operator with the reviewer role approves
  (:func:`approve_change`) or rejects (:func:`reject_change`). At a kiosk: phone only.

A duplicate open registration is refused whichever site or channel sends it: the
service checks first (a specific :class:`Conflict`), and the database's partial unique
index catches a concurrent duplicate (the runner then re-checks and refuses it the
same way).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select

from cardsvc.db.models import (
    ChangeField,
    ChangeStatus,
    ContractType,
    Employer,
    EmploymentStatus,
    InsuranceRelation,
    ItemCode,
    PendingChange,
    Person,
    Registration,
    RegistrationKind,
    RegistrationStatus,
    RelationStatus,
    Role,
    Scheme,
    SeparationReason,
)
from cardsvc.idcheck import is_valid_ssn
from cardsvc.services.actors import Actor, Subject
from cardsvc.services.ages import MIN_WORKING_AGE, age_on, working_age_problem
from cardsvc.services.context import ServiceContext
from cardsvc.services.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from cardsvc.services.queries import active_relation, entitlements, open_registration
from cardsvc.services.runner import Call, run_write
from cardsvc.services.scope import ensure_role, person_in_scope

CREDIT_CODE = re.compile(r"[0-9A-HJ-NPQRTUWXY]{18}")
PHONE = re.compile(r"\+?[0-9][0-9 -]{4,17}[0-9]")
MAX_NAME = 100
MAX_ADDRESS = 200
MAX_REASON = 200
FUTURE_START_DAYS = 31


def _require_bool(field: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise ValidationFailed(field, f"must be true or false, got {value!r}")
    return value


def _require_date(field: str, value: object) -> date:
    if not isinstance(value, date) or isinstance(value, datetime):
        raise ValidationFailed(field, f"must be a date, got {value!r}")
    return value


def _text(field: str, value: object, max_len: int) -> str:
    if not isinstance(value, str):
        raise ValidationFailed(field, f"must be text, got {type(value).__name__}")
    text = value.strip()
    if not text:
        raise ValidationFailed(field, "must not be empty")
    if len(text) > max_len:
        raise ValidationFailed(field, f"at most {max_len} characters, got {len(text)}")
    if any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in text):
        raise ValidationFailed(field, "must not contain control characters")
    return text


# -- R01 employment registration ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EmploymentRegistered:
    registration_id: int
    person_id: int
    employer_credit_code: str
    employer_name: str
    start_date: date
    contract_type: ContractType
    opened_at: datetime
    closed_unemployment_registration_id: int | None
    """The unemployment registration this one closed, if there was one."""


def register_employment(
    ctx: ServiceContext,
    actor: Actor,
    subject: Subject,
    *,
    employer_credit_code: str,
    start_date: date,
    contract_type: ContractType,
    idempotency_key: str,
) -> EmploymentRegistered:
    """R01 (counter): register an employment; closes an open unemployment registration."""

    def body(call: Call) -> EmploymentRegistered:
        if not isinstance(employer_credit_code, str) or not CREDIT_CODE.fullmatch(
            employer_credit_code
        ):
            raise ValidationFailed(
                "employer_credit_code", "a unified social credit code is 18 characters"
            )
        start = _require_date("start_date", start_date)
        try:
            contract = ContractType(contract_type)
        except ValueError:
            choices = ", ".join(c.value for c in ContractType)
            raise ValidationFailed("contract_type", f"one of {choices}") from None
        person = call.person(subject)
        call.lock_person(person)  # before the key check: a same-key twin waits here
        call.idempotent(
            {
                "person": person.id,
                "employer": employer_credit_code,
                "start": start,
                "contract": contract,
            }
        )
        employer = call.session.execute(
            select(Employer).where(Employer.credit_code == employer_credit_code)
        ).scalar_one_or_none()
        if employer is None:
            raise ValidationFailed("employer_credit_code", "no employer with this code is recorded")
        if age_on(person.birth_date, start) < MIN_WORKING_AGE:
            raise ValidationFailed(
                "start_date", f"before the person's {MIN_WORKING_AGE}th birthday"
            )
        if (start - call.today).days > FUTURE_START_DAYS:
            raise ValidationFailed(
                "start_date", f"more than {FUTURE_START_DAYS} days ahead: register nearer the start"
            )
        existing = open_registration(call.session, person.id, RegistrationKind.EMPLOYMENT)
        if existing is not None:
            raise Conflict(
                f"the person already has an open employment registration "
                f"(registration {existing.id}, since {existing.opened_at.date().isoformat()})",
                current="employed",
            )
        unemployment = open_registration(call.session, person.id, RegistrationKind.UNEMPLOYMENT)
        if unemployment is not None:
            unemployment.status = RegistrationStatus.CLOSED
            unemployment.closed_at = call.now
        registration = Registration(
            person_id=person.id,
            kind=RegistrationKind.EMPLOYMENT,
            status=RegistrationStatus.OPEN,
            site_code=actor.site_code,
            opened_at=call.now,
            employer_id=employer.id,
            start_date=start,
            contract_type=contract,
        )
        call.session.add(registration)
        person.employment_status = EmploymentStatus.EMPLOYED
        call.session.flush()
        closed_id = unemployment.id if unemployment is not None else None
        call.note(registration=registration.id, closed=closed_id)
        return EmploymentRegistered(
            registration_id=registration.id,
            person_id=person.id,
            employer_credit_code=employer.credit_code,
            employer_name=employer.name,
            start_date=start,
            contract_type=contract,
            opened_at=call.now,
            closed_unemployment_registration_id=closed_id,
        )

    return run_write(
        ctx, actor, ItemCode.R01, body, key=idempotency_key, result_type=EmploymentRegistered
    )


# -- R02 unemployment registration ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class UnemploymentRegistered:
    registration_id: int
    person_id: int
    certificate_no: str
    """The employment-and-entrepreneurship certificate number (就业创业证)."""
    opened_at: datetime
    closed_employment_registration_id: int | None


def certificate_number(site_code: str, day: date, registration_id: int) -> str:
    """``SITE-YYYY-NNNNNN``: unique because the registration id is."""
    return f"{site_code}-{day.year:04d}-{registration_id:06d}"


def register_unemployment(
    ctx: ServiceContext,
    actor: Actor,
    subject: Subject,
    *,
    able_to_work: bool,
    willing_to_work: bool,
    employment_ended_on: date | None = None,
    separation_reason: SeparationReason | None = None,
    idempotency_key: str,
) -> UnemploymentRegistered:
    """R02 (counter, kiosk): register as unemployed and get a certificate number."""

    def body(call: Call) -> UnemploymentRegistered:
        able = _require_bool("able_to_work", able_to_work)
        willing = _require_bool("willing_to_work", willing_to_work)
        ended = (
            None
            if employment_ended_on is None
            else _require_date("employment_ended_on", employment_ended_on)
        )
        reason = _separation_reason(separation_reason)
        if reason is not None and ended is None:
            raise ValidationFailed(
                "separation_reason",
                "give it with employment_ended_on, the day the employment ended",
            )
        person = call.person(subject)
        call.lock_person(person)  # before the key check: a same-key twin waits here
        fingerprint: dict[str, object] = {
            "person": person.id,
            "able": able,
            "willing": willing,
            "ended": ended,
        }
        if reason is not None:  # absent from the fingerprint when not given, as before
            fingerprint["reason"] = reason
        call.idempotent(fingerprint)
        if not able:
            raise ValidationFailed("able_to_work", "registration needs a person able to work")
        if not willing:
            raise ValidationFailed("willing_to_work", "registration needs a person willing to work")
        if ended is not None and ended > call.today:
            raise ValidationFailed("employment_ended_on", "lies in the future")
        problem = working_age_problem(person, call.today)
        if problem is not None:
            raise Conflict(f"not of working age: {problem}", current="not_working_age")
        if person.employment_status is EmploymentStatus.RETIRED:
            raise Conflict("the person is recorded as retired", current="retired")
        existing = open_registration(call.session, person.id, RegistrationKind.UNEMPLOYMENT)
        if existing is not None:
            raise Conflict(
                f"the person is already registered unemployed "
                f"(certificate {existing.certificate_no}, site {existing.site_code})",
                current="registered_unemployed",
            )
        employment = open_registration(call.session, person.id, RegistrationKind.EMPLOYMENT)
        if employment is not None:
            if ended is None:
                raise Conflict(
                    "the person has an open employment registration: give the day the "
                    "employment ended (employment_ended_on)",
                    current="employed",
                )
            if employment.start_date is not None and ended < employment.start_date:
                raise ValidationFailed(
                    "employment_ended_on",
                    f"before the employment started ({employment.start_date.isoformat()})",
                )
            employment.status = RegistrationStatus.CLOSED
            employment.closed_at = call.now
            employment.end_date = ended
            employment.separation_reason = reason
        elif reason is not None:
            raise ValidationFailed(
                "separation_reason",
                "the person has no open employment registration to record it on: omit it",
            )
        elif person.employment_status is EmploymentStatus.EMPLOYED and ended is None:
            raise Conflict(
                "the person is recorded as employed: give the day the employment ended "
                "(employment_ended_on)",
                current="employed",
            )
        registration = Registration(
            person_id=person.id,
            kind=RegistrationKind.UNEMPLOYMENT,
            status=RegistrationStatus.OPEN,
            site_code=actor.site_code,
            opened_at=call.now,
            certificate_no="pending",
        )
        call.session.add(registration)
        call.session.flush()
        registration.certificate_no = certificate_number(
            actor.site_code, call.today, registration.id
        )
        person.employment_status = EmploymentStatus.UNEMPLOYED
        call.session.flush()
        closed_id = employment.id if employment is not None else None
        call.note(registration=registration.id, certificate=registration.certificate_no)
        return UnemploymentRegistered(
            registration_id=registration.id,
            person_id=person.id,
            certificate_no=registration.certificate_no,
            opened_at=call.now,
            closed_employment_registration_id=closed_id,
        )

    return run_write(
        ctx, actor, ItemCode.R02, body, key=idempotency_key, result_type=UnemploymentRegistered
    )


def _separation_reason(value: object) -> SeparationReason | None:
    if value is None:
        return None
    try:
        return SeparationReason(value)  # type: ignore[arg-type]
    except ValueError:
        choices = ", ".join(r.value for r in SeparationReason)
        raise ValidationFailed("separation_reason", f"one of {choices}") from None


# -- R03 / R04 resident enrolments ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class Enrolled:
    relation_id: int
    person_id: int
    scheme: Scheme
    start_date: date


def _enrol(
    ctx: ServiceContext,
    actor: Actor,
    subject: Subject,
    *,
    item: ItemCode,
    scheme: Scheme,
    employee_scheme: Scheme,
    start_date: date | None,
    idempotency_key: str,
) -> Enrolled:
    def body(call: Call) -> Enrolled:
        start = call.today if start_date is None else _require_date("start_date", start_date)
        person = call.person(subject)
        call.lock_person(person)  # before the key check: a same-key twin waits here
        call.idempotent({"person": person.id, "start": start})
        if start < person.birth_date:
            raise ValidationFailed("start_date", "before the person's birth date")
        if active_relation(call.session, person.id, scheme) is not None:
            raise Conflict(f"the person is already enrolled in {scheme.value}", current="enrolled")
        if active_relation(call.session, person.id, employee_scheme) is not None:
            raise Conflict(
                f"the person is insured in {employee_scheme.value}; {scheme.value} is for "
                "residents without it",
                current=f"{employee_scheme.value}_active",
            )
        if scheme is Scheme.RESIDENT_PENSION:
            if age_on(person.birth_date, start) < MIN_WORKING_AGE:
                raise Conflict(
                    f"resident pension enrolment starts at {MIN_WORKING_AGE}",
                    current="under_age",
                )
            if any(
                e.scheme is Scheme.RESIDENT_PENSION for e in entitlements(call.session, person.id)
            ):
                raise Conflict("the person already draws the resident pension", current="drawing")
        relation = InsuranceRelation(
            person_id=person.id,
            scheme=scheme,
            status=RelationStatus.ACTIVE,
            start_date=start,
        )
        call.session.add(relation)
        call.session.flush()
        call.note(relation=relation.id)
        return Enrolled(relation.id, person.id, scheme, start)

    return run_write(ctx, actor, item, body, key=idempotency_key, result_type=Enrolled)


def enrol_resident_pension(
    ctx: ServiceContext,
    actor: Actor,
    subject: Subject,
    *,
    start_date: date | None = None,
    idempotency_key: str,
) -> Enrolled:
    """R03 (counter): enrol in the resident pension (城乡居民基本养老); start defaults to today."""
    return _enrol(
        ctx,
        actor,
        subject,
        item=ItemCode.R03,
        scheme=Scheme.RESIDENT_PENSION,
        employee_scheme=Scheme.EMPLOYEE_PENSION,
        start_date=start_date,
        idempotency_key=idempotency_key,
    )


def enrol_resident_medical(
    ctx: ServiceContext,
    actor: Actor,
    subject: Subject,
    *,
    start_date: date | None = None,
    idempotency_key: str,
) -> Enrolled:
    """R04 (counter): enrol in the resident medical insurance; start defaults to today."""
    return _enrol(
        ctx,
        actor,
        subject,
        item=ItemCode.R04,
        scheme=Scheme.RESIDENT_MEDICAL,
        employee_scheme=Scheme.EMPLOYEE_MEDICAL,
        start_date=start_date,
        idempotency_key=idempotency_key,
    )


# -- R05 personal information change --------------------------------------------------


@dataclass(frozen=True, slots=True)
class PendingChangeRef:
    change_id: int
    field: ChangeField


@dataclass(frozen=True, slots=True)
class PersonalInfoChanged:
    person_id: int
    applied: tuple[str, ...]
    """Fields changed at once ("phone", "address")."""
    pending: tuple[PendingChangeRef, ...]
    """Name / ID-number changes waiting for a reviewer."""


def change_personal_information(
    ctx: ServiceContext,
    actor: Actor,
    subject: Subject,
    *,
    phone: str | None = None,
    address: str | None = None,
    name: str | None = None,
    new_ssn: str | None = None,
    idempotency_key: str,
) -> PersonalInfoChanged:
    """R05: phone/address at once; name/ID number wait for a reviewer. Kiosk: phone only."""

    def body(call: Call) -> PersonalInfoChanged:
        if call.is_kiosk and (address is not None or name is not None or new_ssn is not None):
            raise PermissionDenied("at a kiosk only the phone number can be changed")
        if phone is None and address is None and name is None and new_ssn is None:
            raise ValidationFailed("change", "give at least one of phone, address, name, new_ssn")
        new_phone = None if phone is None else _phone(phone)
        new_address = None if address is None else _text("address", address, MAX_ADDRESS)
        new_name = None if name is None else _text("name", name, MAX_NAME)
        if new_ssn is not None and (not isinstance(new_ssn, str) or not is_valid_ssn(new_ssn)):
            raise ValidationFailed(
                "new_ssn", "not a valid ID number (18 characters: 17 digits and a check character)"
            )
        person = call.person(subject)
        call.lock_person(person)  # before the key check: a same-key twin waits here
        call.idempotent(
            {
                "person": person.id,
                "phone": new_phone,
                "address": new_address,
                "name": new_name,
                "new_ssn": new_ssn,
            }
        )
        if new_name is not None and new_name == person.name:
            raise ValidationFailed("name", "is the name already recorded")
        if new_ssn is not None:
            if new_ssn == person.ssn:
                raise ValidationFailed("new_ssn", "is the ID number already recorded")
            _ensure_ssn_free(call, new_ssn, person.id)
        requests: list[tuple[ChangeField, str, str]] = []
        if new_name is not None:
            requests.append((ChangeField.NAME, person.name, new_name))
        if new_ssn is not None:
            requests.append((ChangeField.SSN, person.ssn, new_ssn))
        for field, _old, _new in requests:
            waiting = call.session.execute(
                select(PendingChange.id).where(
                    PendingChange.person_id == person.id,
                    PendingChange.field == field,
                    PendingChange.status == ChangeStatus.PENDING,
                )
            ).scalar_one_or_none()
            if waiting is not None:
                raise Conflict(
                    f"a {field.value} change is already waiting for approval (change {waiting})",
                    current="pending",
                )
        applied: list[str] = []
        if new_phone is not None:
            person.phone = new_phone
            applied.append("phone")
        if new_address is not None:
            person.address = new_address
            applied.append("address")
        operator_id = call.operator_id
        pending: list[PendingChangeRef] = []
        for field, old, new in requests:
            if operator_id is None:  # pragma: no cover - kiosks were refused above
                raise PermissionDenied("only an operator can request a name or ID-number change")
            change = PendingChange(
                person_id=person.id,
                field=field,
                old_value=old,
                new_value=new,
                status=ChangeStatus.PENDING,
                requested_by_id=operator_id,
                requested_at=call.now,
            )
            call.session.add(change)
            call.session.flush()
            pending.append(PendingChangeRef(change.id, field))
        call.session.flush()
        call.note(applied=applied, pending=[p.change_id for p in pending])
        return PersonalInfoChanged(person.id, tuple(applied), tuple(pending))

    return run_write(
        ctx, actor, ItemCode.R05, body, key=idempotency_key, result_type=PersonalInfoChanged
    )


def _phone(value: object) -> str:
    if not isinstance(value, str) or not PHONE.fullmatch(value.strip()):
        raise ValidationFailed("phone", "6-20 digits, spaces or dashes, optionally starting with +")
    return value.strip()


def _ensure_ssn_free(call: Call, ssn: str, person_id: int) -> None:
    other = call.session.execute(
        select(Person.id).where(Person.ssn == ssn, Person.id != person_id)
    ).scalar_one_or_none()
    if other is not None:
        raise Conflict("the new ID number is already recorded for another person", current="taken")


# -- the reviewer's decision ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChangeDecision:
    change_id: int
    person_id: int
    field: ChangeField
    status: ChangeStatus
    decided_at: datetime


def approve_change(
    ctx: ServiceContext, actor: Actor, change_id: int, *, idempotency_key: str
) -> ChangeDecision:
    """R05, second step: a reviewer (not the requester) applies a name/ID-number change."""
    return _decide(
        ctx,
        actor,
        change_id,
        decision=ChangeStatus.APPROVED,
        reason=None,
        idempotency_key=idempotency_key,
    )


def reject_change(
    ctx: ServiceContext, actor: Actor, change_id: int, *, reason: str, idempotency_key: str
) -> ChangeDecision:
    """R05, second step: a reviewer (not the requester) rejects a change, saying why."""
    return _decide(
        ctx,
        actor,
        change_id,
        decision=ChangeStatus.REJECTED,
        reason=reason,
        idempotency_key=idempotency_key,
    )


def _decide(
    ctx: ServiceContext,
    actor: Actor,
    change_id: int,
    *,
    decision: ChangeStatus,
    reason: str | None,
    idempotency_key: str,
) -> ChangeDecision:
    def allowed(who: Actor) -> None:
        ensure_role(who, Role.REVIEWER, "deciding an R05 name/ID-number change")

    def body(call: Call) -> ChangeDecision:
        if not isinstance(change_id, int) or isinstance(change_id, bool):
            raise ValidationFailed("change_id", "must be an integer")
        why = None if reason is None else _text("reason", reason, MAX_REASON)
        change = call.session.execute(
            select(PendingChange).where(PendingChange.id == change_id).with_for_update()
        ).scalar_one_or_none()
        if change is None:
            raise NotFound("change")
        person = call.session.get(Person, change.person_id)
        if person is None:  # pragma: no cover - a foreign key guarantees it
            raise NotFound("change")
        call.person_id = person.id
        if not person_in_scope(call.actor, person, call.scope, None):
            call.out_of_scope = True
            raise NotFound("change")
        call.idempotent({"change": change.id, "decision": decision, "reason": why})
        if change.requested_by_id == call.operator_id:
            raise PermissionDenied("the operator who entered a change cannot decide it")
        if change.status is not ChangeStatus.PENDING:
            raise Conflict(
                f"change {change.id} was already {change.status.value}",
                current=change.status.value,
            )
        call.lock_person(person)
        if decision is ChangeStatus.APPROVED:
            if change.field is ChangeField.NAME:
                person.name = change.new_value
            else:
                _ensure_ssn_free(call, change.new_value, person.id)
                person.ssn = change.new_value
        change.status = decision
        change.decided_by_id = call.operator_id
        change.decided_at = call.now
        change.reason = why
        call.session.flush()
        call.note(change=change.id, field=change.field, decision=decision)
        return ChangeDecision(change.id, person.id, change.field, decision, call.now)

    return run_write(
        ctx,
        actor,
        ItemCode.R05,
        body,
        key=idempotency_key,
        result_type=ChangeDecision,
        allowed=allowed,
    )
