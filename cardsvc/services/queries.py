"""Small record look-ups shared by several items (inside the caller's session)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cardsvc.db.models import (
    Contribution,
    InsuranceRelation,
    PensionEntitlement,
    PriorContribution,
    Registration,
    RegistrationKind,
    RegistrationStatus,
    RelationStatus,
    Scheme,
)
from cardsvc.rules.months import YearMonth


def months_paid(session: Session, person_id: int, scheme: Scheme) -> int:
    """How many months the person paid into `scheme`, in all.

    The months summed before the detail began (:class:`PriorContribution`) plus the
    distinct months of the detail from then on (a detail row before `before_month`
    is already in the sum and not counted twice). The resident pension is paid
    yearly for the year: each distinct year paid counts 12 months. One statement.
    """
    mine = (PriorContribution.person_id == person_id, PriorContribution.scheme == scheme)
    before = select(PriorContribution.before_month).where(*mine).scalar_subquery()
    earlier = select(PriorContribution.months).where(*mine).scalar_subquery()
    # the resident pension is paid once a year, for the year: a year paid is 12 months
    yearly = scheme is Scheme.RESIDENT_PENSION
    counted = func.count(func.distinct(Contribution.month // 100 if yearly else Contribution.month))
    detail = (
        select(counted * 12 if yearly else counted)
        .where(
            Contribution.person_id == person_id,
            Contribution.scheme == scheme,
            Contribution.month >= func.coalesce(before, 0),
        )
        .scalar_subquery()
    )
    total = session.execute(select(func.coalesce(earlier, 0) + detail)).scalar_one()
    return int(total or 0)


def prior_months(session: Session, person_id: int) -> dict[Scheme, PriorContribution]:
    """The person's summed months before the detail, by scheme."""
    rows = session.execute(
        select(PriorContribution).where(PriorContribution.person_id == person_id)
    ).scalars()
    return {row.scheme: row for row in rows}


def latest_paid_month(session: Session, person_id: int, scheme: Scheme) -> YearMonth | None:
    month = session.execute(
        select(func.max(Contribution.month)).where(
            Contribution.person_id == person_id, Contribution.scheme == scheme
        )
    ).scalar_one_or_none()
    return None if month is None else YearMonth.parse(f"{int(month):06d}")


def open_registration(
    session: Session, person_id: int, kind: RegistrationKind
) -> Registration | None:
    return session.execute(
        select(Registration).where(
            Registration.person_id == person_id,
            Registration.kind == kind,
            Registration.status == RegistrationStatus.OPEN,
        )
    ).scalar_one_or_none()


def last_closed_employment(
    session: Session, person_id: int, *, closed_by: datetime | None = None
) -> Registration | None:
    """The person's most recently closed employment registration (closed by `closed_by`)."""
    query = select(Registration).where(
        Registration.person_id == person_id,
        Registration.kind == RegistrationKind.EMPLOYMENT,
        Registration.status == RegistrationStatus.CLOSED,
    )
    if closed_by is not None:
        query = query.where(Registration.closed_at <= closed_by)
    return (
        session.execute(
            query.order_by(Registration.closed_at.desc(), Registration.id.desc()).limit(1)
        )
        .scalars()
        .first()
    )


def active_relation(session: Session, person_id: int, scheme: Scheme) -> InsuranceRelation | None:
    return (
        session.execute(
            select(InsuranceRelation)
            .where(
                InsuranceRelation.person_id == person_id,
                InsuranceRelation.scheme == scheme,
                InsuranceRelation.status == RelationStatus.ACTIVE,
            )
            .order_by(InsuranceRelation.start_date.desc(), InsuranceRelation.id.desc())
        )
        .scalars()
        .first()
    )


def entitlements(session: Session, person_id: int) -> list[PensionEntitlement]:
    return list(
        session.execute(
            select(PensionEntitlement)
            .where(PensionEntitlement.person_id == person_id)
            .order_by(PensionEntitlement.id)
        ).scalars()
    )
