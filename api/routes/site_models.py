"""Response bodies of the site routes (site, standards report, daily ledger) and the journal.

Areas are square metres (numbers); counts are integers; dates are local days of the
city (UTC+8), times UTC.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from api.routes.params import IsoDate
from cardsvc.db.models import ItemCode, Outcome, SiteLevel
from cardsvc.db.models.records import JournalEvent
from cardsvc.rules.site_standards import CheckName, CheckStatus, Verdict


def _number(value: object) -> object:
    return float(value) if isinstance(value, Decimal) else value


class SiteRef(BaseModel):
    code: str
    name: str
    level: SiteLevel


class SiteOut(BaseModel):
    """A site of the service network and the sites right below it."""

    code: str = Field(description="administrative division code (6, 9 or 12 digits)")
    name: str
    level: SiteLevel
    parent_code: str | None
    population_served: int | None = Field(description="null when not recorded")
    floor_area_m2: float | None = Field(description="null when not recorded")
    archive_area_m2: float | None = Field(description="null when not recorded")
    children: list[SiteRef] = Field(description="the sites right below, by code")


class CheckOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    name: CheckName
    required: str = Field(description='the requirement in words, e.g. "120–200 m²"')
    required_min: float
    required_max: float | None
    actual: float
    shortfall: float = Field(description="how much is missing (0 when met or over the range)")
    status: CheckStatus
    note: str

    @field_validator("required_min", "required_max", "actual", "shortfall", mode="before")
    @classmethod
    def numbers_as_float(cls, value: object) -> object:
        return _number(value)


class AssessmentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    code: str
    level: str = Field(description="city, district, township or station")
    name: str
    standard: str = Field(description="which standard applied")
    checks: list[CheckOut]
    verdict: Verdict
    findings: list[str] = Field(description="shortfalls, over-range figures, missing standards")

    @field_validator("level", mode="before")
    @classmethod
    def level_as_text(cls, value: object) -> object:
        return getattr(value, "value", value)


class SiteReportOut(BaseModel):
    """Each site of the subtree against the city plan's standards."""

    model_config = ConfigDict(from_attributes=True)

    site_code: str
    standard: str = Field(description="the plan the sites were measured against")
    assessments: list[AssessmentOut] = Field(description="the site and every site below it")
    short: list[str] = Field(description="codes of the sites short of the plan")
    unrecorded: list[str] = Field(description="figures missing from the site records")


class LedgerLineOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    site_code: str
    operator_id: int | None
    device_id: int | None
    window: str = Field(description='the operator\'s username, or "device NAME"')
    item: ItemCode
    outcome: Outcome
    count: int


class LedgerOut(BaseModel):
    """A day's business ledger (台账): counts per window, item and outcome."""

    site_code: str
    date: dt.date = Field(description="the local day (UTC+8)")
    closed_at: dt.datetime | None = Field(description="when the day was closed (null: still open)")
    total: int
    lines: list[LedgerLineOut]


class LedgerClosingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    date: IsoDate = Field(description="a finished local day (before today)")


class JournalEntryOut(BaseModel):
    id: int = Field(
        description="the global sequence number (increasing; rolled-back appends "
        "leave unused numbers)"
    )
    at: dt.datetime = Field(description="server time, UTC")
    site_code: str = Field(description="where the transaction was done")
    operator_id: int | None
    operator_username: str | None
    device_id: int | None
    card_number: str | None = Field(
        description="the card presented; masked (A000****1) when its holder lives outside "
        "the caller's sites"
    )
    person_id: int | None
    item: ItemCode
    outcome: Outcome
    detail: dict[str, Any] = Field(description="small, secret-free facts of the transaction")
    hash: str = Field(description="the entry's SHA-256 in the journal's hash chain")
    event: JournalEvent = Field(
        description="`item`: a business item call; `card_authentication`: a card refused "
        "by its internal authentication (forged or cloned), journaled with the item it "
        "was presented for"
    )
    lane: int = Field(description="the hash chain (lane) the entry belongs to")
    lane_seq: int = Field(description="the entry's position in its lane (1, 2, 3, …)")


class JournalPageOut(BaseModel):
    """Journal entries, newest first; ask again with ``cursor=next_cursor`` for older ones."""

    entries: list[JournalEntryOut]
    next_cursor: str | None = Field(description="opaque; null when there are no older entries")
