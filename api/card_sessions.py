"""Card sessions: the card proves itself to the key service; the API serves what follows.

The flow (shared/ssc-card.md §6 and §9, with the server's key service instead of
a PSAM):

1. **Open** (:func:`open_card_session`): the terminal sends what it read (ATR,
   card identification code, card number, algorithm or spec version, and whether
   SELECT answered 6283). A ``card_challenges`` row is written with random P, S
   and an expiry: the ``session_id`` is that row's id. Nothing is kept in process
   memory, so the proof may reach any API process.
2. **Prove** (:func:`prove_card_session`): the challenge is consumed with
   ``UPDATE … SET used_at WHERE used_at IS NULL AND expires_at > now`` (committed
   before anything else: one answer per challenge, also a wrong one). The key
   service recomputes ``cryptogram(Div(K_card[IRK], P), S)`` with F1 = the last 8
   ATR bytes and F2 = the region of the card identification code. A wrong answer,
   or a card whose identification code or generation is not the one recorded for
   its card number, is refused as ``forged-card`` and journaled. Otherwise a
   ``card_sessions`` row (same id) records the verified card, its holder, the
   caller and ``pin_verified``; the answer holds the card's state, the holder's
   summary and the terminal's action (:func:`cardsvc.rules.card_lifecycle.terminal_action`).
3. **Card commands** (:func:`issue_card_command`): secure-messaging commands the
   terminal sends right after a GET CHALLENGE: APPLICATION BLOCK / UNBLOCK (key
   STK), EXTERNAL AUTHENTICATE with RKSSSE (generation 3), RELOAD PIN (key PRK;
   operators with the clerk role, ID checked; the PIN is never logged or stored).
4. **End** (:func:`end_card_session`): card out.

Binding the card to its record: the keys are diversified by the ATR's last 8
bytes and the region, so the ATR must carry the chip serial of the card
identification code (contract §2) — checked when the session is opened — and the
identification code must be the one recorded for the card number — checked at
the proof. A genuine card can therefore not open a session for another card's
number.

The card's ``application_blocked`` flag: set when the service *issues* APPLICATION
BLOCK, cleared when it issues APPLICATION UNBLOCK (the service cannot see whether
the terminal delivered it), and corrected from the card itself at every
presentation: the terminal reports what SELECT SSSE answered
(``application_blocked`` when opening). A block that never reached the card is
therefore issued again at the next presentation; a card un-lost while blocked
answers 6283, cannot authenticate, and is offered APPLICATION UNBLOCK on its
unproved session (the MAC only works on the card whose serial and region the
record holds, and unblocking is what the record says should happen to it).
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, cast

from sqlalchemy import Table, select, update
from sqlalchemy.orm import Session

from api.card_presence import is_owner, owner_filter
from api.context import ApiContext
from api.errors import ApiError, ServiceUnavailable
from api.problem_types import ProblemType
from api.schemas.card_sessions import (
    ApduOut,
    CardCommandAction,
    CardCommandOut,
    CardInfo,
    CardSessionOpened,
    CardSessionRequest,
    Challenge,
    HolderSummary,
    TerminalActionName,
    TerminalDecision,
    VerifiedCardSession,
)
from cardsvc.apdu import Ins
from cardsvc.card.errors import SecurityModuleError
from cardsvc.card.records import CardIdCode, decode_card_id
from cardsvc.card.security import Diversification, SecurityModule
from cardsvc.crypto import Algorithm, CryptoError, KeyId
from cardsvc.db.journal import append_entry
from cardsvc.db.models import (
    Card,
    CardChallenge,
    CardSession,
    Channel,
    ItemCode,
    Outcome,
    Person,
    Role,
)
from cardsvc.db.models.records import JournalEvent
from cardsvc.rules import card_lifecycle
from cardsvc.rules.card_lifecycle import CardState, TerminalAction, effective_state, on_hotlist
from cardsvc.services.actors import Actor, DeviceActor, OperatorActor
from cardsvc.services.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from cardsvc.services.scope import ensure_item_allowed
from cardsvc.services.views import person_summary

logger = logging.getLogger(__name__)

RANDOM_LEN: Final = 8
WRONG_ANSWER: Final = "the answer to INTERNAL AUTHENTICATE is wrong"
CARD_CHECK_ITEM: Final = ItemCode.E01
"""The item a refused (forged) card's journal entry names: a card presentation opens
the holder's enquiries, E01 first. The entry's own event code is
``card_authentication`` (JournalEvent.CARD_AUTHENTICATION), so it is never mistaken
for an E01 enquiry that was denied."""

_ACTION_NAMES: Final = {
    TerminalAction.NONE: TerminalActionName.NONE,
    TerminalAction.APPLICATION_BLOCK: TerminalActionName.APPLICATION_BLOCK,
    TerminalAction.APPLICATION_UNBLOCK: TerminalActionName.APPLICATION_UNBLOCK,
}


# --------------------------------------------------------------------------- values


@dataclass(frozen=True, slots=True)
class PresentedCard:
    """What the terminal read from the card, checked for consistency."""

    card_number: str
    card_id: CardIdCode
    atr: bytes
    algorithm: Algorithm
    application_blocked: bool | None


def presented_card(body: CardSessionRequest) -> PresentedCard:
    """The card of an opening request; ValidationFailed naming the inconsistent field."""
    card_id = decode_card_id(bytes.fromhex(body.card_id_code))
    atr = bytes.fromhex(body.atr)
    algorithm = _algorithm(body.algorithm, body.spec_version)
    if atr[-4:] != card_id.chip_serial:
        raise ValidationFailed(
            "atr",
            "the ATR's last 4 bytes must be the chip serial of the card identification code "
            "(bytes 9-12)",
        )
    if atr[-6:-4].hex() != card_id.region_code[:4]:
        raise ValidationFailed(
            "atr",
            "the 2 ATR bytes before the chip serial must be the first four digits of the "
            "region code of the card identification code",
        )
    return PresentedCard(
        card_number=body.card_number,
        card_id=card_id,
        atr=atr,
        algorithm=algorithm,
        application_blocked=body.application_blocked,
    )


def _algorithm(algorithm: int | None, spec_version: str | None) -> Algorithm:
    from_spec = None if spec_version is None else Algorithm.for_generation(int(spec_version[0]))
    if algorithm is None:
        if from_spec is None:
            raise ValidationFailed(
                "algorithm",
                "give algorithm (SELECT SSSE's FCI tag 86) or spec_version (EF05 tag 03)",
            )
        return from_spec
    chosen = Algorithm(algorithm)
    if from_spec is not None and from_spec is not chosen:
        raise ValidationFailed(
            "algorithm", f"algorithm {algorithm} does not match spec_version {spec_version}"
        )
    return chosen


def _diversification(challenge: CardChallenge) -> Diversification:
    region = challenge.card_id_code[:6]
    return Diversification.for_card(
        Algorithm(challenge.algorithm), bytes.fromhex(challenge.atr_hex), region
    )


def _decision(decision: card_lifecycle.TerminalDecision) -> TerminalDecision:
    return TerminalDecision(
        action=_ACTION_NAMES[decision.action],
        serve=decision.serve,
        rule=decision.rule,
        reasons=list(decision.reasons),
    )


def _effective(context: ApiContext, card: Card, now: datetime) -> CardState:
    since = min(card.state_changed_at, now)
    config = context.service_context().config
    return effective_state(card.state, since, now, config).state


def ensure_may_present(actor: Actor) -> None:
    """Kiosks and operators (clerk or supervisor) present cards; counter devices do not."""
    if isinstance(actor, DeviceActor):
        if actor.channel is not Channel.KIOSK:
            raise PermissionDenied(
                "a counter terminal does no business on its own: an operator must sign in"
            )
        return
    if not (actor.has(Role.CLERK) or actor.has(Role.SUPERVISOR)):
        raise PermissionDenied("card sessions need a kiosk, or an operator with the clerk role")


def _card_of(session: Session, card_number: str) -> Card | None:
    return session.execute(select(Card).where(Card.card_number == card_number)).scalar_one_or_none()


def _set_blocked(session: Session, card: Card, blocked: bool) -> None:
    """Record the card's application_blocked flag (no version bump: not a state change)."""
    if card.application_blocked is blocked:
        return
    table = cast(Table, Card.__table__)
    session.execute(update(table).where(table.c.id == card.id).values(application_blocked=blocked))
    logger.info(
        "card %s: application recorded as %s", card.card_number, "blocked" if blocked else "open"
    )


