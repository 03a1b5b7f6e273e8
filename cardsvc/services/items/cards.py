"""Card items C01-C08 and the incremental hotlist.

State changes follow :mod:`cardsvc.rules.card_lifecycle`, applied to the card's
*effective* state (a temporary loss lapses after ``config.temp_loss_lapse_days``). An
illegal action is a :class:`Conflict` whose ``current`` names the card's state.
Cards are optimistically locked (``Card.version``): a card changed by another
transaction since it was read makes the flush fail; the runner then re-reads the
card and answers with the new state's conflict (or the same request's stored result).

ID checks: C02 formal loss, C03 cancelling a loss, C04 replacement and C06 PIN
reload take ``id_checked`` — the clerk confirms the holder's ID document was
checked; without it the item is refused.

PIN items record only that the PIN was changed (C05) or reloaded (C06): the PIN is
on the card and never reaches the services. The RELOAD PIN command itself is built
by the key service (a later task).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import or_, select

from cardsvc.db.models import CancellationReason as CancellationReason  # noqa: PLC0414 (API)
from cardsvc.db.models import (
    Card,
    ChangeStatus,
    ItemCode,
    PendingChange,
    Role,
)
from cardsvc.idcheck import is_valid_card_number
from cardsvc.rules.card_lifecycle import CardAction, CardState, on_hotlist, transition
from cardsvc.rules.errors import IllegalTransition
from cardsvc.rules.months import add_months
from cardsvc.services.actors import Actor, CardPresence, OperatorActor
from cardsvc.services.context import ServiceContext
from cardsvc.services.errors import (
    ApprovalRequired,
    Conflict,
    PermissionDenied,
    ValidationFailed,
)
from cardsvc.services.runner import Call, run_write

CARD_ID_CODE = re.compile(r"[0-9A-F]{32}")
CARD_VALIDITY_YEARS = 10
HOTLIST_OVERLAP = timedelta(minutes=2)
"""How far back the next incremental hotlist request starts (see :func:`hotlist`)."""


class PinEvent(enum.StrEnum):
    CHANGED = "changed"
    RELOADED = "reloaded"


@dataclass(frozen=True, slots=True)
class CardStateChanged:
    card_number: str
    person_id: int
    from_state: CardState
    """The effective state before (a lapsed temporary loss counts as active)."""
    to_state: CardState
    changed_at: datetime
    on_hotlist: bool
    rule: str
    reasons: tuple[str, ...]


def _require_id_checked(id_checked: object, what: str) -> None:
    if id_checked is not True:
        raise ValidationFailed("id_checked", f"{what} needs the holder's ID document checked")


def _apply(
    call: Call,
    card: Card,
    action: CardAction,
    *,
    cancellation: CancellationReason | None = None,
) -> CardStateChanged:
    current = call.effective_state(card)
    try:
        moved = transition(current.state, action)
    except IllegalTransition as exc:
        raise Conflict(str(exc), current=exc.current_state.value) from None
    card.state = moved.to_state
    card.state_changed_at = call.now
    if cancellation is not None:
        card.cancellation_reason = cancellation
    call.session.flush()  # the version check: StaleDataError if another transaction won
    call.note(card_from=moved.from_state, card_to=moved.to_state)
    return CardStateChanged(
        card_number=card.card_number,
        person_id=card.person_id,
        from_state=moved.from_state,
        to_state=moved.to_state,
        changed_at=call.now,
        on_hotlist=moved.on_hotlist,
        rule=moved.rule,
        reasons=(*current.reasons, *moved.reasons) if current.lapsed else moved.reasons,
    )


def _card_action(
    ctx: ServiceContext,
    actor: Actor,
    item: ItemCode,
    card_number: str,
    *,
    action: CardAction,
    presence: CardPresence | None,
    idempotency_key: str,
    needs_id_check: str | None = None,
    id_checked: bool = False,
    extra: dict[str, str] | None = None,
) -> CardStateChanged:
    def body(call: Call) -> CardStateChanged:
        if needs_id_check is not None:
            _require_id_checked(id_checked, needs_id_check)
        card, _person = call.card(card_number, presence)
        call.idempotent({"card": card.id, "action": action, **(extra or {})})
        if extra:
            call.note(**extra)
        return _apply(call, card, action)

    return run_write(ctx, actor, item, body, key=idempotency_key, result_type=CardStateChanged)


def report_temporary_loss(
    ctx: ServiceContext,
    actor: Actor,
    card_number: str,
    *,
    idempotency_key: str,
    presence: CardPresence | None = None,
) -> CardStateChanged:
    """C01 (counter, also on the phone): active → temporarily lost; lapses after 5 days."""
    return _card_action(
        ctx,
        actor,
        ItemCode.C01,
        card_number,
        action=CardAction.REPORT_TEMPORARY_LOSS,
        presence=presence,
        idempotency_key=idempotency_key,
    )


def report_formal_loss(
    ctx: ServiceContext,
    actor: Actor,
    card_number: str,
    *,
    id_checked: bool,
    idempotency_key: str,
    presence: CardPresence | None = None,
) -> CardStateChanged:
    """C02 (counter, ID checked): active or temporarily lost → lost."""
    return _card_action(
        ctx,
        actor,
        ItemCode.C02,
        card_number,
        action=CardAction.REPORT_FORMAL_LOSS,
        presence=presence,
        idempotency_key=idempotency_key,
        needs_id_check="a formal loss report",
        id_checked=id_checked,
    )


def cancel_loss(
    ctx: ServiceContext,
    actor: Actor,
    card_number: str,
    *,
    id_checked: bool,
    idempotency_key: str,
    presence: CardPresence | None = None,
) -> CardStateChanged:
    """C03 解挂 (counter, ID checked): (temporarily) lost → active, if no replacement asked."""
    return _card_action(
        ctx,
        actor,
        ItemCode.C03,
        card_number,
        action=CardAction.CANCEL_LOSS,
        presence=presence,
        idempotency_key=idempotency_key,
        needs_id_check="cancelling a loss report",
        id_checked=id_checked,
    )


def activate_card(
    ctx: ServiceContext,
    actor: Actor,
    card_number: str,
    *,
    idempotency_key: str,
    presence: CardPresence | None = None,
) -> CardStateChanged:
    """C07 (counter, kiosk with card + PIN): issued → active."""
    return _card_action(
        ctx,
        actor,
        ItemCode.C07,
        card_number,
        action=CardAction.ACTIVATE,
        presence=presence,
        idempotency_key=idempotency_key,
    )


def cancel_card(
    ctx: ServiceContext,
    actor: Actor,
    card_number: str,
    *,
    reason: CancellationReason,
    idempotency_key: str,
) -> CardStateChanged:
    """C08 (supervisor only): any state but cancelled → cancelled (death, emigration)."""
    try:
        why = CancellationReason(reason)
    except ValueError:
        why = None

    def body(call: Call) -> CardStateChanged:
        if why is None:
            choices = ", ".join(r.value for r in CancellationReason)
            raise ValidationFailed("reason", f"one of {choices}")
        card, _person = call.card(card_number, None)
        call.idempotent({"card": card.id, "action": CardAction.CANCEL, "reason": why})
        call.note(reason=why)
        return _apply(call, card, CardAction.CANCEL, cancellation=why)

    return run_write(
        ctx, actor, ItemCode.C08, body, key=idempotency_key, result_type=CardStateChanged
    )


# -- C04 replacement --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CardReplaced:
    old: CardStateChanged
    new_card_id: int
    new_card_number: str
    new_card_state: CardState
    issued_on: date
    expires_on: date


def replace_card(
    ctx: ServiceContext,
    actor: Actor,
    card_number: str,
    *,
    new_card_number: str,
    new_card_id_code: str,
    id_checked: bool,
    idempotency_key: str,
    expires_on: date | None = None,
    presence: CardPresence | None = None,
) -> CardReplaced:
    """C04 (counter, ID checked): a lost card becomes replaced; a new card row is issued.

    The new card carries the person's current SSN. Refused with ApprovalRequired while
    a name or ID-number change of the person waits for a reviewer (the new card would
    be personalised with data about to change).
    """

    def body(call: Call) -> CardReplaced:
        _require_id_checked(id_checked, "a card replacement")
        if not isinstance(new_card_number, str) or not is_valid_card_number(new_card_number):
            raise ValidationFailed(
                "new_card_number", "not a valid card number (8 characters 0-9/A-Z and a check)"
            )
        if not isinstance(new_card_id_code, str) or not CARD_ID_CODE.fullmatch(new_card_id_code):
            raise ValidationFailed("new_card_id_code", "32 upper-case hexadecimal digits")
        if expires_on is not None and (
            not isinstance(expires_on, date) or isinstance(expires_on, datetime)
        ):
            raise ValidationFailed("expires_on", "must be a date")
        card, person = call.card(card_number, presence)
        call.idempotent(
            {
                "card": card.id,
                "new_card_number": new_card_number,
                "new_card_id_code": new_card_id_code,
                "expires_on": expires_on,
            }
        )
        issued_on = call.today
        expires = expires_on or add_months(issued_on, 12 * CARD_VALIDITY_YEARS)
        if expires <= issued_on:
            raise ValidationFailed("expires_on", "must be after today")
        waiting = tuple(
            call.session.execute(
                select(PendingChange.id).where(
                    PendingChange.person_id == person.id,
                    PendingChange.status == ChangeStatus.PENDING,
                )
            ).scalars()
        )
        if waiting:
            raise ApprovalRequired(
                "a name or ID-number change of the card holder waits for a reviewer: decide it "
                "before a new card is personalised",
                change_ids=waiting,
            )
        taken = call.session.execute(
            select(Card.id).where(
                or_(Card.card_number == new_card_number, Card.card_id_code == new_card_id_code)
            )
        ).first()
        if taken is not None:
            raise Conflict(
                "the new card number or card identification code is already recorded",
                current="taken",
            )
        old = _apply(call, card, CardAction.REQUEST_REPLACEMENT)
        card.replacement_requested = True
        new = Card(
            card_number=new_card_number,
            card_id_code=new_card_id_code,
            person_id=person.id,
            ssn=person.ssn,
            generation=card.generation,
            issued_on=issued_on,
            expires_on=expires,
            state=CardState.ISSUED,
            state_changed_at=call.now,
            replaces_card_id=card.id,
        )
        call.session.add(new)
        call.session.flush()
        call.note(new_card=new_card_number)
        return CardReplaced(old, new.id, new.card_number, new.state, issued_on, expires)

    return run_write(ctx, actor, ItemCode.C04, body, key=idempotency_key, result_type=CardReplaced)


# -- C05 / C06 PIN events --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PinEventRecorded:
    card_number: str
    person_id: int
    event: PinEvent
    recorded_at: datetime
    note: str


def _pin_event(
    ctx: ServiceContext,
    actor: Actor,
    item: ItemCode,
    card_number: str,
    *,
    event: PinEvent,
    presence: CardPresence | None,
    idempotency_key: str,
    note: str,
    needs_id_check: str | None = None,
    id_checked: bool = False,
) -> PinEventRecorded:
    def body(call: Call) -> PinEventRecorded:
        if needs_id_check is not None:
            _require_id_checked(id_checked, needs_id_check)
        card, person = call.card(card_number, presence)
        call.idempotent({"card": card.id, "event": event})
        state = call.effective_state(card).state
        if on_hotlist(state):
            raise Conflict(
                f"the card is {state.value}: no PIN service for a hotlisted card",
                current=state.value,
            )
        call.note(event=event)
        return PinEventRecorded(card.card_number, person.id, event, call.now, note)

    return run_write(ctx, actor, item, body, key=idempotency_key, result_type=PinEventRecorded)


def record_pin_change(
    ctx: ServiceContext,
    actor: Actor,
    card_number: str,
    *,
    idempotency_key: str,
    presence: CardPresence | None = None,
) -> PinEventRecorded:
    """C05 (counter, kiosk): record that the holder changed the PIN on the card."""
    return _pin_event(
        ctx,
        actor,
        ItemCode.C05,
        card_number,
        event=PinEvent.CHANGED,
        presence=presence,
        idempotency_key=idempotency_key,
        note="PIN changed on the card; the service never sees or stores a PIN",
    )


def record_pin_reload(
    ctx: ServiceContext,
    actor: Actor,
    card_number: str,
    *,
    id_checked: bool,
    idempotency_key: str,
    presence: CardPresence | None = None,
) -> PinEventRecorded:
    """C06 (counter only, ID checked): record a PIN reload/unlock.

    The RELOAD PIN command sent to the card is built by the key service.
    """
    return _pin_event(
        ctx,
        actor,
        ItemCode.C06,
        card_number,
        event=PinEvent.RELOADED,
        presence=presence,
        idempotency_key=idempotency_key,
        note="PIN reload recorded; the RELOAD PIN command is built by the key service",
        needs_id_check="a PIN reload",
        id_checked=id_checked,
    )


# -- the hotlist -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HotlistEntry:
    card_number: str
    state: CardState
    """The effective state now."""
    on_hotlist: bool
    """False: remove the card from the terminal's list (un-lost, or a lapsed loss)."""
    changed_at: datetime


