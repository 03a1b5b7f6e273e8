"""Errors raised by the business rules (root: :class:`RuleError`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cardsvc.errors import CardsvcError

if TYPE_CHECKING:
    from cardsvc.rules.card_lifecycle import CardAction, CardState


class RuleError(CardsvcError):
    """Root of every error raised on purpose by ``cardsvc.rules``."""


class RuleInputError(RuleError):
    """An input value a rule cannot work with; names the field and the problem."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


class IllegalTransition(RuleError):  # noqa: N818 -- the name the service layer uses
    """A card action that the card's current state does not allow."""

    def __init__(self, current_state: CardState, action: CardAction, why: str = "") -> None:
        message = f"cannot {action.value} a card in state {current_state.value}"
        if why:
            message = f"{message}: {why}"
        super().__init__(message)
        self.current_state = current_state
        self.action = action
        self.why = why
