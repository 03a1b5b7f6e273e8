"""Benefit items: B01, B03, B04 are reads (journaled, no key); B02 certification is a write.

Every decision carries the ``rule`` and ``reasons`` of the cardsvc.rules function that
made it.

What the records decide, and the fall-backs for records that predate them:

* B01 reads why the employment ended from the person's last closed employment
  registration (``separation_reason``, cardsvc.rules.unemployment): the record
  decides, and a caller's ``ended_involuntarily`` that contradicts it is refused.
  (The reason is recorded by R02 when it closes the employment registration.)
  Without a recorded reason the caller may pass ``ended_involuntarily``; without
  either the decision assumes involuntary and is marked ``provisional`` with a
  reason saying a counter must confirm it.
* B04's resident scheme needs the day each payment was made: a resident-medical
  contribution's ``paid_on``. A row without it is read by its ``month`` as the
  month paid: paid from the collection period's start month on, it covers the next
  year; paid earlier in a year, that year (late, so not active).
* Months paid (B01, B03) include the months summed before the monthly detail
  (``prior_contribution_months``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select

from cardsvc.db.models import (
    Benefit,
    BenefitPayment,
    Channel,
    Contribution,
    EmploymentStatus,
    ItemCode,
    PensionCertification,
    RegistrationKind,
    RetirementCategory,
    Scheme,
    SeparationReason,
)
from cardsvc.rules.certification import CertificationState, certify
from cardsvc.rules.config import RulesConfig
from cardsvc.rules.medical import (
    ResidentMedicalPayment,
    employee_medical_status,
    resident_medical_status,
)
from cardsvc.rules.months import YearMonth
from cardsvc.rules.resident_pension import resident_pension_eligibility
from cardsvc.rules.retirement import retirement_eligibility as retirement_rule
from cardsvc.rules.unemployment import SEPARATION_RULE, ended_involuntarily, unemployment_benefit
from cardsvc.services.actors import Actor, Subject
from cardsvc.services.ages import retirement_category
from cardsvc.services.context import ServiceContext
from cardsvc.services.errors import Conflict, ValidationFailed
from cardsvc.services.queries import (
    active_relation,
    entitlements,
    last_closed_employment,
    latest_paid_month,
    months_paid,
    open_registration,
)
from cardsvc.services.runner import Call, run_read, run_write
from cardsvc.services.views import PersonSummary, person_summary

# -- B01 unemployment benefit eligibility ---------------------------------------------


@dataclass(frozen=True, slots=True)
class UnemploymentEligibility:
    person: PersonSummary
    eligible: bool
    provisional: bool
    """True when eligibility rests on an unconfirmed "ended involuntarily"."""
    separation_reason: SeparationReason | None
    """Why the last employment ended, as recorded (None: not recorded)."""
    rule: str
    reasons: tuple[str, ...]
    months_paid: int
    duration_months: int
    monthly_amount_fen: int
    total_amount_fen: int
    certificate_no: str | None
    """The open unemployment registration's certificate, if any."""


