"""Kiosks of the HTTP API benchmark: simulated cards (in-process) in front of the API.

Each benchmark kiosk holds one seeded resident's card, a :class:`simulators.ssc_card.
UserCard` loaded from the personalisation files ``cardsvc seed --cards-dir`` writes (demo
master keys, PIN 123456). What a kiosk does with the card and the API is the
walk-through of api/routes/card_sessions.py:

1. card in: reset, ``SELECT SSSE`` (the algorithm from the FCI);
2. ``POST /v1/card-sessions`` (card identification code, card number, ATR, algorithm)
   → the session id and the INTERNAL AUTHENTICATE APDU;
3. ``VERIFY`` the PIN on the card; send INTERNAL AUTHENTICATE (``GET RESPONSE`` on
   T=0); generation 3: ``GET CHALLENGE``;
4. ``POST /v1/card-sessions/{id}/proof`` (answer, ``pin_verified``, card challenge) →
   the verified session; generation 3: send its EXTERNAL AUTHENTICATE to the card.

:func:`verified_session` does 1-4 synchronously (for the E02-in-a-card-session
target); :func:`flow_step` is the whole kiosk flow as a load-generator step: 1-4,
then two enquiries with ``X-Card-Session`` (E02 contributions, E01 insurance), then
card out (``DELETE /v1/card-sessions/{id}``): five HTTP requests.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from cardsvc.seed.demo import DEMO_PIN
from simulators.ssc_card import UserCard

SELECT_SSSE = bytes.fromhex("00A404000F7378312E73682EC9E7BBE1B1A3D5CF")
GET_CHALLENGE = bytes.fromhex("0084000008")
SW_OK = b"\x90\x00"


class KioskError(Exception):
    """A simulated card or the API answered what a kiosk cannot go on with."""


@dataclass(frozen=True)
class KioskCard:
    """One kiosk's card, and what the kiosk read from it."""

    card: UserCard
    ssn: str
    presentation: dict[str, object]


def load_cards(paths: list[Path]) -> list[KioskCard]:
    cards = []
    for path in paths:
        card = UserCard.from_file(path)
        profile = card.profile
        presentation: dict[str, object] = {
            "card_id_code": profile.card_id_code.hex().upper(),
            "card_number": profile.card_number,
            "atr": profile.atr.hex().upper(),
            "algorithm": int(profile.algorithm),
        }
        cards.append(KioskCard(card=card, ssn=profile.ssn, presentation=presentation))
    return cards


def _transmit(card: UserCard, apdu: bytes, what: str) -> bytes:
    """The card's answer data (GET RESPONSE after 61xx); KioskError unless it ends 9000."""
    answer = card.transmit(apdu)
    if len(answer) == 2 and answer[0] == 0x61:
        answer = card.transmit(bytes([0x00, 0xC0, 0x00, 0x00, answer[1]]))
    if answer[-2:] != SW_OK:
        raise KioskError(f"{what}: the card answered {answer[-2:].hex().upper()}")
    return answer[:-2]


def card_in(kiosk: KioskCard) -> None:
    kiosk.card.reset()
    _transmit(kiosk.card, SELECT_SSSE, "SELECT SSSE")


def card_answers(kiosk: KioskCard, opened: dict[str, Any]) -> dict[str, object]:
    """PIN, INTERNAL AUTHENTICATE (and gen 3 GET CHALLENGE) → the proof body."""
    pin = bytes.fromhex(DEMO_PIN)
    _transmit(kiosk.card, bytes([0x00, 0x20, 0x00, 0x00, len(pin)]) + pin, "VERIFY")
    answer = _transmit(kiosk.card, bytes.fromhex(opened["internal_authenticate"]), "INT AUTH")
    proof: dict[str, object] = {"answer": answer.hex().upper(), "pin_verified": True}
    if kiosk.card.profile.generation >= 3:
        proof["card_challenge"] = _transmit(kiosk.card, GET_CHALLENGE, "GET CHALLENGE").hex()
    return proof


def after_proof(kiosk: KioskCard, verified: dict[str, Any]) -> None:
    if not verified["terminal"]["serve"]:
        raise KioskError(f"card {kiosk.presentation['card_number']} is hotlisted")
    external = verified.get("external_authenticate")
    if external is not None:
        _transmit(kiosk.card, bytes.fromhex(external["apdu"]), "EXTERNAL AUTHENTICATE")


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": "Bearer " + token}


def _json(response: httpx.Response, what: str, status: int) -> dict[str, Any]:
    if response.status_code != status:
        raise KioskError(f"{what} answered {response.status_code}: {response.text[:300]}")
    body: dict[str, Any] = response.json()
    return body


def verified_session(client: httpx.Client, kiosk: KioskCard, token: str) -> str:
    """Steps 1-4 over `client` (synchronous): the id of a PIN-verified card session."""
    card_in(kiosk)
    opened = _json(
        client.post("/v1/card-sessions", json=kiosk.presentation, headers=_auth(token)),
        "POST /v1/card-sessions",
        201,
    )
    session_id = str(opened["session_id"])
    verified = _json(
        client.post(
            f"/v1/card-sessions/{session_id}/proof",
            json=card_answers(kiosk, opened),
            headers=_auth(token),
        ),
        "POST …/proof",
        200,
    )
    after_proof(kiosk, verified)
    return session_id


def enquiry_paths(ssn: str) -> tuple[str, str]:
    """The flow's two enquiries: E02 contributions and E01 insurance."""
    return (f"/v1/persons/{ssn}/contributions", f"/v1/persons/{ssn}/insurance")


async def kiosk_flow(client: httpx.AsyncClient, kiosk: KioskCard, token: str) -> bool:
    """The whole flow once (five requests); False if any answer was not the expected one."""
    card_in(kiosk)
    response = await client.post("/v1/card-sessions", json=kiosk.presentation, headers=_auth(token))
    if response.status_code != 201:
        return False
    opened = response.json()
    session_id = opened["session_id"]
    response = await client.post(
        f"/v1/card-sessions/{session_id}/proof",
        json=card_answers(kiosk, opened),
        headers=_auth(token),
    )
    if response.status_code != 200:
        return False
    after_proof(kiosk, response.json())
    headers = {**_auth(token), "X-Card-Session": session_id}
    ok = True
    for path in enquiry_paths(kiosk.ssn):
        response = await client.get(path, headers=headers)
        ok = ok and response.status_code == 200
    response = await client.delete(f"/v1/card-sessions/{session_id}", headers=_auth(token))
    return ok and response.is_success
