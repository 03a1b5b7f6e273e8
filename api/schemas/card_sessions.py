"""Bodies of ``/v1/card-sessions`` (the card's authentication with the key service).

Hex values are accepted in either case and answered in upper case. Nothing here
echoes a PIN: ``new_pin`` is a SecretStr, and its validation errors name the field
only.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, StrictBool, field_validator

from cardsvc.card.atr import historical_bytes
from cardsvc.card.errors import CardFormatError
from cardsvc.card.records import decode_card_id
from cardsvc.db.models import CancellationReason, CardState, Sex
from cardsvc.idcheck import is_valid_card_number

HEX8 = r"^[0-9A-Fa-f]{16}$"
CARD_NUMBER = r"^[0-9A-Z]{8}[0-9X]$"
PIN_DIGITS = frozenset("0123456789")


class TerminalActionName(StrEnum):
    """What the terminal must send to the card now (the `action` of card-commands)."""

    NONE = "none"
    APPLICATION_BLOCK = "application-block"
    APPLICATION_UNBLOCK = "application-unblock"


class CardCommandAction(StrEnum):
    APPLICATION_BLOCK = "application-block"
    APPLICATION_UNBLOCK = "application-unblock"
    EXTERNAL_AUTH_RKSSSE = "external-auth-rkssse"
    RELOAD_PIN = "reload-pin"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --------------------------------------------------------------------------- opening


class CardSessionRequest(_Strict):
    """What the terminal read from the card: ATR, EF05 tags 01, 07 (and 03), SELECT's algorithm."""

    card_id_code: str = Field(
        pattern=r"^[0-9A-Fa-f]{32}$",
        description="EF05 tag 01, 16 bytes as 32 hex digits: region (BCD) ‖ D156000005 ‖ "
        "chip serial ‖ issuer-unique",
        examples=["370402D1560000051A2B3C4D00000001"],
    )
    card_number: str = Field(
        pattern=CARD_NUMBER,
        description="EF05 tag 07: 8 characters 0-9/A-Z and the check character",
        examples=["A00000011"],
    )
    atr: str = Field(
        pattern=r"^([0-9A-Fa-f]{2}){8,33}$",
        description="the card's ATR in hex (its last 8 bytes are the diversification factor "
        "F1; the last 4 must be the chip serial of the card identification code)",
        examples=["3B6D00000081534D97868437041A2B3C4D"],
    )
    algorithm: Literal[1, 3] | None = Field(
        default=None,
        description="the algorithm byte of SELECT SSSE's answer (FCI tag 86): 1 = 3DES "
        "(generations 1/2), 3 = SM4 (generation 3). Give it or spec_version.",
    )
    spec_version: str | None = Field(
        default=None,
        pattern=r"^[1-3]\.[0-9]{2}$",
        description='EF05 tag 03, e.g. "2.00" (a blocked card answers SELECT with 6283 and no '
        "FCI: take the algorithm from here). Give it or algorithm.",
    )
    application_blocked: StrictBool | None = Field(
        default=None,
        description="what SELECT SSSE answered: true for 6283 (the application is blocked; "
        "the card cannot authenticate, see `blocked_card` in the answer), false for 9000/611B. "
        "The service records it as the card's application_blocked flag.",
    )

    @field_validator("card_id_code")
    @classmethod
    def _card_id(cls, value: str) -> str:
        try:
            decode_card_id(bytes.fromhex(value))
        except CardFormatError as exc:
            raise ValueError(exc.problem) from None
        return value.upper()

    @field_validator("card_number")
    @classmethod
    def _card_number(cls, value: str) -> str:
        if not is_valid_card_number(value):
            raise ValueError("the check character does not match")
        return value

    @field_validator("atr")
    @classmethod
    def _atr(cls, value: str) -> str:
        try:
            historical_bytes(bytes.fromhex(value))
        except CardFormatError as exc:
            raise ValueError(f"not an ISO 7816-3 ATR: {exc.problem}") from None
        return value.upper()


class Challenge(BaseModel):
    p: str = Field(description="8 random bytes (hex): P of INTERNAL AUTHENTICATE")
    s: str = Field(description="8 random bytes (hex): S of INTERNAL AUTHENTICATE")


class TerminalDecision(BaseModel):
    """What the terminal does with the card now (shared/domain.md §4, card lifecycle)."""

    action: TerminalActionName = Field(
        description="`application-block` / `application-unblock`: get the command from "
        "POST /v1/card-sessions/{id}/card-commands (after GET CHALLENGE on the card) and send "
        "it; `none`: nothing to send"
    )
    serve: bool = Field(
        description="false: the card is hotlisted (lost, temporarily lost, replaced, "
        "cancelled): serve nothing"
    )
    rule: str
    reasons: list[str]


