"""Enquiries E01-E05: reads, journaled, no idempotency key.

Counter (clerk or supervisor, person in the operator's sites or presenting a card)
and kiosk (card + verified PIN; the SSN is masked). Lists are paginated with
``limit``/``offset`` and carry the ``total`` number of rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import cache

from sqlalchemy import bindparam, func, select

from cardsvc.db.driver_statements import DriverStatement
from cardsvc.db.models import (
    Benefit,
    BenefitPayment,
    ContractType,
    Contribution,
    Employer,
    EmploymentStatus,
    InsuranceRelation,
    ItemCode,
    PensionAccountYear,
    Registration,
    RegistrationKind,
    RegistrationStatus,
    RelationStatus,
    Scheme,
    SeparationReason,
)
from cardsvc.rules.months import YearMonth
from cardsvc.services.actors import Actor, Subject
from cardsvc.services.context import ServiceContext
from cardsvc.services.errors import ValidationFailed
from cardsvc.services.queries import last_closed_employment
from cardsvc.services.runner import Call, run_read
from cardsvc.services.views import PersonSummary, person_summary

DEFAULT_PAGE = 50
MAX_PAGE = 200


def _check_page(limit: int, offset: int) -> None:
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_PAGE:
        raise ValidationFailed("limit", f"must be 1..{MAX_PAGE}, got {limit!r}")
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise ValidationFailed("offset", f"must be 0 or more, got {offset!r}")


# -- E01 insurance participation ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Participation:
    scheme: Scheme
    status: RelationStatus
    start_date: date
    end_date: date | None
    employer_name: str | None


@dataclass(frozen=True, slots=True)
class InsuranceParticipation:
    person: PersonSummary
    relations: tuple[Participation, ...]
    """Every insurance relation, active ones first, then by scheme and start date."""


def insurance_participation(
    ctx: ServiceContext, actor: Actor, subject: Subject
) -> InsuranceParticipation:
    """E01: the schemes the person takes part in (or took part in), with status."""

    def body(call: Call) -> InsuranceParticipation:
        person = call.person_record(subject)
        rows = call.session.execute(
            select(InsuranceRelation, Employer.name)
            .outerjoin(Employer, Employer.id == InsuranceRelation.employer_id)
            .where(InsuranceRelation.person_id == person.id)
            .order_by(InsuranceRelation.start_date, InsuranceRelation.id)
        ).all()
        relations = [
            Participation(
                scheme=rel.scheme,
                status=rel.status,
                start_date=rel.start_date,
                end_date=rel.end_date,
                employer_name=employer,
            )
            for rel, employer in rows
        ]
        relations.sort(key=lambda p: (p.status is not RelationStatus.ACTIVE, p.scheme.value))
        call.note(rows=len(relations))
        return InsuranceParticipation(person_summary(actor, person), tuple(relations))

    return run_read(ctx, actor, ItemCode.E01, body)


# -- E02 contribution history ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ContributionLine:
    month: YearMonth
    scheme: Scheme
    base_fen: int
    employer_part_fen: int
    personal_part_fen: int
    employer_name: str | None
    paid_on: date | None = None
    """The day paid, where recorded (the yearly resident schemes)."""


@dataclass(frozen=True, slots=True)
class ContributionPage:
    person: PersonSummary
    scheme: Scheme | None
    """The filter asked for (None: every scheme)."""
    lines: tuple[ContributionLine, ...]
    """Newest month first; within a month by scheme."""
    total: int
    limit: int
    offset: int


def contribution_history(
    ctx: ServiceContext,
    actor: Actor,
    subject: Subject,
    *,
    scheme: Scheme | None = None,
    limit: int = DEFAULT_PAGE,
    offset: int = 0,
) -> ContributionPage:
    """E02: the person's monthly contributions, newest first, one page at a time."""

    def body(call: Call) -> ContributionPage:
        _check_page(limit, offset)
        person = call.person_record(subject)
        lines, total = _contribution_page(call, person.id, scheme, limit, offset)
        call.note(rows=len(lines), total=total, offset=offset)
        return ContributionPage(person_summary(actor, person), scheme, lines, total, limit, offset)

    return run_read(ctx, actor, ItemCode.E02, body)


_CONTRIBUTIONS = Contribution.__table__
_EMPLOYERS = Employer.__table__