def unemployment_benefit_eligibility(
    ctx: ServiceContext,
    actor: Actor,
    subject: Subject,
    *,
    ended_involuntarily: bool | None = None,
) -> UnemploymentEligibility:
    """B01: may the person draw unemployment benefit, how long and how much."""

    def body(call: Call) -> UnemploymentEligibility:
        if ended_involuntarily is not None and not isinstance(ended_involuntarily, bool):
            raise ValidationFailed("ended_involuntarily", "must be true, false or not given")
        person = call.person(subject)
        paid = months_paid(call.session, person.id, Scheme.UNEMPLOYMENT)
        registration = open_registration(call.session, person.id, RegistrationKind.UNEMPLOYMENT)
        registered = registration is not None
        drawing = person.employment_status is EmploymentStatus.RETIRED or any(
            e.suspended_since is None
            and e.scheme in (Scheme.EMPLOYEE_PENSION, Scheme.RESIDENT_PENSION)
            for e in entitlements(call.session, person.id)
        )
        ended = last_closed_employment(
            call.session,
            person.id,
            closed_by=registration.opened_at if registration is not None else None,
        )
        recorded = ended.separation_reason if ended is not None else None
        involuntary = ended_involuntarily_from(recorded, ended_involuntarily)
        decision = unemployment_benefit(
            months_paid=paid,
            ended_involuntarily=involuntary,
            registered_unemployed=registered,
            seeking_work=registered,
            drawing_pension=drawing,
            config=call.config,
        )
        reasons = decision.reasons
        provisional = recorded is None and ended_involuntarily is None and decision.eligible
        if recorded is not None:
            ended_on = ended.end_date if ended is not None else None
            when = f" on {ended_on.isoformat()}" if ended_on is not None else ""
            reasons = (
                *reasons,
                f"the employment ended{when}: {recorded.value}, recorded on the employment "
                f"registration — {'not ' if involuntary else ''}of the person's own will "
                f"({SEPARATION_RULE})",
            )
        elif provisional:
            reasons = (
                *reasons,
                "why the employment ended is not recorded: assumed not of the person's own "
                "will; a counter must confirm it before payment (art. 14)",
            )
        call.note(eligible=decision.eligible, provisional=provisional, months_paid=paid)
        return UnemploymentEligibility(
            person=person_summary(actor, person),
            eligible=decision.eligible,
            provisional=provisional,
            separation_reason=recorded,
            rule=decision.rule,
            reasons=reasons,
            months_paid=paid,
            duration_months=decision.duration_months,
            monthly_amount_fen=decision.monthly_amount_fen,
            total_amount_fen=decision.total_amount_fen,
            certificate_no=registration.certificate_no if registration is not None else None,
        )

    return run_read(ctx, actor, ItemCode.B01, body)


def ended_involuntarily_from(recorded: SeparationReason | None, given: bool | None) -> bool:
    """B01's "ended not of the person's own will": the record, else the caller, else assumed.

    A caller's answer that contradicts the recorded reason is refused: the record
    decides.
    """
    if recorded is None:
        return True if given is None else given
    involuntary = ended_involuntarily(recorded)
    if given is not None and given is not involuntary:
        raise ValidationFailed(
            "ended_involuntarily",
            f"the employment registration records why it ended ({recorded.value}: "
            f"{'not ' if involuntary else ''}of the person's own will) and decides: "
            "omit this field",
        )
    return involuntary


# -- B02 pension qualification certification ------------------------------------------


@dataclass(frozen=True, slots=True)
class EntitlementCertified:
    entitlement_id: int
    scheme: Scheme
    was: CertificationState
    resumed: bool
    back_paid_months: int
    """Suspended months booked as back pay now (months already paid are not paid again)."""
    back_pay_fen: int
    next_due: date
    rule: str
    reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PensionCertified:
    person_id: int
    certified_on: date
    certifications: tuple[EntitlementCertified, ...]


_BENEFIT_OF = {
    Scheme.EMPLOYEE_PENSION: Benefit.EMPLOYEE_PENSION,
    Scheme.RESIDENT_PENSION: Benefit.RESIDENT_PENSION,
}