@dataclass(frozen=True, slots=True)
class HotlistPage:
    entries: tuple[HotlistEntry, ...]
    as_of: datetime
    next_since: datetime
    """Pass as ``since`` next time (a little before ``as_of``: entries may repeat)."""


def hotlist(ctx: ServiceContext, actor: Actor, since: datetime | None = None) -> HotlistPage:
    """Cards whose hotlist standing changed since `since` (every hotlisted card if None).

    For terminals and counters; not a business item, so not journaled. It returns card
    numbers and states only, no person data. Incremental: a card appears when its
    state changed at or after `since`, and a temporary loss appears again (with
    ``on_hotlist`` False) when it lapses. ``next_since`` lies ``HOTLIST_OVERLAP``
    before ``as_of`` so that a change committed while this list was read is not
    missed; terminals apply entries idempotently.
    """
    if isinstance(actor, OperatorActor) and not (
        actor.has(Role.CLERK) or actor.has(Role.SUPERVISOR)
    ):
        raise PermissionDenied("the hotlist is for terminals, clerks and supervisors")
    if since is not None and (not isinstance(since, datetime) or since.tzinfo is None):
        raise ValidationFailed("since", "must be a timezone-aware datetime")
    now = ctx.now()
    lapse = timedelta(days=ctx.config.temp_loss_lapse_days)
    hot_states = [s for s in CardState if on_hotlist(s)]
    entries: dict[int, HotlistEntry] = {}
    with ctx.database.read_only_unit_of_work() as uow:
        session = uow.session
        query = select(Card).order_by(Card.state_changed_at, Card.id)
        if since is None:
            query = query.where(Card.state.in_(hot_states))
        else:
            query = query.where(Card.state_changed_at >= since)
        for card in session.execute(query).scalars():
            entries[card.id] = _entry(card, now, lapse)
        if since is not None:
            lapsed = select(Card).where(
                Card.state == CardState.TEMPORARILY_LOST,
                Card.state_changed_at >= since - lapse,
                Card.state_changed_at <= now - lapse,
            )
            for card in session.execute(lapsed).scalars():
                entries[card.id] = _entry(card, now, lapse)
    ordered = sorted(entries.values(), key=lambda e: (e.changed_at, e.card_number))
    if since is None:
        ordered = [e for e in ordered if e.on_hotlist]
    return HotlistPage(tuple(ordered), now, now - HOTLIST_OVERLAP)


def _entry(card: Card, now: datetime, lapse: timedelta) -> HotlistEntry:
    if card.state is CardState.TEMPORARILY_LOST and card.state_changed_at + lapse <= now:
        return HotlistEntry(
            card.card_number, CardState.ACTIVE, False, card.state_changed_at + lapse
        )
    return HotlistEntry(card.card_number, card.state, on_hotlist(card.state), card.state_changed_at)
