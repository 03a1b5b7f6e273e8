"""The counter and kiosk programs' errors (one root: :class:`TerminalError`)."""

from __future__ import annotations

from cardsvc.errors import CardsvcError


class TerminalError(CardsvcError):
    """Root of the counter and kiosk programs' own errors."""


class InputError(TerminalError):
    """A command or a value the user typed is not valid; `field` names what."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


class NoCardSession(TerminalError):  # noqa: N818 - a state, not a fault
    """The command needs a card (or a person) and none is selected."""


class SessionEnded(TerminalError):  # noqa: N818 - a state, not a fault
    """The customer's session ended (card out, idle timeout, end of input)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class NotAllowed(TerminalError):  # noqa: N818 - a refusal, not a fault
    """The operator's roles (or the kiosk) do not offer this item; nothing was sent."""