def _challenge_of(session: Session, actor: Actor, session_id: str) -> CardChallenge:
    challenge = session.get(CardChallenge, session_id)
    if challenge is None or not is_owner(challenge, actor):
        raise NotFound("card session")
    return challenge


# --------------------------------------------------------------------------- open


def open_card_session(context: ApiContext, actor: Actor, card: PresentedCard) -> CardSessionOpened:
    """Issue the INTERNAL AUTHENTICATE challenge for `card` (see the module docstring)."""
    ensure_may_present(actor)
    now = context.now()
    expires = now + timedelta(seconds=context.settings.challenge_ttl_s)
    session_id = secrets.token_hex(16)
    p, s = secrets.token_bytes(RANDOM_LEN), secrets.token_bytes(RANDOM_LEN)
    blocked_card: TerminalDecision | None = None
    with context.database.unit_of_work() as uow:
        session = uow.session
        session.add(
            CardChallenge(
                id=session_id,
                card_number=card.card_number,
                card_id_code=str(card.card_id),
                atr_hex=card.atr.hex().upper(),
                algorithm=int(card.algorithm),
                challenge_p_hex=p.hex().upper(),
                challenge_s_hex=s.hex().upper(),
                created_at=now,
                expires_at=expires,
                used_at=None,
                **owner_filter(actor),
            )
        )
        if card.application_blocked is not None:
            record = _card_of(session, card.card_number)
            if record is None or record.card_id_code != str(card.card_id):
                if card.application_blocked:
                    raise NotFound("card")
            else:
                _set_blocked(session, record, card.application_blocked)
                if card.application_blocked:
                    state = _effective(context, record, now)
                    blocked_card = _decision(card_lifecycle.terminal_action(state, True))
    command = bytes((0x00, Ins.INTERNAL_AUTHENTICATE, 0x00, KeyId.IRK, 2 * RANDOM_LEN)) + p + s
    return CardSessionOpened(
        session_id=session_id,
        challenge=Challenge(p=p.hex().upper(), s=s.hex().upper()),
        internal_authenticate=command.hex().upper(),
        algorithm=1 if card.algorithm is Algorithm.DES3 else 3,
        expires_at=expires,
        blocked_card=blocked_card,
    )


