"""Errors the business-item services raise on purpose (root: :class:`ServiceError`).

Each carries its data; the API layer (a later task) maps them to HTTP problems:
NotFound → 404, PermissionDenied → 403, ValidationFailed → 422, Conflict → 409,
IdempotencyKeyReused → 422, ApprovalRequired → 409.

Messages never hold a full ID number, a PIN or a key.
"""

from __future__ import annotations

from cardsvc.errors import CardsvcError


class ServiceError(CardsvcError):
    """Root of every error raised on purpose by ``cardsvc.services``."""


class NotFound(ServiceError):  # noqa: N818 -- the name the API layer maps
    """No such record for this caller.

    Also raised for a record outside the caller's sites: the caller cannot tell a
    person who does not exist from one they may not see (no data leaks).
    """

    def __init__(self, what: str) -> None:
        super().__init__(f"{what} not found")
        self.what = what


class PermissionDenied(ServiceError):  # noqa: N818
    """The caller's role or channel may not do this item."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"not permitted: {reason}")
        self.reason = reason


class ValidationFailed(ServiceError):  # noqa: N818
    """An input value the item cannot work with; names the field and the problem."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


class Conflict(ServiceError):  # noqa: N818
    """The records' current state does not allow the item.

    Examples: a duplicate open registration, an illegal card transition (``current``
    names the card's current state), a record changed concurrently (retry).
    """

    def __init__(self, reason: str, *, current: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.current = current


class IdempotencyKeyReused(ServiceError):  # noqa: N818
    """The idempotency key was used before for this actor and item with another input."""

    def __init__(self, key: str) -> None:
        super().__init__(
            f"idempotency key {key!r} was already used for a different request: "
            "use a new key for a new request"
        )
        self.key = key


class ApprovalRequired(ServiceError):  # noqa: N818
    """The item waits on an R05 name/ID-number change that a reviewer has not decided."""

    def __init__(self, reason: str, *, change_ids: tuple[int, ...] = ()) -> None:
        super().__init__(reason)
        self.reason = reason
        self.change_ids = change_ids
