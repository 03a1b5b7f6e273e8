"""A terminal's card session with the API, done in this process (no station agent).

The walk-through of api/routes/card_sessions.py on a card behind any
`CardTransport`: SELECT SSSE (6283: the application is blocked), READ RECORD of
EF05 tags 01, 03 and 07, open the session, VERIFY the PIN (kiosks), INTERNAL
AUTHENTICATE, GET CHALLENGE on generation 3, the proof, the EXTERNAL
AUTHENTICATE the answer carries, and the terminal's decision: APPLICATION BLOCK
for a hotlisted card, APPLICATION UNBLOCK for a card un-lost while blocked
(then the card is presented again). The demo uses it (with `sessions`) only where
the station agents cannot start.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from cardsvc.card.errors import ApplicationBlocked
from cardsvc.card.session import SscSession
from cardsvc.card.transport import CardTransport, exchange
from cardsvc.client import ApiClient
from cardsvc.demo.errors import DemoError

EF05_SFI: Final = 0x05
TAG_CARD_ID: Final = 0x01
TAG_SPEC: Final = 0x03
TAG_NUMBER: Final = 0x07
SW_OK: Final = 0x9000


@dataclass(frozen=True, slots=True)
class Presentation:
    """How a card presentation ended, from the terminal's side."""

    session_id: str | None
    verified: dict[str, Any] | None
    """The API's VerifiedCardSession (None when the card could not authenticate)."""
    actions: tuple[str, ...]
    """The commands sent to the card (application-block, application-unblock)."""
    serve: bool
    reasons: tuple[str, ...]

    @property
    def card(self) -> dict[str, Any]:
        return dict(self.verified["card"]) if self.verified else {}

    @property
    def holder(self) -> dict[str, Any] | None:
        holder = self.verified.get("holder") if self.verified else None
        return dict(holder) if holder else None


def _value(tlv: bytes) -> bytes:
    return tlv[2:]


def _send(transport: CardTransport, apdu_hex: str, what: str) -> bytes:
    response = exchange(transport, bytes.fromhex(apdu_hex))
    if response.sw != SW_OK:
        raise DemoError(f"{what}: the card answered {response.sw:04X}")
    return response.data


def present(
    api: ApiClient, transport: CardTransport, *, pin: str | None = None, _again: bool = True
) -> Presentation:
    """Authenticate the card with the API as the signed-in caller; apply the decision.

    `pin`: verify it on the card first (kiosks); InvalidPin / PinBlocked propagate.
    """
    session = SscSession(transport)
    with transport.transaction():
        try:
            session.select()
            blocked = False
        except ApplicationBlocked:
            blocked = True
        card_id = _value(session.read_record(EF05_SFI, TAG_CARD_ID, 16)).hex().upper()
        spec = _value(session.read_record(EF05_SFI, TAG_SPEC, 4)).decode("ascii")
        number = _value(session.read_record(EF05_SFI, TAG_NUMBER, 9)).decode("ascii")
        opened = api.open_card_session(
            {
                "card_id_code": card_id,
                "card_number": number,
                "atr": transport.atr.hex().upper(),
                "spec_version": spec,
                "application_blocked": blocked,
            }
        )
        session_id = str(opened["session_id"])
        if blocked:
            decision = opened.get("blocked_card") or {}
            reasons = tuple(decision.get("reasons") or ())
            if decision.get("action") != "application-unblock" or not _again:
                api.end_card_session(session_id)
                return Presentation(session_id, None, (), False, reasons)
            command = api.card_command(session_id, "application-unblock", session.get_challenge())
            _send(transport, str(command["apdu"]), "APPLICATION UNBLOCK")
            api.end_card_session(session_id)
            again = present(api, transport, pin=pin, _again=False)
            return Presentation(
                again.session_id,
                again.verified,
                ("application-unblock", *again.actions),
                again.serve,
                again.reasons,
            )
        pin_verified = False
        if pin is not None:
            session.verify_pin(pin)
            pin_verified = True
        answer = _send(transport, str(opened["internal_authenticate"]), "INTERNAL AUTHENTICATE")
        card_challenge = session.get_challenge() if int(opened["algorithm"]) == 3 else None
        verified = api.prove_card_session(session_id, answer, pin_verified, card_challenge)
        external = verified.get("external_authenticate")
        if external:
            _send(transport, str(external["apdu"]), "EXTERNAL AUTHENTICATE")
        terminal = verified["terminal"]
        actions: list[str] = []
        if terminal["action"] != "none":
            command = api.card_command(session_id, str(terminal["action"]), session.get_challenge())
            _send(transport, str(command["apdu"]), str(terminal["action"]).upper())
            actions.append(str(terminal["action"]))
        return Presentation(
            session_id,
            verified,
            tuple(actions),
            bool(terminal["serve"]),
            tuple(terminal.get("reasons") or ()),
        )


def reload_pin(api: ApiClient, transport: CardTransport, session_id: str, new_pin: str) -> None:
    """RELOAD PIN on the card with the command the API builds (needs a clerk's session)."""
    session = SscSession(transport)
    with transport.transaction():
        command = api.card_command(
            session_id, "reload-pin", session.get_challenge(), new_pin=new_pin, id_checked=True
        )
        _send(transport, str(command["apdu"]), "RELOAD PIN")
