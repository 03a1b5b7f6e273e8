"""The person and the enquiries E01-E05: ``GET /v1/persons/{ssn}`` and below.

Who may ask (the services decide, see cardsvc.services.scope):

- an operator with the clerk or supervisor role, for a person living at the
  operator's site or a site below it — or for any person whose card is in a card
  session of the request (``X-Card-Session``);
- a kiosk, only inside a card session whose PIN was verified, only for the card's
  person; it sees masked ID numbers and phone numbers;
- anything else: 403 (role or channel) or 404 (a person out of scope gets exactly the
  answer a missing person gets).

Every enquiry is journaled (the summary as E05). Lists that grow (contributions,
benefit payments) are paginated with ``limit``/``offset``; the answer's ``page``
carries ``total`` and ``next_offset`` (null on the last page).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from api.answers import JSON, json_answer
from api.enquiry_caller import EnquiryCallerDep
from api.problems import problem_responses
from api.routes.person_models import (
    AccountOut,
    BenefitsOut,
    ContributionsOut,
    EmploymentOut,
    InsuranceOut,
    Page,
    PaymentOut,
    PersonOut,
    contributions_json,
)
from api.routes.person_params import SsnPath
from api.routing import ApiRouter
from cardsvc.db.models import Benefit, Scheme
from cardsvc.services.actors import Actor, Subject
from cardsvc.services.context import ServiceContext
from cardsvc.services.items import enquiries

MAX_OFFSET = 1_000_000

NOT_FOUND = (
    "`not-found`: no such person, or one outside the caller's sites and card session "
    "(the two are not told apart; the body is the same)"
)
FORBIDDEN = (
    "`forbidden`: the caller's role or channel may not do this item (an administrator, a "
    "reviewer, a counter terminal signed in on its own; a kiosk outside a PIN-verified card "
    "session of this person, or for an item not offered at kiosks); or an `X-Card-Session` "
    "that names no live card session of this caller (`field` names the header)"
)
READ_PROBLEMS = problem_responses(s403=FORBIDDEN, s404=NOT_FOUND)

Limit = Annotated[
    int, Query(ge=1, le=enquiries.MAX_PAGE, description="rows per page (1-200, default 50)")
]
Offset = Annotated[
    int, Query(ge=0, le=MAX_OFFSET, description="rows to skip (the previous page's next_offset)")
]


def router() -> APIRouter:
    routes = ApiRouter(prefix="/persons", tags=["persons"])

    @routes.get(
        "/{ssn}",
        summary="The person's summary (journaled as E05)",
        response_model=PersonOut,
        responses=READ_PROBLEMS,
    )
    async def get_person(*, caller: EnquiryCallerDep, ssn: SsnPath) -> Response:
        def answer(ctx: ServiceContext, actor: Actor, subject: Subject) -> Response:
            result = enquiries.employment_status(ctx, actor, subject)
            return json_answer(PersonOut.of(result.person))

        return await caller.run(ssn, answer)

    @routes.get(
        "/{ssn}/insurance",
        summary="E01 insurance participation: every scheme, active first",
        response_model=InsuranceOut,
        responses=READ_PROBLEMS,
    )
    async def get_insurance(*, caller: EnquiryCallerDep, ssn: SsnPath) -> Response:
        def answer(ctx: ServiceContext, actor: Actor, subject: Subject) -> Response:
            result = enquiries.insurance_participation(ctx, actor, subject)
            return json_answer(InsuranceOut.of(result))

        return await caller.run(ssn, answer)

    @routes.get(
        "/{ssn}/contributions",
        summary="E02 contribution history, newest month first (paginated)",
        response_model=ContributionsOut,
        responses=READ_PROBLEMS,
    )
    async def get_contributions(
        *,
        caller: EnquiryCallerDep,
        ssn: SsnPath,
        scheme: Annotated[Scheme | None, Query(description="only this scheme")] = None,
        limit: Limit = enquiries.DEFAULT_PAGE,
        offset: Offset = 0,
    ) -> Response:
        def answer(ctx: ServiceContext, actor: Actor, subject: Subject) -> Response:
            result = enquiries.contribution_history(
                ctx,
                actor,
                subject,
                scheme=scheme,
                limit=limit,
                offset=offset,
            )
            return Response(contributions_json(result), media_type=JSON)

        return await caller.run(ssn, answer)

    @routes.get(
        "/{ssn}/accounts",
        summary="E03 personal pension account: yearly balances",
        response_model=AccountOut,
        responses=READ_PROBLEMS,
    )
    async def get_accounts(*, caller: EnquiryCallerDep, ssn: SsnPath) -> Response:
        def answer(ctx: ServiceContext, actor: Actor, subject: Subject) -> Response:
            result = enquiries.personal_account(ctx, actor, subject)
            return json_answer(AccountOut.of(result))

        return await caller.run(ssn, answer)

    @routes.get(
        "/{ssn}/benefits",
        summary="E04 benefit payments, newest month first (paginated)",
        response_model=BenefitsOut,
        responses=READ_PROBLEMS,
    )
    async def get_benefits(
        *,
        caller: EnquiryCallerDep,
        ssn: SsnPath,
        benefit: Annotated[Benefit | None, Query(description="only this benefit")] = None,
        limit: Limit = enquiries.DEFAULT_PAGE,
        offset: Offset = 0,
    ) -> Response:
        def answer(ctx: ServiceContext, actor: Actor, subject: Subject) -> Response:
            result = enquiries.benefit_payments(
                ctx,
                actor,
                subject,
                benefit=benefit,
                limit=limit,
                offset=offset,
            )
            return json_answer(
                BenefitsOut(
                    person=PersonOut.of(result.person),
                    benefit=result.benefit,
                    payments=[PaymentOut.of(line) for line in result.lines],
                    total_amount_fen=result.total_amount_fen,
                    page=Page.of(result.total, result.limit, result.offset, len(result.lines)),
                )
            )

        return await caller.run(ssn, answer)

    @routes.get(
        "/{ssn}/employment",
        summary="E05 employment / unemployment status and open registrations",
        response_model=EmploymentOut,
        responses=READ_PROBLEMS,
    )
    async def get_employment(*, caller: EnquiryCallerDep, ssn: SsnPath) -> Response:
        def answer(ctx: ServiceContext, actor: Actor, subject: Subject) -> Response:
            result = enquiries.employment_status(ctx, actor, subject)
            return json_answer(EmploymentOut.of(result))

        return await caller.run(ssn, answer)

    return routes
