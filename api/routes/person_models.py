"""Request and response bodies of the person routes (enquiries, registrations, benefits).

Responses are built from the services' result values with ``Model.of(result)``
(pydantic reads the frozen dataclasses' attributes). Conventions:

- money in fen (integers, 1 yuan = 100 fen);
- months as ``YYYYMM`` strings (the domain's form), dates as ``YYYY-MM-DD``, times UTC;
- ``ssn`` is masked (``370402********1238``) when the caller is a kiosk: ``ssn_masked``
  says so;
- every eligibility answer carries the ``rule`` that decided and the ``reasons``.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, StrictBool, computed_field, field_validator
from pydantic_core import to_json

from api.routes.params import IsoDate
from cardsvc.db.models import (
    Benefit,
    ChangeField,
    ChangeStatus,
    ContractType,
    EmploymentStatus,
    RegistrationKind,
    RegistrationStatus,
    RelationStatus,
    RetirementCategory,
    Scheme,
    SeparationReason,
    Sex,
)
from cardsvc.rules.certification import CertificationState
from cardsvc.rules.months import YearMonth
from cardsvc.services.items.enquiries import ContributionPage

MONTH_PATTERN = r"^[0-9]{4}(0[1-9]|1[0-2])$"
CREDIT_CODE_PATTERN = r"^[0-9A-HJ-NPQRTUWXY]{18}$"
_NO_CONTROL_CHARACTERS = r"^[^\x00-\x1f\x7f-\x9f]*$"


class Out(BaseModel):
    """Base of the response bodies: read from a service result's attributes."""

    model_config = ConfigDict(from_attributes=True)

    @classmethod
    def of(cls, value: Any) -> Self:
        return cls.model_validate(value, from_attributes=True)


def _month(value: object) -> object:
    return value.format() if isinstance(value, YearMonth) else value


# --------------------------------------------------------------------------- the person


class PersonOut(Out):
    """Who an answer is about (the person summary)."""

    person_id: int = Field(description="the service's internal id of the person")
    ssn: str = Field(
        description="the social security number; masked (first 6 and last 4 shown) for kiosks"
    )
    name: str
    sex: Sex
    birth_date: date
    residence_site_code: str = Field(description="the site the person belongs to")
    employment_status: EmploymentStatus
    phone: str | None = Field(description="masked (last 4 digits shown) for kiosks")

    @computed_field(description="true when `ssn` is masked (the caller is a kiosk)")  # type: ignore[prop-decorator]
    @property
    def ssn_masked(self) -> bool:
        return "*" in self.ssn


class Page(BaseModel):
    """Offset pagination of a growing list: ask again with ``offset=next_offset``."""

    total: int = Field(description="rows matching the filter, over every page")
    limit: int
    offset: int
    next_offset: int | None = Field(description="offset of the next page; null on the last")

    @classmethod
    def of(cls, total: int, limit: int, offset: int, shown: int) -> Page:
        following = offset + shown
        return cls(
            total=total,
            limit=limit,
            offset=offset,
            next_offset=following if shown and following < total else None,
        )


# --------------------------------------------------------------------------- E01-E05


class ParticipationOut(Out):
    scheme: Scheme
    status: RelationStatus
    start_date: date
    end_date: date | None
    employer_name: str | None


class InsuranceOut(Out):
    """E01: every insurance relation, active ones first."""

    person: PersonOut
    relations: list[ParticipationOut]


class ContributionOut(Out):
    month: str = Field(pattern=MONTH_PATTERN, description="YYYYMM", examples=["202403"])
    scheme: Scheme
    base_fen: int
    employer_part_fen: int
    personal_part_fen: int
    employer_name: str | None
    paid_on: date | None = Field(
        default=None,
        description="the day the contribution was paid, where recorded (the yearly resident "
        "schemes); null otherwise",
    )

    @field_validator("month", mode="before")
    @classmethod
    def month_as_text(cls, value: object) -> object:
        return _month(value)


class ContributionsOut(BaseModel):
    """E02: monthly contributions, newest month first (within a month by scheme)."""

    person: PersonOut
    scheme: Scheme | None = Field(description="the filter asked for (null: every scheme)")
    contributions: list[ContributionOut]
    page: Page


