"""Eligibility answers and certification B01-B04 under ``/v1/persons/{ssn}/…``.

B01, B03 and B04 are enquiries (GET, journaled); B02 certification is a write
(``Idempotency-Key``). Every answer carries the ``rule`` that decided and its
``reasons``. Scope and channels as for the enquiries (see api.routes.persons): all
four are offered at kiosks inside a PIN-verified card session.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import ActorDep, ContextDep, IdempotencyKeyDep
from api.problems import problem_responses
from api.routes.params import StrictBoolean
from api.routes.person_models import (
    MedicalSchemeOut,
    MedicalStatusOut,
    PensionCertificationIn,
    PensionCertifiedOut,
    PersonOut,
    RetirementEligibilityOut,
    UnemploymentEligibilityOut,
)
from api.routes.person_params import PresenceDep, SsnPath, subject_for
from api.routes.persons import FORBIDDEN, NOT_FOUND, READ_PROBLEMS
from api.routing import ApiRouter
from cardsvc.db.models import RetirementCategory
from cardsvc.services.items import benefits


def router() -> APIRouter:
    routes = ApiRouter(prefix="/persons", tags=["benefits"])

    @routes.get(
        "/{ssn}/unemployment-benefit-eligibility",
        summary="B01 unemployment benefit eligibility, duration and amount",
        responses=READ_PROBLEMS,
    )
    def get_unemployment_eligibility(
        *,
        actor: ActorDep,
        ssn: SsnPath,
        presence: PresenceDep,
        context: ContextDep,
        ended_involuntarily: Annotated[
            StrictBoolean | None,
            Query(
                description="whether the employment ended not of the person's own will, as "
                "the counter confirmed. It counts only when the last employment registration "
                "records no `separation_reason`: a recorded reason decides, and a value that "
                "contradicts it is refused (422, `field`: `ended_involuntarily`). Not given "
                "and nothing recorded: assumed, and the answer is `provisional`"
            ),
        ] = None,
    ) -> UnemploymentEligibilityOut:
        result = benefits.unemployment_benefit_eligibility(
            context.service_context(),
            actor,
            subject_for(context, ssn, presence),
            ended_involuntarily=ended_involuntarily,
        )
        return UnemploymentEligibilityOut.of(result)

    @routes.post(
        "/{ssn}/pension-certifications",
        status_code=201,
        summary="B02 pension qualification certification (resumes a suspended pension)",
        responses=problem_responses(
            s403=FORBIDDEN,
            s404=NOT_FOUND,
            s409="`conflict`: the person draws no pension, or was certified today",
        ),
    )
    def certify_pension(
        *,
        actor: ActorDep,
        ssn: SsnPath,
        body: PensionCertificationIn,
        idem: IdempotencyKeyDep,
        presence: PresenceDep,
        context: ContextDep,
    ) -> PensionCertifiedOut:
        result = benefits.certify_pension_qualification(
            context.service_context(),
            actor,
            subject_for(context, ssn, presence),
            idempotency_key=idem.key,
            id_checked=body.id_checked,
        )
        return PensionCertifiedOut.of(result)

    @routes.get(
        "/{ssn}/retirement-eligibility",
        summary="B03 retirement date, months paid and still needed, eligible today?",
        responses=READ_PROBLEMS,
    )
    def get_retirement_eligibility(
        *,
        actor: ActorDep,
        ssn: SsnPath,
        presence: PresenceDep,
        context: ContextDep,
        category: Annotated[
            RetirementCategory | None,
            Query(
                description="overrides the recorded category; needed for a woman with none "
                "recorded (female_50 worker, female_55 cadre)"
            ),
        ] = None,
    ) -> RetirementEligibilityOut:
        result = benefits.retirement_eligibility(
            context.service_context(),
            actor,
            subject_for(context, ssn, presence),
            category=category,
        )
        return RetirementEligibilityOut.of(result)

    @routes.get(
        "/{ssn}/medical-insurance-status",
        summary="B04 employee and resident medical insurance status today",
        responses=READ_PROBLEMS,
    )
    def get_medical_status(
        *, actor: ActorDep, ssn: SsnPath, presence: PresenceDep, context: ContextDep
    ) -> MedicalStatusOut:
        result = benefits.medical_insurance_status(
            context.service_context(), actor, subject_for(context, ssn, presence)
        )
        return MedicalStatusOut(
            person=PersonOut.of(result.person),
            covered=result.covered,
            employee=MedicalSchemeOut.of(result.employee),
            resident=MedicalSchemeOut.of(result.resident),
        )

    return routes
