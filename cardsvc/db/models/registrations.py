"""Employment and unemployment registrations (GB/T 33532 / 33534)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from cardsvc.db.models.base import Base, UtcDateTime, enum_type
from cardsvc.db.models.enums import (
    ContractType,
    RegistrationKind,
    RegistrationStatus,
    SeparationReason,
)

_OPEN = text("status = 'open'")


class Registration(Base):
    """An employment (R01) or unemployment (R02) registration.

    The database refuses a second OPEN registration of the same kind for a
    person (partial unique index `uq_registrations_one_open_per_kind`, on both
    engines), whichever site or channel sends it.

    A closed employment registration may say when and why the employment ended
    (`end_date`, `separation_reason`): B01 reads the reason to decide whether it
    ended not of the person's own will.
    """

    __tablename__ = "registrations"
    __table_args__ = (
        Index(
            "uq_registrations_one_open_per_kind",
            "person_id",
            "kind",
            unique=True,
            postgresql_where=_OPEN,
            sqlite_where=_OPEN,
        ),
        CheckConstraint(
            "kind <> 'employment' OR "
            "(employer_id IS NOT NULL AND start_date IS NOT NULL AND contract_type IS NOT NULL)",
            name="employment_fields",
        ),
        CheckConstraint(
            "kind <> 'unemployment' OR certificate_no IS NOT NULL", name="unemployment_fields"
        ),
        CheckConstraint(
            "(status = 'open' AND closed_at IS NULL) "
            "OR (status = 'closed' AND closed_at IS NOT NULL)",
            name="closed_at",
        ),
        CheckConstraint(
            "kind = 'employment' OR (end_date IS NULL AND separation_reason IS NULL)",
            name="separation_fields",
        ),
        CheckConstraint(
            "end_date IS NULL OR start_date IS NULL OR end_date >= start_date", name="end_date"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    kind: Mapped[RegistrationKind] = mapped_column(enum_type(RegistrationKind, "kind"))
    status: Mapped[RegistrationStatus] = mapped_column(
        enum_type(RegistrationStatus, "registration_status")
    )
    site_code: Mapped[str] = mapped_column(String(12), ForeignKey("sites.code"))
    opened_at: Mapped[datetime] = mapped_column(UtcDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # employment registration
    employer_id: Mapped[int | None] = mapped_column(ForeignKey("employers.id"))
    start_date: Mapped[date | None] = mapped_column(Date)
    contract_type: Mapped[ContractType | None] = mapped_column(
        enum_type(ContractType, "contract_type")
    )
    end_date: Mapped[date | None] = mapped_column(Date)
    """The employment's last day, when it ended."""
    separation_reason: Mapped[SeparationReason | None] = mapped_column(
        enum_type(SeparationReason, "separation_reason")
    )
    # unemployment registration: the employment-and-entrepreneurship certificate number
    certificate_no: Mapped[str | None] = mapped_column(String(32), index=True)