@cache
def _page_statement(*, with_scheme: bool) -> DriverStatement:
    """One page of a person's contributions with the total (built once per variant).

    The total is a count in its own subquery, not ``count(*) OVER ()``: a window over
    the page's rows made PostgreSQL read, join and sort every contribution of the
    person to hand back one page. Now it walks ``ix_contributions_person_month``
    newest month first and stops after the page (sorting each month's few rows by
    scheme); the count reads the same index.
    """
    c = _CONTRIBUTIONS.c
    counted = _CONTRIBUTIONS.alias("counted")
    where = [c.person_id == bindparam("person_id")]
    count_where = [counted.c.person_id == bindparam("person_id")]
    if with_scheme:
        where.append(c.scheme == bindparam("scheme", type_=c.scheme.type))
        count_where.append(counted.c.scheme == bindparam("scheme", type_=c.scheme.type))
    total = select(func.count()).select_from(counted).where(*count_where).scalar_subquery()
    return DriverStatement(
        select(
            c.month,
            c.scheme,
            c.base_fen,
            c.employer_part_fen,
            c.personal_part_fen,
            _EMPLOYERS.c.name,
            c.paid_on,
            total,
        )
        .select_from(_CONTRIBUTIONS.outerjoin(_EMPLOYERS, _EMPLOYERS.c.id == c.employer_id))
        .where(*where)
        .order_by(c.month.desc(), c.scheme, c.id)
        .limit(bindparam("limit"))
        .offset(bindparam("offset"))
    )


def _contribution_page(
    call: Call, person_id: int, scheme: Scheme | None, limit: int, offset: int
) -> tuple[tuple[ContributionLine, ...], int]:
    """One page of the person's contributions and the number of rows over every page.

    Read as plain columns (no ORM entities: a page is up to 200 rows), on the driver's
    cursor (cardsvc.db.driver_statements). The total comes in the same statement; only a
    page past the last row, which returns no row to carry it, costs a separate count.
    """
    connection = call.session.connection()
    params: dict[str, object] = {"person_id": person_id, "limit": limit, "offset": offset}
    if scheme is not None:
        params["scheme"] = scheme
    rows = _page_statement(with_scheme=scheme is not None).rows(connection, params)
    if rows:
        total = int(rows[0][7])
    elif offset == 0:
        total = 0
    else:
        c = _CONTRIBUTIONS.c
        where = [c.person_id == person_id]
        if scheme is not None:
            where.append(c.scheme == scheme)
        total = int(
            connection.execute(
                select(func.count()).select_from(_CONTRIBUTIONS).where(*where)
            ).scalar_one()
        )
    lines = tuple(
        ContributionLine(
            month=YearMonth.from_number(month),
            scheme=row_scheme,
            base_fen=base,
            employer_part_fen=employer_part,
            personal_part_fen=personal_part,
            employer_name=employer,
            paid_on=paid_on,
        )
        for month, row_scheme, base, employer_part, personal_part, employer, paid_on, _ in rows
    )
    return lines, total


# -- E03 personal account ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AccountYear:
    year: int
    opening_fen: int
    credited_fen: int
    interest_rate: Decimal
    """0.0612 = 6.12 %."""
    interest_fen: int
    closing_fen: int


@dataclass(frozen=True, slots=True)
class PersonalAccount:
    person: PersonSummary
    years: tuple[AccountYear, ...]
    """The closed years of the personal pension account, oldest first."""
    balance_fen: int
    """The last closing balance (0 when no year is closed)."""
    uncredited_fen: int
    """Personal parts paid after the last closed year (credited, with interest, at year end)."""


def personal_account(ctx: ServiceContext, actor: Actor, subject: Subject) -> PersonalAccount:
    """E03: the yearly balances of the personal (8 %) pension account."""

    def body(call: Call) -> PersonalAccount:
        person = call.person_record(subject)
        years = tuple(
            AccountYear(
                year=row.year,
                opening_fen=row.opening_fen,
                credited_fen=row.credited_fen,
                interest_rate=row.interest_rate,
                interest_fen=row.interest_fen,
                closing_fen=row.closing_fen,
            )
            for row in call.session.execute(
                select(PensionAccountYear)
                .where(PensionAccountYear.person_id == person.id)
                .order_by(PensionAccountYear.year)
            ).scalars()
        )
        after = (years[-1].year + 1) * 100 if years else 0
        uncredited = call.session.execute(
            select(func.coalesce(func.sum(Contribution.personal_part_fen), 0)).where(
                Contribution.person_id == person.id,
                Contribution.scheme == Scheme.EMPLOYEE_PENSION,
                Contribution.month > after,
            )
        ).scalar_one()
        call.note(rows=len(years))
        return PersonalAccount(
            person=person_summary(actor, person),
            years=years,
            balance_fen=years[-1].closing_fen if years else 0,
            uncredited_fen=int(uncredited),
        )

    return run_read(ctx, actor, ItemCode.E03, body)