# --------------------------------------------------------------------------- prove


@dataclass(frozen=True, slots=True)
class Proof:
    answer: bytes
    pin_verified: bool
    card_challenge: bytes | None


def _consume(context: ApiContext, actor: Actor, session_id: str, proof: Proof) -> CardChallenge:
    """Take the challenge for this proof, once; committed before the answer is checked."""
    now = context.now()
    with context.database.unit_of_work() as uow:
        session = uow.session
        challenge = _challenge_of(session, actor, session_id)
        if proof.card_challenge is not None and challenge.algorithm != Algorithm.SM4:
            raise ValidationFailed(
                "card_challenge",
                "only generation-3 (SM4) cards need EXTERNAL AUTHENTICATE with RKSSSE: "
                "leave it out",
            )
        taken = session.execute(
            update(CardChallenge)
            .where(
                CardChallenge.id == session_id,
                CardChallenge.used_at.is_(None),
                CardChallenge.expires_at > now,
            )
            .values(used_at=now)
            .execution_options(synchronize_session=False)
        )
        if getattr(taken, "rowcount", 0) != 1:
            session.refresh(challenge)
            if challenge.used_at is not None:
                raise ApiError(
                    kind=ProblemType.CARD_CHALLENGE_USED,
                    detail="this challenge was answered already (or the session was ended): a "
                    "replayed proof is refused; open a new card session",
                )
            raise ApiError(
                kind=ProblemType.CARD_CHALLENGE_EXPIRED,
                detail="the challenge expired before the proof arrived: open a new card session",
            )
        return challenge


