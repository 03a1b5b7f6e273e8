"""The card's presentation to the API (shared/ssc-card.md §4/§9, the API's card sessions).

`prove` runs one challenge/proof for one caller (the station's device, or a clerk
whose token the agent was given): POST /v1/card-sessions, the card's INTERNAL
AUTHENTICATE answer, (gen 3 without a PSAM) GET CHALLENGE, POST …/proof, and the
EXTERNAL AUTHENTICATE the API hands back. `send_command` runs GET CHALLENGE, asks the
API for a secure-messaging command (block, unblock, reload PIN) and sends it.
`unblock_if_told` handles a card that answered SELECT with 6283.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from cardsvc.card.errors import CardStatusError
from cardsvc.card.records import IssuerInfo
from cardsvc.card.session import SscSession
from cardsvc.card.transport import exchange
from cardsvc.client import ApiClient
from cardsvc.station.reading import presentation_body

logger = logging.getLogger(__name__)

BLOCK = "application-block"
UNBLOCK = "application-unblock"
NONE = "none"


@dataclass(frozen=True, slots=True)
class BlockedOutcome:
    """What the API said about a card whose application is blocked."""

    decision: dict[str, Any]
    unblocked: bool


def send_apdu(session: SscSession, apdu_hex: str, what: str) -> bytes:
    """Send an APDU the API built; its data (CardStatusError unless 9000)."""
    response = exchange(session.connection, bytes.fromhex(apdu_hex))
    if not response.ok:
        raise CardStatusError(response.sw, what)
    return response.data


def prove(
    api: ApiClient,
    session: SscSession,
    issuer: IssuerInfo,
    *,
    pin_verified: bool,
    rkssse: bool,
) -> dict[str, Any]:
    """One challenge and proof for `api`'s caller → the VerifiedCardSession JSON.

    `rkssse` (generation 3, no PSAM did it): ask for EXTERNAL AUTHENTICATE with RKSSSE
    and send it at once, so EF06 becomes readable.
    """
    opened = api.open_card_session(presentation_body(issuer, session.atr, blocked=False))
    with session.connection.transaction():
        answer = send_apdu(session, opened["internal_authenticate"], "INTERNAL AUTHENTICATE")
        challenge = session.get_challenge() if rkssse else None
    verified = api.prove_card_session(
        opened["session_id"], answer, pin_verified=pin_verified, card_challenge=challenge
    )
    external = verified.get("external_authenticate")
    if challenge is not None and isinstance(external, dict):
        send_apdu(session, str(external["apdu"]), "EXTERNAL AUTHENTICATE")
    return verified


def send_command(
    api: ApiClient,
    session: SscSession,
    session_id: str,
    action: str,
    *,
    new_pin: str | None = None,
    id_checked: bool = False,
) -> dict[str, Any]:
    """GET CHALLENGE, the API's command for it, and the command sent to the card."""
    with session.connection.transaction():
        challenge = session.get_challenge()
        command = api.card_command(
            session_id, action, challenge, new_pin=new_pin, id_checked=id_checked
        )
        send_apdu(session, str(command["apdu"]), action)
    logger.info("card %s: %s sent", session_id[:8], action)
    return command


def unblock_if_told(api: ApiClient, session: SscSession, issuer: IssuerInfo) -> BlockedOutcome:
    """A card whose application is blocked: open with application_blocked, follow the answer.

    `application-unblock` (its loss was cancelled): the command is sent and the SSSE
    selected again. Otherwise the card stays blocked (serve nothing).
    """
    opened = api.open_card_session(presentation_body(issuer, session.atr, blocked=True))
    decision = opened.get("blocked_card") or {
        "action": NONE,
        "serve": False,
        "rule": "blocked card",
        "reasons": [],
    }
    if decision.get("action") != UNBLOCK:
        return BlockedOutcome(dict(decision), unblocked=False)
    send_command(api, session, str(opened["session_id"]), UNBLOCK)
    session.select()
    return BlockedOutcome(dict(decision), unblocked=True)
