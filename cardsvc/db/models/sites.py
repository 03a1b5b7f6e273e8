"""Sites (the service network tree) and their staff."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import CheckConstraint, Date, ForeignKey, Integer, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from cardsvc.db.models.base import Base, enum_type
from cardsvc.db.models.enums import Degree, SiteLevel


class Site(Base):
    """A node of the tree city → district → township office → station.

    `code` is the administrative division code: 6 digits for city and district,
    9 for a township, 12 for a community/village station.
    """

    __tablename__ = "sites"
    __table_args__ = (
        CheckConstraint("length(code) IN (6, 9, 12)", name="code_length"),
        CheckConstraint("population_served IS NULL OR population_served >= 0", name="population"),
        CheckConstraint("floor_area_m2 IS NULL OR floor_area_m2 >= 0", name="floor_area"),
        CheckConstraint("archive_area_m2 IS NULL OR archive_area_m2 >= 0", name="archive_area"),
    )

    code: Mapped[str] = mapped_column(String(12), primary_key=True)
    parent_code: Mapped[str | None] = mapped_column(
        String(12), ForeignKey("sites.code"), index=True
    )
    level: Mapped[SiteLevel] = mapped_column(enum_type(SiteLevel, "site_level"))
    name: Mapped[str] = mapped_column(String(100))
    population_served: Mapped[int | None] = mapped_column(Integer)
    floor_area_m2: Mapped[Decimal | None] = mapped_column(Numeric(10, 2))
    archive_area_m2: Mapped[Decimal | None] = mapped_column(Numeric(10, 2))

    parent: Mapped[Site | None] = relationship(remote_side=[code], back_populates="children")
    children: Mapped[list[Site]] = relationship(back_populates="parent")


class Staff(Base):
    """A staff member of a site (site reports count them against the plan's standard)."""

    __tablename__ = "staff"

    id: Mapped[int] = mapped_column(primary_key=True)
    site_code: Mapped[str] = mapped_column(String(12), ForeignKey("sites.code"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    degree: Mapped[Degree] = mapped_column(enum_type(Degree, "degree"))
    hired_on: Mapped[date] = mapped_column(Date)