def _verify(sm: SecurityModule, challenge: CardChallenge, answer: bytes) -> bool:
    try:
        return sm.verify_internal_auth(
            _diversification(challenge),
            bytes.fromhex(challenge.challenge_p_hex),
            bytes.fromhex(challenge.challenge_s_hex),
            answer,
        )
    except (SecurityModuleError, CryptoError) as exc:
        logger.warning("the key service cannot verify a card: %s", exc)
        raise ServiceUnavailable(f"the key service cannot verify this card: {exc}") from None


def _journal_forged(
    session: Session, actor: Actor, challenge: CardChallenge, reason: str, now: datetime
) -> None:
    append_entry(
        session,
        site_code=actor.site_code,
        item=CARD_CHECK_ITEM,
        outcome=Outcome.DENIED,
        operator_id=actor.operator_id if isinstance(actor, OperatorActor) else None,
        device_id=actor.device_id if isinstance(actor, DeviceActor) else None,
        card_number=challenge.card_number,
        person_id=None,
        detail={"problem": "forged-card", "reason": reason},
        at=now,
        event=JournalEvent.CARD_AUTHENTICATION,
    )
    logger.warning(
        "card %s refused as forged at %s: %s", challenge.card_number, actor.site_code, reason
    )


def _forged_reason(card: Card, challenge: CardChallenge, answer_ok: bool) -> str | None:
    if not answer_ok:
        return WRONG_ANSWER
    if card.card_id_code != challenge.card_id_code:
        return "the card identification code is not the one recorded for this card number"
    if Algorithm.for_generation(card.generation) != Algorithm(challenge.algorithm):
        return "the card's algorithm does not match its recorded generation"
    return None


def prove_card_session(
    context: ApiContext, sm: SecurityModule, actor: Actor, session_id: str, proof: Proof
) -> VerifiedCardSession:
    """Check the card's answer; the verified session, or a refusal (see the docstring)."""
    ensure_may_present(actor)
    challenge = _consume(context, actor, session_id, proof)
    answer_ok = _verify(sm, challenge, proof.answer)
    now = context.now()
    refusal: ApiError | None = None
    result: VerifiedCardSession | None = None
    with context.database.unit_of_work() as uow:
        session = uow.session
        card = _card_of(session, challenge.card_number)
        if card is None:
            reason = None if answer_ok else WRONG_ANSWER
        else:
            reason = _forged_reason(card, challenge, answer_ok)
        if reason is not None:
            _journal_forged(session, actor, challenge, reason, now)
            refusal = ApiError(
                kind=ProblemType.FORGED_CARD,
                detail=f"the card is refused: {reason} (a forged or foreign card); serve nothing",
            )
        elif card is None:
            raise NotFound("card")
        else:
            result = _verified(
                context,
                sm,
                actor,
                session=session,
                challenge=challenge,
                card=card,
                proof=proof,
                now=now,
            )
    if refusal is not None:
        raise refusal
    assert result is not None
    return result


