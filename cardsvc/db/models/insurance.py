"""Insurance relations, contributions, personal pension accounts, benefits, pensions.

Money is in fen (integers).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from cardsvc.db.models.base import Base, UtcDateTime, enum_type
from cardsvc.db.models.enums import Benefit, Channel, RelationStatus, Scheme

# A month is stored as the integer YYYYMM.
_ACTIVE = text("status = 'active'")
_MONTH_CHECK = "{col} BETWEEN 190001 AND 999912 AND {col} % 100 BETWEEN 1 AND 12"


class InsuranceRelation(Base):
    """Person × scheme participation, with the employer that insures them (if any).

    At most one ACTIVE relation per person and scheme (partial unique index
    `uq_insurance_relations_one_active_per_scheme`, on both engines).
    """

    __tablename__ = "insurance_relations"
    __table_args__ = (
        CheckConstraint("end_date IS NULL OR end_date >= start_date", name="dates"),
        Index("ix_insurance_relations_person_scheme", "person_id", "scheme"),
        Index(
            "uq_insurance_relations_one_active_per_scheme",
            "person_id",
            "scheme",
            unique=True,
            postgresql_where=_ACTIVE,
            sqlite_where=_ACTIVE,
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"))
    scheme: Mapped[Scheme] = mapped_column(enum_type(Scheme, "scheme"))
    status: Mapped[RelationStatus] = mapped_column(enum_type(RelationStatus, "relation_status"))
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date | None] = mapped_column(Date)
    employer_id: Mapped[int | None] = mapped_column(ForeignKey("employers.id"), index=True)


class Contribution(Base):
    """One month's contribution of a person to a scheme (base and both parts in fen).

    `paid_on` is the day it was paid, where that matters and is known: the yearly
    resident schemes (resident medical covers the next year only when paid in the
    collection period). Monthly employee contributions leave it NULL.
    """

    __tablename__ = "contributions"
    __table_args__ = (
        UniqueConstraint("person_id", "scheme", "month"),
        Index("ix_contributions_person_month", "person_id", "month"),
        CheckConstraint(_MONTH_CHECK.format(col="month"), name="month"),
        CheckConstraint(
            "base_fen >= 0 AND employer_part_fen >= 0 AND personal_part_fen >= 0",
            name="amounts",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"))
    scheme: Mapped[Scheme] = mapped_column(enum_type(Scheme, "scheme"))
    month: Mapped[int] = mapped_column(Integer)
    base_fen: Mapped[int] = mapped_column(BigInteger)
    employer_part_fen: Mapped[int] = mapped_column(BigInteger)
    personal_part_fen: Mapped[int] = mapped_column(BigInteger)
    employer_id: Mapped[int | None] = mapped_column(ForeignKey("employers.id"), index=True)
    paid_on: Mapped[date | None] = mapped_column(Date)


class PriorContribution(Base):
    """Months a person paid into a scheme before the monthly detail on record begins.

    Contribution rows are kept for a window of recent years; older months paid are
    summed here (one row per person and scheme). `before_month` (YYYYMM) is the
    first month of the detail: the months counted here all lie before it, so
    months paid = `months` + the distinct detail months from `before_month` on.
    """

    __tablename__ = "prior_contribution_months"
    __table_args__ = (
        CheckConstraint("months >= 0", name="months"),
        CheckConstraint(_MONTH_CHECK.format(col="before_month"), name="before_month"),
    )

    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), primary_key=True)
    scheme: Mapped[Scheme] = mapped_column(enum_type(Scheme, "scheme"), primary_key=True)
    months: Mapped[int] = mapped_column(Integer)
    before_month: Mapped[int] = mapped_column(Integer)


class PensionAccountYear(Base):
    """A year of the personal pension account: closing = opening + credited + interest."""

    __tablename__ = "pension_account_years"
    __table_args__ = (
        UniqueConstraint("person_id", "year"),
        CheckConstraint(
            "closing_fen = opening_fen + credited_fen + interest_fen", name="closing_balance"
        ),
        CheckConstraint("interest_rate >= 0", name="interest_rate"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"))
    year: Mapped[int] = mapped_column(Integer)
    opening_fen: Mapped[int] = mapped_column(BigInteger)
    credited_fen: Mapped[int] = mapped_column(BigInteger)
    interest_rate: Mapped[Decimal] = mapped_column(Numeric(8, 6))  # 0.0612 = 6.12 %
    interest_fen: Mapped[int] = mapped_column(BigInteger)
    closing_fen: Mapped[int] = mapped_column(BigInteger)


class BenefitPayment(Base):
    """A benefit paid to a person for a month (one payment per benefit and month)."""

    __tablename__ = "benefit_payments"
    __table_args__ = (
        UniqueConstraint("person_id", "benefit", "month"),
        CheckConstraint(_MONTH_CHECK.format(col="month"), name="month"),
        CheckConstraint("amount_fen >= 0", name="amount"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"))
    benefit: Mapped[Benefit] = mapped_column(enum_type(Benefit, "benefit"))
    month: Mapped[int] = mapped_column(Integer)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    paid_on: Mapped[date | None] = mapped_column(Date)


class PensionEntitlement(Base):
    """A pension in payment, with its certification state (B02).

    `suspended_since` is set when certification is overdue and cleared when the
    pensioner is certified again (the suspended months are then back-paid).
    """

    __tablename__ = "pension_entitlements"
    __table_args__ = (
        UniqueConstraint("person_id", "scheme"),
        CheckConstraint("monthly_pension_fen >= 0", name="amount"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"))
    scheme: Mapped[Scheme] = mapped_column(enum_type(Scheme, "scheme"))
    monthly_pension_fen: Mapped[int] = mapped_column(BigInteger)
    started_on: Mapped[date] = mapped_column(Date)
    last_certified_on: Mapped[date | None] = mapped_column(Date)
    suspended_since: Mapped[date | None] = mapped_column(Date)


class PensionCertification(Base):
    """One qualification certification (资格认证): at a counter by an operator or at a kiosk."""

    __tablename__ = "pension_certifications"
    __table_args__ = (
        CheckConstraint(
            "(channel = 'counter' AND operator_id IS NOT NULL) "
            "OR (channel = 'kiosk' AND device_id IS NOT NULL)",
            name="actor",
        ),
        CheckConstraint("back_paid_months >= 0", name="back_paid_months"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    entitlement_id: Mapped[int] = mapped_column(ForeignKey("pension_entitlements.id"), index=True)
    certified_at: Mapped[datetime] = mapped_column(UtcDateTime)
    channel: Mapped[Channel] = mapped_column(enum_type(Channel, "channel"))
    site_code: Mapped[str] = mapped_column(String(12), ForeignKey("sites.code"))
    operator_id: Mapped[int | None] = mapped_column(ForeignKey("operators.id"))
    device_id: Mapped[int | None] = mapped_column(ForeignKey("devices.id"))
    back_paid_months: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