def contributions_json(page: ContributionPage) -> bytes:
    """The JSON of :class:`ContributionsOut` for `page`, its lines serialised unvalidated.

    A page's lines are most of an E02 answer, and validating them through
    ``ContributionOut`` (with ``from_attributes``) was about 80 µs of every answer's
    ~2.4 ms of server CPU, spent re-checking values the service already typed
    (``ContributionLine``: a ``YearMonth``, a ``Scheme``, integers, a date). The lines
    go to JSON as plain values here; the person and the page still go through their
    models. tests/api/persons/test_person_models.py holds this to the model's own JSON.
    """
    lines = [
        {
            "month": line.month.format(),
            "scheme": line.scheme.value,  # (an enum member costs pydantic-core 4x more)
            "base_fen": line.base_fen,
            "employer_part_fen": line.employer_part_fen,
            "personal_part_fen": line.personal_part_fen,
            "employer_name": line.employer_name,
            "paid_on": line.paid_on,
        }
        for line in page.lines
    ]
    answer = {
        "person": PersonOut.of(page.person),
        "scheme": None if page.scheme is None else page.scheme.value,
        "contributions": lines,
        "page": Page.of(page.total, page.limit, page.offset, len(page.lines)),
    }
    return to_json(answer, by_alias=True)


class AccountYearOut(Out):
    year: int
    opening_fen: int
    credited_fen: int
    interest_rate: str = Field(
        description='the year\'s credited interest rate as a decimal fraction: "0.0612" is 6.12 %',
        examples=["0.0397"],
    )
    interest_fen: int
    closing_fen: int

    @field_validator("interest_rate", mode="before")
    @classmethod
    def rate_as_text(cls, value: object) -> object:
        return format(value.normalize(), "f") if isinstance(value, Decimal) else value


class AccountOut(Out):
    """E03: the personal (8 %) pension account, closed years oldest first."""

    person: PersonOut
    years: list[AccountYearOut]
    balance_fen: int = Field(description="the last closing balance (0 when no year is closed)")
    uncredited_fen: int = Field(
        description="personal parts paid after the last closed year (credited at year end)"
    )


class PaymentOut(Out):
    benefit: Benefit
    month: str = Field(pattern=MONTH_PATTERN, description="YYYYMM", examples=["202403"])
    amount_fen: int
    paid_on: date | None

    @field_validator("month", mode="before")
    @classmethod
    def month_as_text(cls, value: object) -> object:
        return _month(value)


class BenefitsOut(BaseModel):
    """E04: benefit payments, newest month first."""

    person: PersonOut
    benefit: Benefit | None = Field(description="the filter asked for (null: every benefit)")
    payments: list[PaymentOut]
    total_amount_fen: int = Field(description="sum over every payment matching the filter")
    page: Page


class RegistrationOut(Out):
    registration_id: int
    kind: RegistrationKind
    status: RegistrationStatus
    site_code: str = Field(description="the site that registered it")
    opened_at: datetime
    closed_at: datetime | None
    employer_name: str | None = Field(description="employment registrations")
    start_date: date | None = Field(description="employment registrations")
    contract_type: ContractType | None = Field(description="employment registrations")
    certificate_no: str | None = Field(
        description="unemployment registrations: the employment-and-entrepreneurship "
        "certificate number"
    )
    end_date: date | None = Field(
        default=None, description="an ended employment's last day, where recorded"
    )
    separation_reason: SeparationReason | None = Field(
        default=None, description="why an ended employment ended, where recorded"
    )


class EmploymentOut(Out):
    """E05: the recorded employment status and the open registrations (one per kind)."""

    person: PersonOut
    employment_status: EmploymentStatus
    open_registrations: list[RegistrationOut]
    last_ended_employment: RegistrationOut | None = Field(
        default=None,
        description="the most recently closed employment registration: when (`end_date`) "
        "and why (`separation_reason`) it ended; null when none was closed",
    )


# --------------------------------------------------------------------------- R01-R05


class EmploymentRegistrationIn(BaseModel):
    """R01 employment registration (就业登记)."""

    model_config = ConfigDict(extra="forbid")

    employer_credit_code: str = Field(
        pattern=CREDIT_CODE_PATTERN,
        description="the employer's unified social credit code (GB 32100, 18 characters)",
        examples=["91370402MA3C000001"],
    )
    start_date: IsoDate = Field(description="first day of work (at most 31 days ahead)")
    contract_type: ContractType


class EmploymentRegisteredOut(Out):
    registration_id: int
    person_id: int
    employer_credit_code: str
    employer_name: str
    start_date: date
    contract_type: ContractType
    opened_at: datetime
    closed_unemployment_registration_id: int | None = Field(
        description="the unemployment registration this one closed, if any"
    )


class UnemploymentRegistrationIn(BaseModel):
    """R02 unemployment registration (失业登记)."""

    model_config = ConfigDict(extra="forbid")

    able_to_work: StrictBool
    willing_to_work: StrictBool
    employment_ended_on: IsoDate | None = Field(
        default=None,
        description="the day an open employment ended (needed when the person is recorded "
        "as employed; closes the employment registration)",
    )
    separation_reason: SeparationReason | None = Field(
        default=None,
        description="why that employment ended (recorded on the employment registration; "
        "B01 reads it); only with `employment_ended_on`",
    )


