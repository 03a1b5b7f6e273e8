"""The card state machine (items C01-C04, C07, C08) and what a terminal does at presentation.

States and actions (shared/domain.md section 4, "Card lifecycle")::

    issued ──activate──► active
    active ──report_temporary_loss──► temporarily_lost   (counter or phone)
    temporarily_lost ──(lapse after config.temp_loss_lapse_days)──► active
    active | temporarily_lost ──report_formal_loss──► lost   (counter, ID checked)
    temporarily_lost | lost ──cancel_loss (解挂)──► active
    lost ──request_replacement──► replaced   (a new card is issued; this one is dead)
    any state but cancelled ──cancel──► cancelled   (death, emigration; supervisor)

"Cancel a loss only while no replacement was asked for" is the state itself: asking
for a replacement moves the card to ``replaced``, from which no action but ``cancel``
leads anywhere. ``cancelled`` is final: cancelling it again is refused, so a second
C08 for the same card is reported instead of silently journaled twice.

The lapse of a temporary loss is not stored: :func:`effective_state` computes it from
the stored state, the day the state was entered and today. Callers apply
:func:`transition` to the *effective* state (a lapsed temporary loss is active again,
so it can be reported lost formally but no longer 解挂'd).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from cardsvc.rules.config import RulesConfig
from cardsvc.rules.errors import IllegalTransition, RuleInputError


class CardState(enum.Enum):
    ISSUED = "issued"
    ACTIVE = "active"
    TEMPORARILY_LOST = "temporarily_lost"
    LOST = "lost"
    REPLACED = "replaced"
    CANCELLED = "cancelled"


class CardAction(enum.Enum):
    ACTIVATE = "activate"
    REPORT_TEMPORARY_LOSS = "report_temporary_loss"
    REPORT_FORMAL_LOSS = "report_formal_loss"
    CANCEL_LOSS = "cancel_loss"
    REQUEST_REPLACEMENT = "request_replacement"
    CANCEL = "cancel"


class TerminalAction(enum.Enum):
    """What a terminal must send to the card at presentation (shared/ssc-card.md)."""

    NONE = "none"
    APPLICATION_BLOCK = "application_block"
    APPLICATION_UNBLOCK = "application_unblock"


_S = CardState
_A = CardAction

_TRANSITIONS: dict[tuple[CardState, CardAction], tuple[CardState, str]] = {
    (_S.ISSUED, _A.ACTIVATE): (_S.ACTIVE, "C07 activation: issued → active"),
    (_S.ACTIVE, _A.REPORT_TEMPORARY_LOSS): (
        _S.TEMPORARILY_LOST,
        "C01 temporary loss: active → temporarily_lost (lapses back to active)",
    ),
    (_S.ACTIVE, _A.REPORT_FORMAL_LOSS): (
        _S.LOST,
        "C02 formal loss (ID checked): active → lost",
    ),
    (_S.TEMPORARILY_LOST, _A.REPORT_FORMAL_LOSS): (
        _S.LOST,
        "C02 formal loss (ID checked): temporarily_lost → lost",
    ),
    (_S.TEMPORARILY_LOST, _A.CANCEL_LOSS): (
        _S.ACTIVE,
        "C03 解挂: temporarily_lost → active (no replacement asked for)",
    ),
    (_S.LOST, _A.CANCEL_LOSS): (
        _S.ACTIVE,
        "C03 解挂: lost → active (no replacement asked for)",
    ),
    (_S.LOST, _A.REQUEST_REPLACEMENT): (
        _S.REPLACED,
        "C04 replacement: lost → replaced (new card issued; this card is dead)",
    ),
}
for _state in CardState:
    if _state is not CardState.CANCELLED:
        _TRANSITIONS[(_state, _A.CANCEL)] = (
            _S.CANCELLED,
            f"C08 cancellation: {_state.value} → cancelled",
        )
del _state

_WHY_NOT: dict[CardState, str] = {
    _S.ISSUED: "the card has not been activated yet",
    _S.ACTIVE: "the card is active",
    _S.TEMPORARILY_LOST: "the card is reported temporarily lost",
    _S.LOST: "the card is reported lost",
    _S.REPLACED: "a replacement was asked for; this card is dead",
    _S.CANCELLED: "the card is cancelled; no action applies",
}

_HOTLISTED = frozenset({_S.TEMPORARILY_LOST, _S.LOST, _S.REPLACED, _S.CANCELLED})


@dataclass(frozen=True, slots=True)
class Transition:
    """The result of a legal card action."""

    from_state: CardState
    action: CardAction
    to_state: CardState
    rule: str
    reasons: tuple[str, ...]
    on_hotlist: bool
    """Whether the card is on the hotlist after the action."""


@dataclass(frozen=True, slots=True)
class EffectiveState:
    """The state a card is really in today (a temporary loss may have lapsed)."""

    state: CardState
    stored_state: CardState
    lapsed: bool
    lapses_on: date | None
    """When the stored temporary loss lapses (or lapsed); None for other states."""
    rule: str
    reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TerminalDecision:
    """What a terminal does when a card is presented."""

    action: TerminalAction
    serve: bool
    """False for a hotlisted card: the terminal serves nothing."""
    rule: str
    reasons: tuple[str, ...]


def allowed_actions(state: CardState) -> frozenset[CardAction]:
    """The actions legal from ``state``."""
    return frozenset(action for (s, action) in _TRANSITIONS if s is state)


def transition(state: CardState, action: CardAction) -> Transition:
    """Apply ``action`` to a card in ``state`` (pass the *effective* state).

    Raises :class:`IllegalTransition` (naming the current state) when not allowed.
    """
    found = _TRANSITIONS.get((state, action))
    if found is None:
        raise IllegalTransition(state, action, _WHY_NOT[state])
    to_state, rule = found
    reasons: tuple[str, ...] = (f"{action.value} is allowed from {state.value}",)
    if to_state is CardState.REPLACED:
        reasons = (*reasons, "the old card stays on the hotlist for good")
    return Transition(
        from_state=state,
        action=action,
        to_state=to_state,
        rule=rule,
        reasons=reasons,
        on_hotlist=on_hotlist(to_state),
    )


def on_hotlist(state: CardState) -> bool:
    """Lost, temporarily lost, replaced and cancelled cards are on the hotlist."""
    return state in _HOTLISTED


def effective_state(
    card_state: CardState, since: date, now: date, config: RulesConfig
) -> EffectiveState:
    """The state today: a temporary loss entered on ``since`` lapses to active.

    A temporary loss reported on day D lapses at D + ``config.temp_loss_lapse_days``
    (sample 5: reported 1 March → active again from 6 March). ``since`` and ``now`` must
    both be dates or both datetimes (then the lapse is to the second). ``now`` before
    ``since`` is refused (a clock or record error, not a state).
    """
    if isinstance(since, datetime) != isinstance(now, datetime):
        raise RuleInputError("now", "since and now must both be dates or both be datetimes")
    if now < since:
        raise RuleInputError("now", f"{now.isoformat()} is before since {since.isoformat()}")
    if card_state is not CardState.TEMPORARILY_LOST:
        return EffectiveState(
            state=card_state,
            stored_state=card_state,
            lapsed=False,
            lapses_on=None,
            rule="stored state applies (only a temporary loss lapses)",
            reasons=(f"the card is {card_state.value}",),
        )
    lapse_at = since + timedelta(days=config.temp_loss_lapse_days)
    lapses_on = lapse_at.date() if isinstance(lapse_at, datetime) else lapse_at
    rule = f"a temporary loss lapses after {config.temp_loss_lapse_days} days unless made formal"
    if now >= lapse_at:
        return EffectiveState(
            state=CardState.ACTIVE,
            stored_state=card_state,
            lapsed=True,
            lapses_on=lapses_on,
            rule=rule,
            reasons=(f"temporary loss reported {since.isoformat()} lapsed {lapse_at.isoformat()}",),
        )
    return EffectiveState(
        state=card_state,
        stored_state=card_state,
        lapsed=False,
        lapses_on=lapses_on,
        rule=rule,
        reasons=(
            f"temporary loss reported {since.isoformat()} holds until {lapse_at.isoformat()}",
        ),
    )


def terminal_action(state: CardState, card_app_blocked: bool) -> TerminalDecision:
    """What a terminal must do when a card in ``state`` (the effective state) is presented.

    Hotlisted and not yet blocked → APPLICATION BLOCK, serve nothing. Hotlisted and
    already blocked → nothing to send, serve nothing. Not hotlisted but blocked (the
    loss was cancelled or lapsed while the application was blocked) → APPLICATION
    UNBLOCK, then serve. Otherwise nothing to do; serve.
    """
    if on_hotlist(state):
        if card_app_blocked:
            return TerminalDecision(
                action=TerminalAction.NONE,
                serve=False,
                rule="hotlisted card: serve nothing",
                reasons=(f"the card is {state.value}", "its application is already blocked"),
            )
        return TerminalDecision(
            action=TerminalAction.APPLICATION_BLOCK,
            serve=False,
            rule="hotlisted card: block its application and serve nothing",
            reasons=(f"the card is {state.value}", "its application is not blocked yet"),
        )
    if card_app_blocked:
        return TerminalDecision(
            action=TerminalAction.APPLICATION_UNBLOCK,
            serve=True,
            rule="a card un-lost while blocked is unblocked at its next presentation",
            reasons=(
                f"the card is {state.value}, not on the hotlist",
                "its application is blocked",
            ),
        )
    reasons: tuple[str, ...] = (f"the card is {state.value}",)
    if state is CardState.ISSUED:
        reasons = (*reasons, "not activated yet: only activation (C07) applies")
    return TerminalDecision(
        action=TerminalAction.NONE,
        serve=True,
        rule="card not on the hotlist",
        reasons=reasons,
    )