def _verified(
    context: ApiContext,
    sm: SecurityModule,
    actor: Actor,
    *,
    session: Session,
    challenge: CardChallenge,
    card: Card,
    proof: Proof,
    now: datetime,
) -> VerifiedCardSession:
    person = session.get(Person, card.person_id)
    if person is None:  # pragma: no cover - a foreign key guarantees it
        raise NotFound("card")
    expires = now + timedelta(seconds=context.settings.card_session_ttl_s)
    session.add(
        CardSession(
            id=challenge.id,
            challenge_id=challenge.id,
            card_number=card.card_number,
            person_id=person.id,
            pin_verified=proof.pin_verified,
            verified_at=now,
            expires_at=expires,
            ended_at=None,
            **owner_filter(actor),
        )
    )
    state = _effective(context, card, now)
    decision = card_lifecycle.terminal_action(state, card.application_blocked)
    external: ApduOut | None = None
    if proof.card_challenge is not None and decision.serve:
        external = ApduOut(
            apdu=_external_auth(sm, _diversification(challenge), proof.card_challenge)
            .hex()
            .upper(),
            key_id=f"{KeyId.RKSSSE:02X}",
        )
    holder: HolderSummary | None = None
    if decision.serve or not isinstance(actor, DeviceActor):
        summary = person_summary(actor, person)
        holder = HolderSummary(
            person_id=summary.person_id,
            ssn=summary.ssn,
            name=summary.name,
            sex=summary.sex,
            birth_date=summary.birth_date,
            residence_site_code=summary.residence_site_code,
        )
    logger.info("card %s verified (session of %s)", card.card_number, actor)
    return VerifiedCardSession(
        session_id=challenge.id,
        verified_at=now,
        expires_at=expires,
        pin_verified=proof.pin_verified,
        card=CardInfo(
            card_number=card.card_number,
            generation=card.generation,
            state=state,
            on_hotlist=on_hotlist(state),
            application_blocked=card.application_blocked,
            replacement_requested=card.replacement_requested,
            expires_on=card.expires_on,
            cancellation_reason=card.cancellation_reason,
        ),
        holder=holder,
        terminal=_decision(decision),
        external_authenticate=external,
    )


# --------------------------------------------------------------------------- end


def end_card_session(context: ApiContext, actor: Actor, session_id: str) -> None:
    """Card out: the session stops working (an unproved challenge can no longer be proved)."""
    now = context.now()
    with context.database.unit_of_work() as uow:
        session = uow.session
        challenge = _challenge_of(session, actor, session_id)
        if challenge.used_at is None:
            challenge.used_at = now
        verified = session.get(CardSession, session_id)
        if verified is not None and verified.ended_at is None:
            verified.ended_at = now


# --------------------------------------------------------------------------- commands


def secure_apdu(
    sm: SecurityModule,
    div: Diversification,
    *,
    kid: KeyId,
    challenge: bytes,
    ins: int,
    data: bytes = b"",
) -> bytes:
    """A CLA-84 command as ``crypto.secure_command`` builds it, with the key service's MAC.

    ``header ‖ Lc ‖ data ‖ MAC4``: Lc counts the MAC, the MAC covers header ‖ Lc ‖ data with
    the card's challenge as IV (contract §6). The card key never leaves the key service.
    """
    body = bytes((0x84, ins, 0x00, 0x00, len(data) + 4)) + data
    return body + sm.command_mac(div, kid, challenge, body)


def _external_auth(sm: SecurityModule, div: Diversification, card_challenge: bytes) -> bytes:
    x = secrets.token_bytes(RANDOM_LEN)
    c = sm.external_auth_cryptogram(div, KeyId.RKSSSE, card_challenge, x)
    return bytes((0x00, Ins.EXTERNAL_AUTHENTICATE, 0x00, KeyId.RKSSSE, 0x10)) + c + x


@dataclass(frozen=True, slots=True)
class CommandRequest:
    action: CardCommandAction
    card_challenge: bytes
    new_pin: str | None
    id_checked: bool

    def __repr__(self) -> str:  # never show a PIN
        return f"CommandRequest(action={self.action.value})"


