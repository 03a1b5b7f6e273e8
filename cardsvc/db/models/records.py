"""Idempotency records, the transaction journal (and its chain head), daily ledgers.

The journal's behaviour (appending, hashing, verifying) is in cardsvc.db.journal.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from cardsvc.db.models.base import Base, UtcDateTime, enum_type
from cardsvc.db.models.enums import ItemCode, Outcome


class IdempotencyRecord(Base):
    """The stored answer to a request carrying an idempotency key, per scope."""

    __tablename__ = "idempotency_records"

    scope: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    response_json: Mapped[Any | None] = mapped_column(JSON)
    status_code: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)


class JournalEvent(StrEnum):
    """What a journal entry records (hashed with the entry; see cardsvc.db.journal)."""

    ITEM = "item"
    """A business item call (its code in ``item``): the normal entry."""
    CARD_AUTHENTICATION = "card_authentication"
    """A card refused by its internal authentication (a forged or cloned card)."""


class JournalEntry(Base):
    """One journaled transaction; append-only, hash-chained in lanes (see cardsvc.db.journal).

    `id` is the global sequence number; `lane` and `lane_seq` place the entry in
    one of the chains (`prev_hash` is the previous entry of the same lane).

    No foreign keys on purpose: the journal is evidence and keeps the values
    as they were when the transaction happened.
    """

    __tablename__ = "journal_entries"
    __table_args__ = (
        CheckConstraint("operator_id IS NULL OR device_id IS NULL", name="one_actor"),
        CheckConstraint("id >= 1", name="id_positive"),
        CheckConstraint("lane >= 1 AND lane_seq >= 1", name="lane_position"),
        CheckConstraint("version IN (1, 2)", name="version"),
        Index("ix_journal_entries_site_at", "site_code", "at"),
        Index("uq_journal_entries_lane_seq", "lane", "lane_seq", unique=True),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    site_code: Mapped[str] = mapped_column(String(12))
    operator_id: Mapped[int | None] = mapped_column(Integer)
    device_id: Mapped[int | None] = mapped_column(Integer)
    card_number: Mapped[str | None] = mapped_column(String(9), index=True)
    person_id: Mapped[int | None] = mapped_column(Integer, index=True)
    item: Mapped[ItemCode] = mapped_column(enum_type(ItemCode, "item"))
    outcome: Mapped[Outcome] = mapped_column(enum_type(Outcome, "outcome"))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    lane: Mapped[int] = mapped_column(SmallInteger, server_default=text("1"))
    lane_seq: Mapped[int] = mapped_column(BigInteger)
    event: Mapped[JournalEvent] = mapped_column(
        enum_type(JournalEvent, "journal_event"), server_default=text("'item'")
    )
    version: Mapped[int] = mapped_column(SmallInteger, server_default=text("2"))
    """The hash format (1: before lanes, migration 0005; 2: with lane, lane_seq, event)."""


class JournalHead(Base):
    """One row per journal lane (id = lane number): its last entry and that entry's hash.

    Appenders lock one lane's row (``SELECT … FOR UPDATE SKIP LOCKED`` on
    PostgreSQL: any free lane; SQLite has one writer and uses lane 1), which
    serialises the appends of that lane only; verification compares every lane
    with its chain, so a deleted last entry is found.
    """

    __tablename__ = "journal_head"
    __table_args__ = (
        CheckConstraint("id BETWEEN 1 AND 64", name="lane_number"),
        CheckConstraint("last_id >= 0", name="last_id"),
        CheckConstraint("last_seq >= 0", name="last_seq"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_id: Mapped[int] = mapped_column(BigInteger)
    """The global id of the lane's last entry (0: none yet)."""
    last_hash: Mapped[str] = mapped_column(String(64))
    last_seq: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    """How many entries the lane holds (its last entry's lane_seq)."""


_BY_OPERATOR = text("operator_id IS NOT NULL")
_BY_DEVICE = text("device_id IS NOT NULL")


class DailyLedger(Base):
    """One line of a window's daily business ledger (台账): count per item and outcome.

    A line belongs to an operator (a counter window) or to a device (a kiosk).
    """

    __tablename__ = "daily_ledgers"
    __table_args__ = (
        CheckConstraint("(operator_id IS NULL) <> (device_id IS NULL)", name="one_actor"),
        CheckConstraint("count >= 0", name="count"),
        Index(
            "uq_daily_ledgers_operator_line",
            "site_code",
            "ledger_date",
            "operator_id",
            "item",
            "outcome",
            unique=True,
            postgresql_where=_BY_OPERATOR,
            sqlite_where=_BY_OPERATOR,
        ),
        Index(
            "uq_daily_ledgers_device_line",
            "site_code",
            "ledger_date",
            "device_id",
            "item",
            "outcome",
            unique=True,
            postgresql_where=_BY_DEVICE,
            sqlite_where=_BY_DEVICE,
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    site_code: Mapped[str] = mapped_column(String(12), ForeignKey("sites.code"))
    ledger_date: Mapped[date] = mapped_column(Date)
    operator_id: Mapped[int | None] = mapped_column(ForeignKey("operators.id"))
    device_id: Mapped[int | None] = mapped_column(ForeignKey("devices.id"))
    item: Mapped[ItemCode] = mapped_column(enum_type(ItemCode, "item"))
    outcome: Mapped[Outcome] = mapped_column(enum_type(Outcome, "outcome"))
    count: Mapped[int] = mapped_column(Integer)
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
