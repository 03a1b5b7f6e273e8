"""Errors of the station core (root: `StationError`); each names a stable `code`.

The agent turns them into problem+json: `code` is the problem type's slug,
`status` its HTTP status, `extra` further members (``tries_left``). Messages never
hold a PIN.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cardsvc.errors import CardsvcError


class StationError(CardsvcError):
    """A station operation that cannot be done; `code`/`status` say which and how bad."""

    code = "station-error"
    status = 500

    def __init__(self, message: str, *, extra: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.extra: dict[str, Any] = dict(extra or {})


class NoCardPresent(StationError):  # noqa: N818 - the problem's name
    code = "no-card"
    status = 404


class CardNotServed(StationError):  # noqa: N818
    """The card is hotlisted (or could not be authenticated): nothing is done with it."""

    code = "card-not-served"
    status = 409


class UnknownCard(StationError):  # noqa: N818
    """The API has no record of the card (its number and identification code)."""

    code = "unknown-card"
    status = 404


class WrongPin(StationError):  # noqa: N818
    code = "wrong-pin"
    status = 422

    def __init__(self, tries_left: int) -> None:
        super().__init__(
            f"wrong PIN: {tries_left} {'try' if tries_left == 1 else 'tries'} left",
            extra={"tries_left": tries_left},
        )
        self.tries_left = tries_left


class PinBlockedError(StationError):
    code = "pin-blocked"
    status = 423

    def __init__(self) -> None:
        super().__init__(
            "the PIN is blocked (no tries left): the holder must go to a counter to have it "
            "reloaded",
            extra={"tries_left": 0},
        )


class InvalidPinFormat(StationError):  # noqa: N818
    code = "invalid-value"
    status = 422


class CardFailure(StationError):  # noqa: N818
    """The card or reader failed during the operation (pulled, mute, refused a command)."""

    code = "card-error"
    status = 409


class ApiUnavailable(StationError):  # noqa: N818
    """The API could not be reached (or answered 5xx) while the card needed it."""

    code = "api-unavailable"
    status = 503


class ApiRefused(StationError):  # noqa: N818
    """The API refused the caller's request; `problem` is its problem body, relayed as is."""

    code = "api-problem"

    def __init__(self, message: str, status: int, problem: Mapping[str, Any]) -> None:
        super().__init__(message)
        self.status = status
        self.problem: dict[str, Any] = dict(problem)