def certify_pension_qualification(
    ctx: ServiceContext,
    actor: Actor,
    subject: Subject,
    *,
    idempotency_key: str,
    id_checked: bool = False,
) -> PensionCertified:
    """B02 (counter with card and ID, kiosk with card and PIN): certify a pensioner.

    At a counter the clerk confirms the pensioner's ID document was checked
    (``id_checked``); at a kiosk the card and its verified PIN stand for it. Each
    pension the person draws is certified for the next 12 months; a suspended one
    resumes and its suspended months are booked as benefit payments (back pay) today.
    """

    def body(call: Call) -> PensionCertified:
        if not call.is_kiosk and id_checked is not True:
            raise ValidationFailed(
                "id_checked", "certification at a counter needs the pensioner's ID checked"
            )
        person = call.person(subject)
        call.lock_person(person)  # before the key check: a same-key twin waits here
        call.idempotent({"person": person.id, "on": call.today})
        pensions = [e for e in entitlements(call.session, person.id) if e.scheme in _BENEFIT_OF]
        if not pensions:
            raise Conflict("the person draws no pension: nothing to certify", current="no_pension")
        if all(e.last_certified_on == call.today for e in pensions):
            raise Conflict("the person was already certified today", current="certified")
        done: list[EntitlementCertified] = []
        for entitlement in pensions:
            last = entitlement.last_certified_on or entitlement.started_on
            result = certify(
                last_certified=min(last, call.today),
                certified_on=call.today,
                monthly_pension_fen=entitlement.monthly_pension_fen,
                config=call.config,
            )
            benefit = _BENEFIT_OF[entitlement.scheme]
            months = [int(m.format()) for m in result.suspended_months]
            paid_already: set[int] = set()
            if months:
                paid_already = set(
                    call.session.execute(
                        select(BenefitPayment.month).where(
                            BenefitPayment.person_id == person.id,
                            BenefitPayment.benefit == benefit,
                            BenefitPayment.month.in_(months),
                        )
                    ).scalars()
                )
            booked = [m for m in months if m not in paid_already]
            for month in booked:
                call.session.add(
                    BenefitPayment(
                        person_id=person.id,
                        benefit=benefit,
                        month=month,
                        amount_fen=entitlement.monthly_pension_fen,
                        paid_on=call.today,
                    )
                )
            reasons = result.reasons
            if len(booked) < len(months):
                reasons = (
                    *reasons,
                    f"{len(months) - len(booked)} of the suspended months were paid already: "
                    "not paid again",
                )
            entitlement.last_certified_on = call.today
            entitlement.suspended_since = None
            call.session.add(
                PensionCertification(
                    entitlement_id=entitlement.id,
                    certified_at=call.now,
                    channel=Channel.KIOSK if call.is_kiosk else Channel.COUNTER,
                    site_code=actor.site_code,
                    operator_id=call.operator_id,
                    device_id=call.device_id,
                    back_paid_months=len(booked),
                )
            )
            done.append(
                EntitlementCertified(
                    entitlement_id=entitlement.id,
                    scheme=entitlement.scheme,
                    was=result.was,
                    resumed=result.resumed,
                    back_paid_months=len(booked),
                    back_pay_fen=len(booked) * entitlement.monthly_pension_fen,
                    next_due=result.next_due,
                    rule=result.rule,
                    reasons=reasons,
                )
            )
        call.session.flush()
        call.note(
            certified=[d.entitlement_id for d in done],
            back_paid_months=sum(d.back_paid_months for d in done),
        )
        return PensionCertified(person.id, call.today, tuple(done))

    return run_write(
        ctx, actor, ItemCode.B02, body, key=idempotency_key, result_type=PensionCertified
    )


# -- B03 retirement eligibility -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ResidentPensionView:
    eligible: bool
    rule: str
    reasons: tuple[str, ...]
    age_reached_on: date
    months_paid: int
    months_still_needed: int


@dataclass(frozen=True, slots=True)
class RetirementEligibility:
    person: PersonSummary
    eligible: bool
    rule: str
    reasons: tuple[str, ...]
    category: RetirementCategory
    statutory_age: str
    """E.g. "60 years 3 months"."""
    retirement_date: date
    months_paid: int
    months_required: int
    months_still_needed: int
    age_reached: bool
    resident_pension: ResidentPensionView | None
    """The resident pension decision too, when the person is in that scheme."""


def retirement_eligibility(
    ctx: ServiceContext,
    actor: Actor,
    subject: Subject,
    *,
    category: RetirementCategory | None = None,
) -> RetirementEligibility:
    """B03: statutory retirement date, months paid and still needed, eligible today?

    ``category`` overrides the recorded one; a woman with none recorded needs it
    (her original age is 50 as a worker or 55 as a cadre).
    """

    def body(call: Call) -> RetirementEligibility:
        if category is not None and not isinstance(category, RetirementCategory):
            raise ValidationFailed("category", "one of male, female_55, female_50")
        person = call.person(subject)
        chosen = category or retirement_category(person)
        if chosen is None:
            raise ValidationFailed(
                "category",
                "no retirement category is recorded for this person: pass female_50 (worker) "
                "or female_55 (cadre)",
            )
        paid = months_paid(call.session, person.id, Scheme.EMPLOYEE_PENSION)
        decision = retirement_rule(
            birth_date=person.birth_date, category=chosen, months_paid=paid, today=call.today
        )
        resident: ResidentPensionView | None = None
        resident_paid = months_paid(call.session, person.id, Scheme.RESIDENT_PENSION)
        if resident_paid or active_relation(call.session, person.id, Scheme.RESIDENT_PENSION):
            rp = resident_pension_eligibility(
                birth_date=person.birth_date, months_paid=resident_paid, today=call.today
            )
            resident = ResidentPensionView(
                eligible=rp.eligible,
                rule=rp.rule,
                reasons=rp.reasons,
                age_reached_on=rp.age_reached_on,
                months_paid=rp.months_paid,
                months_still_needed=rp.months_still_needed,
            )
        call.note(eligible=decision.eligible, months_paid=paid)
        return RetirementEligibility(
            person=person_summary(actor, person),
            eligible=decision.eligible,
            rule=decision.rule,
            reasons=decision.reasons,
            category=chosen,
            statutory_age=str(decision.statutory_age),
            retirement_date=decision.retirement_date,
            months_paid=paid,
            months_required=decision.months_required,
            months_still_needed=decision.months_still_needed,
            age_reached=decision.age_reached,
            resident_pension=resident,
        )

    return run_read(ctx, actor, ItemCode.B03, body)


