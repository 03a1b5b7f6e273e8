"""Registrations and information changes R01-R05, and the reviewer's decision on R05.

Every route here is a write and takes an ``Idempotency-Key`` (the key is passed on to
the services, which store the business result in the same transaction as the
effect). Who may do them: operators with the clerk role, for persons of their sites or
of a card session of the request; kiosks (PIN-verified card session) only R02 and R05
phone changes. One person has at most one open registration of each kind: a duplicate
is a 409, whichever site or channel sends it.

R05: a phone or address change applies at once (200); a name or ID-number change
waits for a reviewer (202, the ``pending`` list names the change ids). A reviewer (not
the operator who entered it) approves or rejects it at
``/v1/information-changes/{change_id}/approval`` / ``…/rejection``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from api.deps import ActorDep, ContextDep, IdempotencyKeyDep
from api.problems import problem_responses
from api.routes.person_models import (
    ChangeDecisionOut,
    EmploymentRegisteredOut,
    EmploymentRegistrationIn,
    EnrolledOut,
    EnrolmentIn,
    InformationChangedOut,
    InformationChangeIn,
    RejectionIn,
    UnemploymentRegisteredOut,
    UnemploymentRegistrationIn,
)
from api.routes.person_params import PresenceDep, SsnPath, subject_for
from api.routes.persons import FORBIDDEN, NOT_FOUND
from api.routing import ApiRouter
from cardsvc.services.items import registrations

_MAX_ID = 2**31 - 1

CONFLICT = (
    "`conflict`: the records do not allow it (an open registration of this kind already "
    "exists, already enrolled, not of working age, a change already pending…); "
    "`current` names the state"
)
WRITE_PROBLEMS = problem_responses(s403=FORBIDDEN, s404=NOT_FOUND, s409=CONFLICT)

ChangeId = Annotated[int, Path(ge=1, le=_MAX_ID, description="the pending change's id")]


def router() -> APIRouter:
    routes = ApiRouter(tags=["registrations"])

    @routes.post(
        "/persons/{ssn}/employment-registrations",
        status_code=201,
        summary="R01 employment registration (closes an open unemployment registration)",
        responses=WRITE_PROBLEMS,
    )
    def register_employment(
        *,
        actor: ActorDep,
        ssn: SsnPath,
        body: EmploymentRegistrationIn,
        idem: IdempotencyKeyDep,
        presence: PresenceDep,
        context: ContextDep,
    ) -> EmploymentRegisteredOut:
        result = registrations.register_employment(
            context.service_context(),
            actor,
            subject_for(context, ssn, presence),
            employer_credit_code=body.employer_credit_code,
            start_date=body.start_date,
            contract_type=body.contract_type,
            idempotency_key=idem.key,
        )
        return EmploymentRegisteredOut.of(result)

    @routes.post(
        "/persons/{ssn}/unemployment-registrations",
        status_code=201,
        summary="R02 unemployment registration: gives a certificate number (counter, kiosk)",
        responses=WRITE_PROBLEMS,
    )
    def register_unemployment(
        *,
        actor: ActorDep,
        ssn: SsnPath,
        body: UnemploymentRegistrationIn,
        idem: IdempotencyKeyDep,
        presence: PresenceDep,
        context: ContextDep,
    ) -> UnemploymentRegisteredOut:
        result = registrations.register_unemployment(
            context.service_context(),
            actor,
            subject_for(context, ssn, presence),
            able_to_work=body.able_to_work,
            willing_to_work=body.willing_to_work,
            employment_ended_on=body.employment_ended_on,
            separation_reason=body.separation_reason,
            idempotency_key=idem.key,
        )
        return UnemploymentRegisteredOut.of(result)

    @routes.post(
        "/persons/{ssn}/resident-pension-enrolment",
        status_code=201,
        summary="R03 resident pension enrolment (城乡居民基本养老)",
        responses=WRITE_PROBLEMS,
    )
    def enrol_resident_pension(
        *,
        actor: ActorDep,
        ssn: SsnPath,
        body: EnrolmentIn,
        idem: IdempotencyKeyDep,
        presence: PresenceDep,
        context: ContextDep,
    ) -> EnrolledOut:
        result = registrations.enrol_resident_pension(
            context.service_context(),
            actor,
            subject_for(context, ssn, presence),
            start_date=body.start_date,
            idempotency_key=idem.key,
        )
        return EnrolledOut.of(result)

    @routes.post(
        "/persons/{ssn}/resident-medical-enrolment",
        status_code=201,
        summary="R04 resident medical insurance enrolment",
        responses=WRITE_PROBLEMS,
    )
    def enrol_resident_medical(
        *,
        actor: ActorDep,
        ssn: SsnPath,
        body: EnrolmentIn,
        idem: IdempotencyKeyDep,
        presence: PresenceDep,
        context: ContextDep,
    ) -> EnrolledOut:
        result = registrations.enrol_resident_medical(
            context.service_context(),
            actor,
            subject_for(context, ssn, presence),
            start_date=body.start_date,
            idempotency_key=idem.key,
        )
        return EnrolledOut.of(result)

    @routes.post(
        "/persons/{ssn}/information-changes",
        summary="R05 personal information change (name/ID number: 202, waits for a reviewer)",
        responses={
            202: {
                "model": InformationChangedOut,
                "description": "A name or ID-number change was recorded and waits for a "
                "reviewer (`pending`); phone and address changes in the same request "
                "were applied (`applied`).",
            },
            **WRITE_PROBLEMS,
        },
    )
    def change_information(
        *,
        actor: ActorDep,
        ssn: SsnPath,
        body: InformationChangeIn,
        idem: IdempotencyKeyDep,
        presence: PresenceDep,
        context: ContextDep,
        response: Response,
    ) -> InformationChangedOut:
        result = registrations.change_personal_information(
            context.service_context(),
            actor,
            subject_for(context, ssn, presence),
            phone=body.phone,
            address=body.address,
            name=body.name,
            new_ssn=body.new_ssn,
            idempotency_key=idem.key,
        )
        if result.pending:
            response.status_code = 202
        return InformationChangedOut.of(result)

    decision_problems = problem_responses(
        s403="`forbidden`: needs an operator with the reviewer role, not the one who "
        "entered the change",
        s404="`not-found`: no such change, or one for a person outside the reviewer's sites",
        s409="`conflict`: the change was already decided (`current` says how), or the new "
        "ID number was taken meanwhile",
    )

    @routes.post(
        "/information-changes/{change_id}/approval",
        summary="R05 second step: a reviewer approves a name/ID-number change",
        responses=decision_problems,
    )
    def approve_change(
        *, actor: ActorDep, change_id: ChangeId, idem: IdempotencyKeyDep, context: ContextDep
    ) -> ChangeDecisionOut:
        result = registrations.approve_change(
            context.service_context(), actor, change_id, idempotency_key=idem.key
        )
        return ChangeDecisionOut.of(result)

    @routes.post(
        "/information-changes/{change_id}/rejection",
        summary="R05 second step: a reviewer rejects a name/ID-number change, saying why",
        responses=decision_problems,
    )
    def reject_change(
        *,
        actor: ActorDep,
        change_id: ChangeId,
        body: RejectionIn,
        idem: IdempotencyKeyDep,
        context: ContextDep,
    ) -> ChangeDecisionOut:
        result = registrations.reject_change(
            context.service_context(),
            actor,
            change_id,
            reason=body.reason,
            idempotency_key=idem.key,
        )
        return ChangeDecisionOut.of(result)

    return routes
