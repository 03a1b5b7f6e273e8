"""Operators, devices, and R05 changes waiting for a second operator."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    String,
    text,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from cardsvc.db.models.base import Base, UtcDateTime, enum_type
from cardsvc.db.models.enums import ChangeField, ChangeStatus, DeviceKind, Role


class RoleSet(TypeDecorator[frozenset[Role]]):
    """A set of roles stored as sorted comma-separated values ('clerk,reviewer')."""

    impl = String(64)
    cache_ok = True

    def process_bind_param(self, value: frozenset[Role] | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return ",".join(sorted(Role(r).value for r in value))

    def process_result_value(self, value: str | None, dialect: Dialect) -> frozenset[Role] | None:
        if value is None:
            return None
        return frozenset(Role(part) for part in value.split(",") if part)


class Operator(Base):
    """A person working a counter (or administering the service) at one site."""

    __tablename__ = "operators"
    __table_args__ = (CheckConstraint("failed_logins >= 0", name="failed_logins"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    site_code: Mapped[str] = mapped_column(String(12), ForeignKey("sites.code"), index=True)
    roles: Mapped[frozenset[Role]] = mapped_column(RoleSet)
    password_hash: Mapped[str] = mapped_column(String(255))
    failed_logins: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    locked_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())


class Device(Base):
    """A kiosk or counter terminal registered to a site."""

    __tablename__ = "devices"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[DeviceKind] = mapped_column(enum_type(DeviceKind, "device_kind"))
    site_code: Mapped[str] = mapped_column(String(12), ForeignKey("sites.code"), index=True)
    credential_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    registered_at: Mapped[datetime] = mapped_column(UtcDateTime)


_PENDING = text("status = 'pending'")


class PendingChange(Base):
    """An R05 name or ID-number change entered by one operator, decided by another.

    The database refuses a decision by the operator who requested the change,
    and a second pending change of the same field for the same person.
    """

    __tablename__ = "pending_changes"
    __table_args__ = (
        CheckConstraint(
            "decided_by_id IS NULL OR decided_by_id <> requested_by_id", name="second_operator"
        ),
        CheckConstraint(
            "(status = 'pending' AND decided_by_id IS NULL AND decided_at IS NULL) OR "
            "(status <> 'pending' AND decided_by_id IS NOT NULL AND decided_at IS NOT NULL)",
            name="decision",
        ),
        Index(
            "uq_pending_changes_one_pending",
            "person_id",
            "field",
            unique=True,
            postgresql_where=_PENDING,
            sqlite_where=_PENDING,
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    field: Mapped[ChangeField] = mapped_column(enum_type(ChangeField, "change_field"))
    old_value: Mapped[str] = mapped_column(String(100))
    new_value: Mapped[str] = mapped_column(String(100))
    status: Mapped[ChangeStatus] = mapped_column(enum_type(ChangeStatus, "change_status"))
    requested_by_id: Mapped[int] = mapped_column(ForeignKey("operators.id"))
    requested_at: Mapped[datetime] = mapped_column(UtcDateTime)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("operators.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    reason: Mapped[str | None] = mapped_column(String(200))