# -- B04 medical insurance status -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class MedicalSchemeStatus:
    scheme: Scheme
    enrolled: bool
    """An active insurance relation in this scheme is recorded."""
    active: bool
    """Covered today, by what was paid."""
    rule: str
    reasons: tuple[str, ...]
    covered_through: date | None


@dataclass(frozen=True, slots=True)
class MedicalInsuranceStatus:
    person: PersonSummary
    employee: MedicalSchemeStatus
    resident: MedicalSchemeStatus

    @property
    def covered(self) -> bool:
        return self.employee.active or self.resident.active


def resident_payment(
    month: int, paid_on: date | None, config: RulesConfig
) -> ResidentMedicalPayment:
    """A resident-medical contribution row (YYYYMM, paid_on) as a payment.

    The year covered is the row's: the month's year, or the next one when the month
    lies from the collection period's start month on. With ``paid_on`` recorded that
    day decides whether it was paid in time; without, the month stands for it
    (:func:`resident_payment_of_month`).
    """
    estimated = resident_payment_of_month(YearMonth.parse(f"{month:06d}"), config)
    if paid_on is None:
        return estimated
    return ResidentMedicalPayment(coverage_year=estimated.coverage_year, paid_on=paid_on)


def resident_payment_of_month(month: YearMonth, config: RulesConfig) -> ResidentMedicalPayment:
    """Read a resident-medical contribution month as a payment (see the module doc)."""
    start = config.resident_medical_collection_start
    if month.month >= start.month:
        paid_on = month.day(start.day) if month.month == start.month else month.first_day()
        return ResidentMedicalPayment(coverage_year=month.year + 1, paid_on=paid_on)
    return ResidentMedicalPayment(coverage_year=month.year, paid_on=month.first_day())


def medical_insurance_status(
    ctx: ServiceContext, actor: Actor, subject: Subject
) -> MedicalInsuranceStatus:
    """B04: employee and resident medical insurance status today."""

    def body(call: Call) -> MedicalInsuranceStatus:
        person = call.person(subject)
        latest = latest_paid_month(call.session, person.id, Scheme.EMPLOYEE_MEDICAL)
        employee = employee_medical_status(latest_paid_month=latest, today=call.today)
        rows = call.session.execute(
            select(Contribution.month, Contribution.paid_on).where(
                Contribution.person_id == person.id,
                Contribution.scheme == Scheme.RESIDENT_MEDICAL,
            )
        ).all()
        payments = [resident_payment(month, paid_on, call.config) for month, paid_on in rows]
        resident = resident_medical_status(payments=payments, today=call.today, config=call.config)
        result = MedicalInsuranceStatus(
            person=person_summary(actor, person),
            employee=MedicalSchemeStatus(
                scheme=Scheme.EMPLOYEE_MEDICAL,
                enrolled=active_relation(call.session, person.id, Scheme.EMPLOYEE_MEDICAL)
                is not None,
                active=employee.active,
                rule=employee.rule,
                reasons=employee.reasons,
                covered_through=employee.covered_through,
            ),
            resident=MedicalSchemeStatus(
                scheme=Scheme.RESIDENT_MEDICAL,
                enrolled=active_relation(call.session, person.id, Scheme.RESIDENT_MEDICAL)
                is not None,
                active=resident.active,
                rule=resident.rule,
                reasons=resident.reasons,
                covered_through=resident.covered_through,
            ),
        )
        call.note(employee=employee.active, resident=resident.active)
        return result

    return run_read(ctx, actor, ItemCode.B04, body)