class UnemploymentRegisteredOut(Out):
    registration_id: int
    person_id: int
    certificate_no: str = Field(description="the employment-and-entrepreneurship certificate")
    opened_at: datetime
    closed_employment_registration_id: int | None


class EnrolmentIn(BaseModel):
    """R03 / R04 resident enrolment."""

    model_config = ConfigDict(extra="forbid")

    start_date: IsoDate | None = Field(default=None, description="default: today")


class EnrolledOut(Out):
    relation_id: int
    person_id: int
    scheme: Scheme
    start_date: date


_PHONE_PATTERN = r"^\+?[0-9][0-9 -]{4,17}[0-9]$"


class InformationChangeIn(BaseModel):
    """R05: give at least one field. Phone and address change at once; a name or ID-number
    change waits for a reviewer (202). At a kiosk only the phone can be changed."""

    model_config = ConfigDict(extra="forbid")

    phone: str | None = Field(
        default=None, pattern=_PHONE_PATTERN, max_length=20, examples=["13800000000"]
    )
    address: str | None = Field(
        default=None, min_length=1, max_length=200, pattern=_NO_CONTROL_CHARACTERS
    )
    name: str | None = Field(
        default=None, min_length=1, max_length=100, pattern=_NO_CONTROL_CHARACTERS
    )
    new_ssn: str | None = Field(
        default=None,
        pattern=r"^[0-9]{17}[0-9X]$",
        description="the corrected ID number (checked like the path's)",
    )


class PendingChangeOut(Out):
    change_id: int = Field(description="decide it at /v1/information-changes/{change_id}/…")
    field: ChangeField
    status: ChangeStatus = ChangeStatus.PENDING


class InformationChangedOut(Out):
    person_id: int
    applied: list[str] = Field(description='fields changed at once ("phone", "address")')
    pending: list[PendingChangeOut] = Field(description="changes waiting for a reviewer")


class RejectionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f-\x9f]*\S")


class ChangeDecisionOut(Out):
    change_id: int
    person_id: int
    field: ChangeField
    status: ChangeStatus
    decided_at: datetime


# --------------------------------------------------------------------------- B01-B04


class UnemploymentEligibilityOut(Out):
    """B01 (失业保险条例 arts. 14 and 17)."""

    person: PersonOut
    eligible: bool
    provisional: bool = Field(
        description="true when eligibility rests on an unconfirmed involuntary end of "
        "employment (a counter must confirm it before payment)"
    )
    separation_reason: SeparationReason | None = Field(
        description="why the last employment ended, as recorded on the employment "
        "registration (it decides over `ended_involuntarily`); null when not recorded"
    )
    rule: str
    reasons: list[str]
    months_paid: int
    duration_months: int
    monthly_amount_fen: int
    total_amount_fen: int
    certificate_no: str | None = Field(description="the open unemployment registration's")


class PensionCertificationIn(BaseModel):
    """B02 pension qualification certification (资格认证)."""

    model_config = ConfigDict(extra="forbid")

    id_checked: StrictBool = Field(
        default=False,
        description="counter: the clerk checked the pensioner's ID document (required); "
        "kiosk: ignored (the card and its verified PIN stand for it)",
    )


class EntitlementCertifiedOut(Out):
    entitlement_id: int
    scheme: Scheme
    was: CertificationState
    resumed: bool
    back_paid_months: int
    back_pay_fen: int
    next_due: date
    rule: str
    reasons: list[str]


class PensionCertifiedOut(Out):
    person_id: int
    certified_on: date
    certifications: list[EntitlementCertifiedOut]


class ResidentPensionOut(Out):
    eligible: bool
    rule: str
    reasons: list[str]
    age_reached_on: date
    months_paid: int
    months_still_needed: int


class RetirementEligibilityOut(Out):
    """B03: statutory retirement date, months paid and still needed."""

    person: PersonOut
    eligible: bool
    rule: str
    reasons: list[str]
    category: RetirementCategory
    statutory_age: str = Field(examples=["60 years 3 months"])
    retirement_date: date
    months_paid: int
    months_required: int
    months_still_needed: int
    age_reached: bool
    resident_pension: ResidentPensionOut | None = Field(
        description="the resident pension decision too, when the person is in that scheme"
    )


class MedicalSchemeOut(Out):
    scheme: Scheme
    enrolled: bool = Field(description="an active insurance relation is recorded")
    active: bool = Field(description="covered today, by what was paid")
    rule: str
    reasons: list[str]
    covered_through: date | None


class MedicalStatusOut(Out):
    """B04: employee and resident medical insurance today."""

    person: PersonOut
    covered: bool = Field(description="covered by either scheme today")
    employee: MedicalSchemeOut
    resident: MedicalSchemeOut
