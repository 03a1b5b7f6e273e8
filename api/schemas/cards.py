"""Bodies of ``/v1/cards/{card_number}/…`` (C01-C08) and ``/v1/hotlist``."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from cardsvc.db.models import CardState
from cardsvc.services.items.cards import (
    CancellationReason,
    CardReplaced,
    CardStateChanged,
    HotlistPage,
    PinEvent,
    PinEventRecorded,
)

ID_CHECKED = "the clerk confirms the holder's ID document was checked (required for this item)"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LossReportRequest(_Strict):
    kind: Literal["temporary", "formal"] = Field(
        description="`temporary` (C01 临时挂失, lapses after 5 days unless made formal) or "
        "`formal` (C02 正式挂失, ID checked)"
    )
    id_checked: bool = Field(default=False, description="C02: " + ID_CHECKED)


class ReplacementRequest(_Strict):
    new_card_number: str = Field(
        pattern=r"^[0-9A-Z]{8}[0-9X]$", description="the new card's number (with its check)"
    )
    new_card_id_code: str = Field(
        pattern=r"^[0-9A-F]{32}$",
        description="the new card's identification code (32 upper-case hex digits)",
    )
    id_checked: bool = Field(default=False, description=ID_CHECKED)
    expires_on: date | None = Field(
        default=None, description="the new card's expiry (default: 10 years from today)"
    )


class PinReloadRequest(_Strict):
    id_checked: bool = Field(default=False, description=ID_CHECKED)


class CancellationRequest(_Strict):
    reason: CancellationReason = Field(description="why the card is cancelled (C08 注销)")


class CardStateChange(BaseModel):
    card_number: str
    person_id: int
    from_state: CardState = Field(description="the effective state before")
    to_state: CardState
    changed_at: datetime
    on_hotlist: bool = Field(description="whether the card is on the hotlist now")
    rule: str
    reasons: list[str]
    cancellation_reason: CancellationReason | None = Field(
        default=None,
        description="C08: why the card was cancelled (`to_state` cancelled); null otherwise",
    )

    @classmethod
    def of(
        cls, result: CardStateChanged, *, cancellation_reason: CancellationReason | None = None
    ) -> CardStateChange:
        return cls(
            card_number=result.card_number,
            person_id=result.person_id,
            from_state=result.from_state,
            to_state=result.to_state,
            changed_at=result.changed_at,
            on_hotlist=result.on_hotlist,
            rule=result.rule,
            reasons=list(result.reasons),
            cancellation_reason=cancellation_reason,
        )


class CardReplacement(BaseModel):
    old: CardStateChange
    new_card_number: str
    new_card_state: CardState
    issued_on: date
    expires_on: date

    @classmethod
    def of(cls, result: CardReplaced) -> CardReplacement:
        return cls(
            old=CardStateChange.of(result.old),
            new_card_number=result.new_card_number,
            new_card_state=result.new_card_state,
            issued_on=result.issued_on,
            expires_on=result.expires_on,
        )


class PinEventOut(BaseModel):
    card_number: str
    person_id: int
    event: PinEvent
    recorded_at: datetime
    note: str

    @classmethod
    def of(cls, result: PinEventRecorded) -> PinEventOut:
        return cls(
            card_number=result.card_number,
            person_id=result.person_id,
            event=result.event,
            recorded_at=result.recorded_at,
            note=result.note,
        )


class HotlistEntryOut(BaseModel):
    card_number: str
    state: CardState = Field(description="the effective state now")
    on_hotlist: bool = Field(
        description="true: block the card; false: take it off the terminal's list (un-lost, "
        "or a temporary loss that lapsed)"
    )
    changed_at: datetime


class HotlistOut(BaseModel):
    entries: list[HotlistEntryOut] = Field(
        description="without `since`: every hotlisted card; with it: every card whose standing "
        "changed at or after `since`, oldest first"
    )
    as_of: datetime = Field(description="the server time of this list (UTC)")
    next_since: datetime = Field(
        description="pass as `since` next time; a little before as_of, so entries may repeat: "
        "apply them idempotently"
    )

    @classmethod
    def of(cls, page: HotlistPage) -> HotlistOut:
        return cls(
            entries=[
                HotlistEntryOut(
                    card_number=e.card_number,
                    state=e.state,
                    on_hotlist=e.on_hotlist,
                    changed_at=e.changed_at,
                )
                for e in page.entries
            ],
            as_of=page.as_of,
            next_since=page.next_since,
        )
