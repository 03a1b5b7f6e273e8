"""The station's view of the card in its reader (`PresentedCard`) and its events."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from cardsvc.card.records import Cardholder, IssuerInfo
from cardsvc.card.session import SscSession
from cardsvc.idcheck import mask_ssn
from cardsvc.station.reading import ALGORITHM_NAMES, basic_json, holder_json
from reader_driver.processors import CardChannel

CARD_INSERTED = "card-inserted"
CARD_REMOVED = "card-removed"
CARD_ERROR = "card-error"
READER_ADDED = "reader-added"
READER_REMOVED = "reader-removed"


@dataclass(frozen=True, slots=True)
class StationEvent:
    """One event for subscribers: `kind` (card-inserted, …) and its JSON data."""

    kind: str
    data: dict[str, Any]


@dataclass(eq=False)
class PresentedCard:
    """The card in the card reader: what was read, what the API decided, the sessions."""

    reader: str
    channel: CardChannel
    session: SscSession
    inserted_at: dt.datetime
    issuer: IssuerInfo | None = None
    holder: Cardholder | None = None
    authenticated_by: str | None = None  # "psam" | "key-service"
    forged: bool = False
    state: str | None = None
    on_hotlist: bool | None = None
    application_blocked: bool = False
    serve: bool = False
    terminal_action: str = "none"
    api_holder: dict[str, Any] | None = None
    pin_verified: bool = False
    device_session: str | None = None
    # (session id, caller's token): ended when the card goes out
    caller_sessions: list[tuple[str, str]] = field(default_factory=list)
    error: dict[str, Any] | None = None

    @property
    def readable(self) -> bool:
        """EF05 was read: the card is known by its number."""
        return self.issuer is not None

    def apply_verified(self, verified: dict[str, Any]) -> None:
        """Take the card's standing and holder from a VerifiedCardSession answer."""
        card = verified.get("card") or {}
        terminal = verified.get("terminal") or {}
        self.state = card.get("state")
        self.on_hotlist = bool(card.get("on_hotlist"))
        self.serve = bool(terminal.get("serve"))
        self.terminal_action = str(terminal.get("action") or "none")
        holder = verified.get("holder")
        if isinstance(holder, dict):
            self.api_holder = {
                "name": holder.get("name"),
                "sex": holder.get("sex"),
                "birth_date": holder.get("birth_date"),
                "ssn": mask_ssn(str(holder.get("ssn") or "")),
            }
        self.pin_verified = bool(verified.get("pin_verified")) or self.pin_verified

    def to_json(self) -> dict[str, Any]:
        """The agent's GET /v1/card answer (no PIN, the SSN masked)."""
        issuer = self.issuer
        assert issuer is not None
        holder: dict[str, Any] | None = None
        if self.serve:
            if self.api_holder is not None:
                holder = self.api_holder
            elif self.holder is not None:
                holder = holder_json(self.holder)
        return {
            "reader": self.reader,
            "card_number": issuer.card_number,
            "generation": issuer.generation,
            "algorithm": ALGORITHM_NAMES[issuer.algorithm],
            "authenticated_by": self.authenticated_by,
            "basic": basic_json(issuer, self.holder if self.serve else None),
            "state": self.state,
            "on_hotlist": self.on_hotlist,
            "application_blocked": self.application_blocked,
            "serve": self.serve,
            "terminal_action": self.terminal_action,
            "holder": holder,
            "pin_verified": self.pin_verified,
            "inserted_at": self.inserted_at.isoformat(),
            "error": self.error,
        }
