"""Small record look-ups shared by several items (inside the caller's session)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cardsvc.db.models import (
    Contribution,
    InsuranceRelation,
    PensionEntitlement,
    Registration,
    RegistrationKind,
    RegistrationStatus,
    RelationStatus,
    Scheme,
)
from cardsvc.rules.months import YearMonth


def months_paid(session: Session, person_id: int, scheme: Scheme) -> int:
    """How many distinct months the person paid into `scheme`."""
    count = session.execute(
        select(func.count(func.distinct(Contribution.month))).where(
            Contribution.person_id == person_id, Contribution.scheme == scheme
        )
    ).scalar_one()
    return int(count or 0)


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
