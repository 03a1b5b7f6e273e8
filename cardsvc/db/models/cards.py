"""Social security cards and their state (the hotlist is every card not issued/active)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Integer,
    SmallInteger,
    String,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from cardsvc.db.models.base import Base, UtcDateTime, enum_type
from cardsvc.db.models.enums import CancellationReason, CardState


class Card(Base):
    """One physical card.

    `card_number` is the 9-character card number (EF05 tag 07), `card_id_code`
    the 32 hex digits of the 16-byte card identification code (EF05 tag 01).
    `ssn` is the number personalised on the card (the person's SSN may change
    later). `version` is SQLAlchemy's version counter: an UPDATE of a card
    that another transaction changed since it was read raises
    `sqlalchemy.orm.exc.StaleDataError`. `cancellation_reason` says why a cancelled
    card was cancelled (C08); it is NULL on every other card, and on cards cancelled
    before migration 0004 recorded it.
    """

    __tablename__ = "cards"
    __table_args__ = (
        CheckConstraint("generation IN (1, 2, 3)", name="generation"),
        CheckConstraint("expires_on > issued_on", name="validity"),
        CheckConstraint(
            "cancellation_reason IS NULL OR state = 'cancelled'", name="cancellation_reason_state"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    card_number: Mapped[str] = mapped_column(String(9), unique=True)
    card_id_code: Mapped[str] = mapped_column(String(32), unique=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    ssn: Mapped[str] = mapped_column(String(18), index=True)
    generation: Mapped[int] = mapped_column(SmallInteger)
    issued_on: Mapped[date] = mapped_column(Date)
    expires_on: Mapped[date] = mapped_column(Date)
    state: Mapped[CardState] = mapped_column(enum_type(CardState, "card_state"))
    state_changed_at: Mapped[datetime] = mapped_column(UtcDateTime)
    replacement_requested: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )
    application_blocked: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )
    cancellation_reason: Mapped[CancellationReason | None] = mapped_column(
        enum_type(CancellationReason, "cancellation_reason")
    )
    replaces_card_id: Mapped[int | None] = mapped_column(ForeignKey("cards.id"))
    version: Mapped[int] = mapped_column(Integer)

    __mapper_args__: dict[str, Any] = {"version_id_col": version}  # noqa: RUF012