# -- E04 benefit payments ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PaymentLine:
    benefit: Benefit
    month: YearMonth
    amount_fen: int
    paid_on: date | None


@dataclass(frozen=True, slots=True)
class BenefitPage:
    person: PersonSummary
    benefit: Benefit | None
    lines: tuple[PaymentLine, ...]
    """Newest month first."""
    total: int
    total_amount_fen: int
    """The sum over every payment matching the filter (not only this page)."""
    limit: int
    offset: int


def benefit_payments(
    ctx: ServiceContext,
    actor: Actor,
    subject: Subject,
    *,
    benefit: Benefit | None = None,
    limit: int = DEFAULT_PAGE,
    offset: int = 0,
) -> BenefitPage:
    """E04: benefits paid to the person, newest first, one page at a time."""

    def body(call: Call) -> BenefitPage:
        _check_page(limit, offset)
        person = call.person_record(subject)
        where = [BenefitPayment.person_id == person.id]
        if benefit is not None:
            where.append(BenefitPayment.benefit == benefit)
        total, amount = call.session.execute(
            select(func.count(), func.coalesce(func.sum(BenefitPayment.amount_fen), 0)).where(
                *where
            )
        ).one()
        rows = call.session.execute(
            select(BenefitPayment)
            .where(*where)
            .order_by(BenefitPayment.month.desc(), BenefitPayment.benefit, BenefitPayment.id)
            .limit(limit)
            .offset(offset)
        ).scalars()
        lines = tuple(
            PaymentLine(
                benefit=p.benefit,
                month=YearMonth.parse(f"{p.month:06d}"),
                amount_fen=p.amount_fen,
                paid_on=p.paid_on,
            )
            for p in rows
        )
        call.note(rows=len(lines), total=int(total), offset=offset)
        return BenefitPage(
            person_summary(actor, person),
            benefit,
            lines,
            int(total),
            int(amount),
            limit,
            offset,
        )

    return run_read(ctx, actor, ItemCode.E04, body)


# -- E05 employment / unemployment status ------------------------------------------------


@dataclass(frozen=True, slots=True)
class RegistrationView:
    registration_id: int
    kind: RegistrationKind
    status: RegistrationStatus
    site_code: str
    opened_at: datetime
    closed_at: datetime | None
    employer_name: str | None
    start_date: date | None
    contract_type: ContractType | None
    certificate_no: str | None
    end_date: date | None = None
    """An ended employment's last day, where recorded."""
    separation_reason: SeparationReason | None = None
    """Why an ended employment ended, where recorded."""


@dataclass(frozen=True, slots=True)
class EmploymentStatusResult:
    person: PersonSummary
    employment_status: EmploymentStatus
    open_registrations: tuple[RegistrationView, ...]
    """At most one open registration of each kind."""
    last_ended_employment: RegistrationView | None = None
    """The most recently closed employment registration (when and why it ended)."""


def registration_view(registration: Registration, employer_name: str | None) -> RegistrationView:
    return RegistrationView(
        registration_id=registration.id,
        kind=registration.kind,
        status=registration.status,
        site_code=registration.site_code,
        opened_at=registration.opened_at,
        closed_at=registration.closed_at,
        employer_name=employer_name,
        start_date=registration.start_date,
        contract_type=registration.contract_type,
        certificate_no=registration.certificate_no,
        end_date=registration.end_date,
        separation_reason=registration.separation_reason,
    )


def employment_status(
    ctx: ServiceContext, actor: Actor, subject: Subject
) -> EmploymentStatusResult:
    """E05: the recorded employment status and the open registrations."""

    def body(call: Call) -> EmploymentStatusResult:
        person = call.person_record(subject)
        rows = call.session.execute(
            select(Registration, Employer.name)
            .outerjoin(Employer, Employer.id == Registration.employer_id)
            .where(
                Registration.person_id == person.id,
                Registration.status == RegistrationStatus.OPEN,
            )
            .order_by(Registration.kind, Registration.id)
        ).all()
        views = tuple(registration_view(reg, employer) for reg, employer in rows)
        ended = last_closed_employment(call.session, person.id)
        ended_view = None
        if ended is not None:
            employer = (
                call.session.get(Employer, ended.employer_id)
                if ended.employer_id is not None
                else None
            )
            ended_view = registration_view(ended, employer.name if employer else None)
        call.note(rows=len(views))
        return EmploymentStatusResult(
            person=person_summary(actor, person),
            employment_status=person.employment_status,
            open_registrations=views,
            last_ended_employment=ended_view,
        )

    return run_read(ctx, actor, ItemCode.E05, body)
