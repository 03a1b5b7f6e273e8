"""Persons (insured residents) and employers."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Date, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from cardsvc.db.models.base import Base, enum_type
from cardsvc.db.models.enums import EmploymentStatus, RetirementCategory, Sex


class Person(Base):
    """A resident. The surrogate `id` is the key everywhere: SSN and name can change (R05).

    `ssn` is the 18-character citizen ID (GB 11643; last character may be 'X').
    `name` is any Unicode text (GB 18030 covers all of Unicode, including
    characters outside the BMP). `nationality` is the 2-digit 民族 code of the
    card (GB/T 3304, '01' = 汉); `birthplace` the division code of the card.
    """

    __tablename__ = "persons"

    id: Mapped[int] = mapped_column(primary_key=True)
    ssn: Mapped[str] = mapped_column(String(18), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    sex: Mapped[Sex] = mapped_column(enum_type(Sex, "sex"))
    nationality: Mapped[str] = mapped_column(String(2))
    birth_date: Mapped[date] = mapped_column(Date)
    birthplace: Mapped[str | None] = mapped_column(String(12))
    household_registration: Mapped[str | None] = mapped_column(String(200))
    residence_site_code: Mapped[str] = mapped_column(
        String(12), ForeignKey("sites.code"), index=True
    )
    phone: Mapped[str | None] = mapped_column(String(20))
    address: Mapped[str | None] = mapped_column(String(200))
    employment_status: Mapped[EmploymentStatus] = mapped_column(
        enum_type(EmploymentStatus, "employment_status")
    )
    retirement_category: Mapped[RetirementCategory | None] = mapped_column(
        enum_type(RetirementCategory, "retirement_category")
    )


class Employer(Base):
    """An employer, keyed by its unified social credit code (GB 32100, 18 characters)."""

    __tablename__ = "employers"

    id: Mapped[int] = mapped_column(primary_key=True)
    credit_code: Mapped[str] = mapped_column(String(18), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    site_code: Mapped[str] = mapped_column(String(12), ForeignKey("sites.code"), index=True)
