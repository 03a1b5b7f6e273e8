"""State of the HTTP API that every API process must share (so it lives in the database).

- `ApiToken`: bearer tokens of operators and devices, stored as SHA-256 hashes only,
  with their expiry and revocation time (revocation is effective at once, in every
  process, because every request looks its token up).
- `RateCounter`: fixed-window request counters per operator / device (and failed
  device sign-ins), incremented with an atomic upsert.
- `HttpIdempotencyRecord`: the stored HTTP response of a write, per caller and
  ``Idempotency-Key`` (distinct from the services' own `IdempotencyRecord`, which
  stores business results in the same transaction as their effect).
- `CardChallenge`, `CardSession`: the internal-authentication challenges the API
  issues to cards and the card sessions verified with them (single-use challenges:
  consume one with ``UPDATE … SET used_at = now WHERE id = ? AND used_at IS NULL AND
  expires_at > now`` and check that exactly one row changed).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from cardsvc.db.models.base import Base, UtcDateTime, enum_type

_ONE_ACTOR = "(operator_id IS NULL) <> (device_id IS NULL)"


class IdempotencyState(StrEnum):
    """Where a write carrying an ``Idempotency-Key`` is."""

    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"


class ApiToken(Base):
    """A bearer token issued to an operator or a device. The token itself is never stored."""

    __tablename__ = "api_tokens"
    __table_args__ = (CheckConstraint(_ONE_ACTOR, name="one_actor"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    """Hex SHA-256 of the token string."""
    operator_id: Mapped[int | None] = mapped_column(ForeignKey("operators.id"), index=True)
    device_id: Mapped[int | None] = mapped_column(ForeignKey("devices.id"), index=True)
    issued_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class RateCounter(Base):
    """How many requests `subject` made in the fixed window starting at `window_start`.

    Subjects: ``operator:<id>``, ``device:<id>``, ``device-login:<id>`` (failed sign-ins).
    """

    __tablename__ = "rate_counters"
    # UNLOGGED on PostgreSQL (migration 0007; the schema comes from the migrations): no
    # WAL and no flush per counted request; emptied by a crash of the database server.
    __table_args__ = (CheckConstraint("count >= 0", name="count"),)

    subject: Mapped[str] = mapped_column(String(96), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(UtcDateTime, primary_key=True, index=True)
    count: Mapped[int] = mapped_column(Integer)


class HttpIdempotencyRecord(Base):
    """A write request under an ``Idempotency-Key``: claimed, then its response stored.

    `scope` is the caller (``operator:<id>`` or ``device:<id>``). `claim_token` is
    the random value of the process working on it; a retry takes over an
    in-progress row older than the configured timeout by replacing the token.
    """

    __tablename__ = "http_idempotency_records"
    __table_args__ = (
        CheckConstraint(
            "state <> 'completed' OR (status_code IS NOT NULL AND completed_at IS NOT NULL)",
            name="completed_response",
        ),
    )

    scope: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    method: Mapped[str] = mapped_column(String(10))
    path: Mapped[str] = mapped_column(String(512))
    request_hash: Mapped[str] = mapped_column(String(64))
    state: Mapped[IdempotencyState] = mapped_column(
        enum_type(IdempotencyState, "idempotency_state")
    )
    claim_token: Mapped[str] = mapped_column(String(32))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    completed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    status_code: Mapped[int | None] = mapped_column(Integer)
    response_headers: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    response_body: Mapped[bytes | None] = mapped_column(LargeBinary)


class CardChallenge(Base):
    """An INTERNAL AUTHENTICATE challenge (P ‖ S) issued to a card; answered once.

    `algorithm` is the SSSE algorithm byte (cardsvc.crypto.Algorithm: 1 3DES, 3 SM4).
    """

    __tablename__ = "card_challenges"
    __table_args__ = (
        CheckConstraint(_ONE_ACTOR, name="one_actor"),
        CheckConstraint("algorithm IN (1, 3)", name="algorithm"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    card_number: Mapped[str] = mapped_column(String(9), index=True)
    card_id_code: Mapped[str] = mapped_column(String(32))
    atr_hex: Mapped[str] = mapped_column(String(66))
    algorithm: Mapped[int] = mapped_column(SmallInteger)
    challenge_p_hex: Mapped[str] = mapped_column(String(32))
    challenge_s_hex: Mapped[str] = mapped_column(String(32))
    operator_id: Mapped[int | None] = mapped_column(ForeignKey("operators.id"))
    device_id: Mapped[int | None] = mapped_column(ForeignKey("devices.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class CardSession(Base):
    """A card verified by its answer to a challenge, for one person and one actor."""

    __tablename__ = "card_sessions"
    __table_args__ = (CheckConstraint(_ONE_ACTOR, name="one_actor"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    challenge_id: Mapped[str | None] = mapped_column(ForeignKey("card_challenges.id"), unique=True)
    card_number: Mapped[str] = mapped_column(String(9), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    operator_id: Mapped[int | None] = mapped_column(ForeignKey("operators.id"))
    device_id: Mapped[int | None] = mapped_column(ForeignKey("devices.id"))
    pin_verified: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    verified_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
