"""``/v1/card-sessions``: a card in a reader proves itself to the key service.

The terminal's walk-through (kiosk or counter; APDUs per shared/ssc-card.md):

1. Card in: ATR. ``SELECT SSSE`` (``00 A4 04 00 0F 7378312E73682EC9E7BBE1B1A3D5CF``):
   9000/611B → the algorithm byte (FCI tag 86); 6283 → the application is blocked.
2. ``READ RECORD`` EF05 tags 01 (card identification code), 03 (spec version), 07
   (card number): ``00 B2 01 28 12``, ``00 B2 03 28 06``, ``00 B2 07 28 0B``.
3. ``POST /v1/card-sessions`` → ``session_id``, ``internal_authenticate`` (the APDU).
   If the card said 6283: follow ``blocked_card`` instead (see the model).
4. Kiosk: ``VERIFY`` the holder's PIN on the card (``00 20 00 00 03 123456``).
5. Send ``internal_authenticate`` (T=0: then ``GET RESPONSE 00 C0 00 00 08``).
   Generation 3: then ``GET CHALLENGE 00 84 00 00 08``.
6. ``POST /v1/card-sessions/{id}/proof`` with the 8-byte answer, ``pin_verified``
   and (gen 3) ``card_challenge`` → the verified session, the card, the holder,
   ``terminal`` and (gen 3) ``external_authenticate`` to send at once.
7. ``terminal.action`` not ``none``: ``GET CHALLENGE``, ``POST …/card-commands``
   with that action and the challenge, send the APDU; ``serve`` false: stop.
8. Later calls carry ``X-Card-Session: <session_id>``.
9. Card out: ``DELETE /v1/card-sessions/{id}``.

These routes take no ``Idempotency-Key``: a challenge is answered once by
design (a retry starts a new session), and card commands must not be stored (a
RELOAD PIN command carries the new PIN, encrypted under a key the service holds).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response

from api.card_presence import SESSION_ID_PATTERN
from api.card_sessions import (
    CommandRequest,
    Proof,
    end_card_session,
    issue_card_command,
    open_card_session,
    presented_card,
    prove_card_session,
)
from api.deps import ActorDep, ContextDep
from api.key_service import KeyServiceDep, get_key_service, key_service_lifespan
from api.problem_types import ProblemType, describe
from api.problems import problem_responses
from api.routing import ApiRouter
from api.schemas.card_sessions import (
    CardCommandOut,
    CardCommandRequest,
    CardProofRequest,
    CardSessionOpened,
    CardSessionRequest,
    VerifiedCardSession,
)

SessionId = Annotated[
    str,
    Path(
        pattern=SESSION_ID_PATTERN,
        description="the `session_id` from POST /v1/card-sessions (32 hex digits)",
    ),
]

_NOT_PRESENTING = (
    "`forbidden`: a counter terminal (an operator signs in there) or an operator without "
    "the clerk or supervisor role"
)
_503 = (
    "`service-unavailable`: the database cannot be reached, or no key service is configured "
    "(CARDSVC_KEY_FILE); see Retry-After"
)
_NO_SESSION = "`not-found`: no card session with this id for this caller, or (proof) no card "
_NO_SESSION += "recorded with this card number"


def router() -> APIRouter:
    routes = ApiRouter(
        prefix="/card-sessions",
        tags=["card sessions"],
        lifespan=key_service_lifespan,
    )

    @routes.post(
        "",
        status_code=201,
        summary="Open a card session: what the card said → the INTERNAL AUTHENTICATE challenge",
        dependencies=[Depends(get_key_service)],
        responses=problem_responses(
            s403=_NOT_PRESENTING,
            s404="`not-found`: (application_blocked true only) no card recorded with this "
            "card number and identification code",
            s503=_503,
        ),
    )
    def open_route(
        body: CardSessionRequest, actor: ActorDep, context: ContextDep
    ) -> CardSessionOpened:
        """The challenge lives in the database: any API process can check the proof.

        `invalid-value` (422) names `atr` when the ATR does not carry the chip serial of
        the card identification code, `algorithm` when neither it nor `spec_version` is
        given, or they disagree.
        """
        return open_card_session(context, actor, presented_card(body))

    @routes.post(
        "/{session_id}/proof",
        summary="Prove the card: its answer → the verified session, card state, holder",
        responses=problem_responses(
            s403=describe(ProblemType.FORGED_CARD, also=_NOT_PRESENTING),
            s404=_NO_SESSION,
            s409=describe(ProblemType.CARD_CHALLENGE_USED),
            s410=describe(ProblemType.CARD_CHALLENGE_EXPIRED),
            s503=_503,
        ),
    )
    def proof_route(
        session_id: SessionId,
        body: CardProofRequest,
        actor: ActorDep,
        context: ContextDep,
        sm: KeyServiceDep,
    ) -> VerifiedCardSession:
        """One answer per challenge (a wrong one too): a replay is refused.

        A forged card (`forged-card`, journaled) gets nothing. A hotlisted card gets a
        session with `terminal.serve` false and `terminal.action` application-block;
        kiosks then get no holder data.
        """
        proof = Proof(
            answer=bytes.fromhex(body.answer),
            pin_verified=body.pin_verified,
            card_challenge=None
            if body.card_challenge is None
            else bytes.fromhex(body.card_challenge),
        )
        return prove_card_session(context, sm, actor, session_id, proof)

    @routes.post(
        "/{session_id}/card-commands",
        summary="A secure-messaging command for the card (block, unblock, RKSSSE, RELOAD PIN)",
        responses=problem_responses(
            s403="`forbidden`: reload-pin needs an operator with the clerk role",
            s404=_NO_SESSION,
            s409="`conflict`: the command does not fit the card's state (`current` names "
            "it: block needs a hotlisted card; the others a card not on the hotlist) or the "
            "session is not verified yet (`current`: unverified)",
            s410=describe(ProblemType.CARD_SESSION_EXPIRED),
            s503=_503,
        ),
    )
    def command_route(
        session_id: SessionId,
        body: CardCommandRequest,
        actor: ActorDep,
        context: ContextDep,
        sm: KeyServiceDep,
    ) -> CardCommandOut:
        """Send GET CHALLENGE (00 84 00 00 08) to the card first; send the answer's APDU next.

        `application-unblock` also works on an unproved session opened with
        application_blocked true (a blocked card cannot authenticate). The card's
        application_blocked flag follows when a block or unblock is issued. reload-pin:
        then record it with POST /v1/cards/{card_number}/pin-reload.
        """
        request = CommandRequest(
            action=body.action,
            card_challenge=bytes.fromhex(body.card_challenge),
            new_pin=None if body.new_pin is None else body.new_pin.get_secret_value(),
            id_checked=body.id_checked,
        )
        return issue_card_command(context, sm, actor, session_id, request)

    @routes.delete(
        "/{session_id}",
        status_code=204,
        summary="End the card session (card out)",
        response_class=Response,
        responses=problem_responses(
            s404="`not-found`: no card session with this id for this caller"
        ),
    )
    def end_route(session_id: SessionId, actor: ActorDep, context: ContextDep) -> Response:
        """Idempotent: ending an ended or expired session answers 204 again."""
        end_card_session(context, actor, session_id)
        return Response(status_code=204)

    return routes