def issue_card_command(
    context: ApiContext, sm: SecurityModule, actor: Actor, session_id: str, req: CommandRequest
) -> CardCommandOut:
    """The secure-messaging command `req.action` for the card of the session."""
    now = context.now()
    with context.database.unit_of_work() as uow:
        session = uow.session
        challenge = _challenge_of(session, actor, session_id)
        verified = session.get(CardSession, session_id)
        if verified is not None:
            if verified.ended_at is not None or verified.expires_at <= now:
                raise ApiError(
                    kind=ProblemType.CARD_SESSION_EXPIRED,
                    detail="the card session has ended or expired: present the card again",
                )
        elif req.action is not CardCommandAction.APPLICATION_UNBLOCK:
            raise Conflict(
                "the card session is not verified: send the card's answer to …/proof first",
                current="unverified",
            )
        elif challenge.used_at is not None or challenge.expires_at <= now:
            raise ApiError(
                kind=ProblemType.CARD_SESSION_EXPIRED,
                detail="the card session has ended or expired: present the card again",
            )
        card = _card_of(session, challenge.card_number)
        if card is None or card.card_id_code != challenge.card_id_code:
            raise NotFound("card")
        state = _effective(context, card, now)
        try:
            apdu, kid, blocked = _command(
                sm, actor, challenge=challenge, card=card, state=state, req=req
            )
        except (SecurityModuleError, CryptoError) as exc:
            logger.warning("the key service cannot build a %s command: %s", req.action.value, exc)
            raise ServiceUnavailable(f"the key service cannot build this command: {exc}") from None
        if blocked is not None:
            _set_blocked(session, card, blocked)
            if verified is None:
                challenge.used_at = now  # the unproved session of a blocked card ends here
        logger.info("card %s: %s issued", card.card_number, req.action.value)
        return CardCommandOut(
            action=req.action,
            apdu=apdu.hex().upper(),
            key_id=f"{kid:02X}",
            application_blocked=card.application_blocked if blocked is None else blocked,
        )


def _command(
    sm: SecurityModule,
    actor: Actor,
    *,
    challenge: CardChallenge,
    card: Card,
    state: CardState,
    req: CommandRequest,
) -> tuple[bytes, KeyId, bool | None]:
    """(APDU, key id, the application_blocked flag to record or None)."""
    div = _diversification(challenge)
    hot = on_hotlist(state)
    action = req.action
    if req.new_pin is not None and action is not CardCommandAction.RELOAD_PIN:
        raise ValidationFailed("new_pin", "only reload-pin takes a PIN: leave it out")
    if action is CardCommandAction.APPLICATION_BLOCK:
        if not hot:
            raise Conflict(
                f"the card is {state.value}, not on the hotlist: it is not blocked",
                current=state.value,
            )
        return (
            secure_apdu(
                sm, div, kid=KeyId.STK, challenge=req.card_challenge, ins=Ins.APPLICATION_BLOCK
            ),
            KeyId.STK,
            True,
        )
    if hot:
        raise Conflict(
            f"the card is {state.value} (on the hotlist): serve nothing", current=state.value
        )
    if action is CardCommandAction.APPLICATION_UNBLOCK:
        apdu = secure_apdu(
            sm, div, kid=KeyId.STK, challenge=req.card_challenge, ins=Ins.APPLICATION_UNBLOCK
        )
        return apdu, KeyId.STK, False
    if action is CardCommandAction.EXTERNAL_AUTH_RKSSSE:
        if challenge.algorithm != Algorithm.SM4:
            raise ValidationFailed(
                "action", "external-auth-rkssse is for generation-3 (SM4) cards only"
            )
        return _external_auth(sm, div, req.card_challenge), KeyId.RKSSSE, None
    # RELOAD PIN: counter only (C06), clerk role, ID checked; the PIN is never logged.
    if not isinstance(actor, OperatorActor):
        raise PermissionDenied("C06 PIN reload is not available at a kiosk: go to a counter")
    ensure_item_allowed(actor, ItemCode.C06)
    if not req.id_checked:
        raise ValidationFailed("id_checked", "a PIN reload needs the holder's ID document checked")
    if req.new_pin is None:
        raise ValidationFailed("new_pin", "reload-pin needs the new PIN (4 to 12 digits)")
    encrypted = sm.encrypt_pin_block(div, req.card_challenge, req.new_pin)
    apdu = secure_apdu(
        sm, div, kid=KeyId.PRK, challenge=req.card_challenge, ins=Ins.RELOAD_PIN, data=encrypted
    )
    return apdu, KeyId.PRK, None
