"""Sites: ``GET /v1/sites/{code}``, the standards report and the daily ledger (台账).

Scope: a caller sees its own site and the sites below it; any other site is a 404, the
same as a code that is no site. The site itself is open to every operator and device
of that subtree; the report and the ledger need the supervisor role (403 otherwise,
checked before the scope, so a refusal tells nothing about the code).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import select

from api.context import ApiContext
from api.deps import ActorDep, ContextDep, IdempotencyKeyDep
from api.errors import ApiError
from api.problem_types import ProblemType
from api.problems import problem_responses
from api.routes.params import (
    EARLIEST_DAY,
    IsoDate,
    SiteCodePath,
    StrictBoolean,
    day_in_range,
)
from api.routes.site_models import (
    AssessmentOut,
    LedgerClosingIn,
    LedgerLineOut,
    LedgerOut,
    SiteOut,
    SiteRef,
    SiteReportOut,
)
from api.routing import ApiRouter
from cardsvc.db.models import Role, Site
from cardsvc.services.actors import Actor
from cardsvc.services.items import ledger
from cardsvc.services.items.ledger import DailyLedgerReport
from cardsvc.services.scope import ensure_role, site_subtree

SITE_NOT_FOUND = (
    "`not-found`: no such site, or one outside the caller's site and the sites below it "
    "(the two are not told apart)"
)
SUPERVISOR_ONLY = "`forbidden`: needs an operator with the supervisor role"


def _site_not_found() -> ApiError:
    return ApiError("site not found", kind=ProblemType.NOT_FOUND)


def _invalid_day(detail: str) -> ApiError:
    return ApiError(detail, kind=ProblemType.INVALID_VALUE, field="date")


def _check_supervisor_site(context: ApiContext, actor: Actor, code: str) -> None:
    """403 unless a supervisor, 404 unless `code` is in the actor's sites (as the services)."""
    ensure_role(actor, Role.SUPERVISOR, "the daily ledger")
    with context.database.read_only_unit_of_work() as uow:
        if code not in site_subtree(uow.session, actor.site_code):
            raise _site_not_found()


def _ledger_out(report: DailyLedgerReport) -> LedgerOut:
    return LedgerOut(
        site_code=report.site_code,
        date=report.day,
        closed_at=report.closed_at,
        total=report.total,
        lines=[LedgerLineOut.model_validate(line, from_attributes=True) for line in report.lines],
    )


def router() -> APIRouter:
    routes = ApiRouter(prefix="/sites", tags=["sites"])

    @routes.get(
        "/{code}",
        summary="A site and the sites right below it",
        responses=problem_responses(s404=SITE_NOT_FOUND),
    )
    def get_site(actor: ActorDep, code: SiteCodePath, context: ContextDep) -> SiteOut:
        with context.database.read_only_unit_of_work() as uow:
            session = uow.session
            if code not in site_subtree(session, actor.site_code):
                raise _site_not_found()
            site = session.get(Site, code)
            if site is None:  # pragma: no cover - the subtree holds existing sites only
                raise _site_not_found()
            children = session.execute(
                select(Site).where(Site.parent_code == code).order_by(Site.code)
            ).scalars()
            return SiteOut(
                code=site.code,
                name=site.name,
                level=site.level,
                parent_code=site.parent_code,
                population_served=site.population_served,
                floor_area_m2=None if site.floor_area_m2 is None else float(site.floor_area_m2),
                archive_area_m2=(
                    None if site.archive_area_m2 is None else float(site.archive_area_m2)
                ),
                children=[SiteRef(code=c.code, name=c.name, level=c.level) for c in children],
            )

    @routes.get(
        "/{code}/report",
        summary="Each site of the subtree against the city plan's standards (supervisor)",
        responses=problem_responses(s403=SUPERVISOR_ONLY, s404=SITE_NOT_FOUND),
    )
    def get_site_report(actor: ActorDep, code: SiteCodePath, context: ContextDep) -> SiteReportOut:
        report = ledger.site_report(context.service_context(), actor, code)
        return SiteReportOut(
            site_code=report.site_code,
            standard=report.standard,
            assessments=[
                AssessmentOut.model_validate(a, from_attributes=True) for a in report.assessments
            ],
            short=[a.code for a in report.short],
            unrecorded=list(report.unrecorded),
        )

    @routes.get(
        "/{code}/ledger",
        summary="A day's business ledger of the site: counts per window, item, outcome "
        "(supervisor)",
        responses=problem_responses(s403=SUPERVISOR_ONLY, s404=SITE_NOT_FOUND),
    )
    def get_ledger(
        *,
        actor: ActorDep,
        code: SiteCodePath,
        context: ContextDep,
        day: Annotated[
            IsoDate | None,
            Query(alias="date", description="the local day (UTC+8); default today"),
        ] = None,
        include_sites_below: Annotated[
            StrictBoolean, Query(description="add the windows of every site below")
        ] = False,
    ) -> LedgerOut:
        services = context.service_context()
        if day is not None and not day_in_range(day):
            # no record is that old (or that far ahead): the day's ledger is empty
            _check_supervisor_site(context, actor, code)
            return LedgerOut(site_code=code, date=day, closed_at=None, total=0, lines=[])
        report = ledger.daily_ledger(
            services, actor, site_code=code, day=day, include_sites_below=include_sites_below
        )
        return _ledger_out(report)

    @routes.post(
        "/{code}/ledger-closings",
        summary="Close a finished day's ledger of the site (idempotent: closing again "
        "returns the stored lines) (supervisor)",
        responses=problem_responses(
            s403=SUPERVISOR_ONLY,
            s404=SITE_NOT_FOUND,
            s422="`invalid-request`: a malformed body; `invalid-value` (`field`: date): the "
            "day is not finished yet, or lies before the records begin (1900)",
        ),
    )
    def close_ledger(
        *,
        actor: ActorDep,
        code: SiteCodePath,
        body: LedgerClosingIn,
        idem: IdempotencyKeyDep,
        context: ContextDep,
    ) -> LedgerOut:
        del idem  # closing is idempotent in itself; the key makes the HTTP answer replayable
        services = context.service_context()
        _check_supervisor_site(context, actor, code)
        if body.date >= services.today():
            raise _invalid_day("only a finished day can be closed (a day before today)")
        if not day_in_range(body.date):
            raise _invalid_day(f"no records are kept before {EARLIEST_DAY.isoformat()}")
        report = ledger.close_daily_ledger(services, actor, site_code=code, day=body.date)
        return _ledger_out(report)

    return routes