class CardSessionOpened(BaseModel):
    session_id: str = Field(description="the card session's id (32 hex digits)")
    challenge: Challenge
    internal_authenticate: str = Field(
        description="the APDU to send to the card: 00 88 00 01 10 P ‖ S (on T=0 the card "
        "answers 61 08: fetch the 8-byte answer with GET RESPONSE 00 C0 00 00 08)"
    )
    algorithm: Literal[1, 3]
    expires_at: datetime = Field(description="prove (POST …/proof) before this time (UTC)")
    blocked_card: TerminalDecision | None = Field(
        default=None,
        description="only when application_blocked was true: a blocked card cannot answer "
        "INTERNAL AUTHENTICATE. `application-unblock`: the card's loss was cancelled: get "
        "the command from card-commands (allowed on this unproved session), send it, then "
        "start over; `none` with serve false: the card stays blocked, serve nothing",
    )


# --------------------------------------------------------------------------- proof


class CardProofRequest(_Strict):
    answer: str = Field(
        pattern=HEX8,
        description="the card's 8-byte answer to INTERNAL AUTHENTICATE (hex)",
        examples=["1E780E2489C56B7B"],
    )
    pin_verified: bool = Field(
        default=False,
        description="kiosks: true when the card accepted the holder's PIN (VERIFY 9000) in "
        "this presentation; needed for every kiosk item",
    )
    card_challenge: str | None = Field(
        default=None,
        pattern=HEX8,
        description="generation 3: the card's GET CHALLENGE (8 bytes, 00 84 00 00 08) sent "
        "right before this call; the answer then holds EXTERNAL AUTHENTICATE with RKSSSE, "
        "to send as the card's NEXT command (the challenge is valid for one command)",
    )


class CardInfo(BaseModel):
    card_number: str
    generation: int
    state: CardState = Field(description="the effective state now (a temporary loss may lapse)")
    on_hotlist: bool
    application_blocked: bool = Field(
        description="whether the card's application is blocked, as the service records it"
    )
    replacement_requested: bool
    expires_on: date
    cancellation_reason: CancellationReason | None = Field(
        default=None, description="why the card was cancelled (C08), where recorded"
    )


class HolderSummary(BaseModel):
    person_id: int
    ssn: str = Field(description="masked (370402********1238) for kiosks; in full for operators")
    name: str
    sex: Sex
    birth_date: date
    residence_site_code: str


class ApduOut(BaseModel):
    apdu: str = Field(description="the complete command APDU (hex) to send to the card")
    key_id: str = Field(description="the card key it uses (hex key id)")


class VerifiedCardSession(BaseModel):
    session_id: str = Field(description="send it as X-Card-Session on later calls")
    verified_at: datetime
    expires_at: datetime
    pin_verified: bool
    card: CardInfo
    holder: HolderSummary | None = Field(
        description="the card holder; null for a kiosk when the card is hotlisted (serve nothing)"
    )
    terminal: TerminalDecision
    external_authenticate: ApduOut | None = Field(
        description="generation 3 with card_challenge, card not hotlisted: EXTERNAL "
        "AUTHENTICATE with RKSSSE (00 82 00 0A 10 C ‖ X); after 9000, EF06 is readable"
    )


# --------------------------------------------------------------------------- card commands


class CardCommandRequest(_Strict):
    action: CardCommandAction = Field(
        description="`application-block` (hotlisted card), `application-unblock` (a card "
        "un-lost while blocked), `external-auth-rkssse` (generation 3: read EF06), "
        "`reload-pin` (operators with the clerk role, ID checked: sets a new PIN)"
    )
    card_challenge: str = Field(
        pattern=HEX8,
        description="the card's GET CHALLENGE (00 84 00 00 08) sent right before this call; "
        "send the answer's APDU as the card's NEXT command",
    )
    new_pin: SecretStr | None = Field(
        default=None,
        min_length=4,
        max_length=12,
        description="reload-pin only: the new PIN, 4-12 digits (never logged or stored)",
    )
    id_checked: bool = Field(
        default=False, description="reload-pin only: the holder's ID document was checked"
    )

    @field_validator("new_pin")
    @classmethod
    def _digits(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not set(value.get_secret_value()) <= PIN_DIGITS:
            raise ValueError("a PIN is 4 to 12 digits")
        return value


class CardCommandOut(ApduOut):
    action: CardCommandAction
    application_blocked: bool = Field(
        description="the card's application_blocked flag as the service now records it "
        "(set when a block/unblock command is issued; corrected at the next presentation "
        "from what SELECT answers)"
    )
