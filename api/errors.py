"""Errors the API layer raises on purpose (root: :class:`ApiError`).

Each carries the problem type, the detail for the client, and whatever the
problem response needs (field, headers, extension members). `api.problems` turns
them (and the services' errors) into ``application/problem+json`` responses.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from api.problem_types import ProblemType
from cardsvc.errors import CardsvcError


class ApiError(CardsvcError):
    """Root of the API's own errors: one problem type, a detail, optional data."""

    kind: ProblemType = ProblemType.INTERNAL_ERROR

    def __init__(
        self,
        detail: str,
        *,
        kind: ProblemType | None = None,
        field: str | None = None,
        headers: Mapping[str, str] | None = None,
        extensions: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        if kind is not None:
            self.kind = kind
        self.detail = detail
        self.field = field
        self.headers: dict[str, str] = dict(headers or {})
        self.extensions: dict[str, Any] = dict(extensions or {})


_BEARER_CHALLENGE = 'Bearer realm="cardsvc"'


class Unauthenticated(ApiError):  # noqa: N818 - named for the problem
    kind = ProblemType.UNAUTHENTICATED

    def __init__(self, detail: str = "send the header Authorization: Bearer <token>") -> None:
        super().__init__(detail, headers={"WWW-Authenticate": _BEARER_CHALLENGE})


class InvalidToken(ApiError):  # noqa: N818 - named for the problem
    kind = ProblemType.INVALID_TOKEN

    def __init__(
        self, detail: str = "the token is unknown, expired or revoked: sign in again"
    ) -> None:
        super().__init__(
            detail,
            headers={"WWW-Authenticate": _BEARER_CHALLENGE + ', error="invalid_token"'},
        )


class InvalidCredentials(ApiError):  # noqa: N818 - named for the problem
    kind = ProblemType.INVALID_CREDENTIALS

    def __init__(self, detail: str) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": _BEARER_CHALLENGE})


class AccountLocked(ApiError):  # noqa: N818 - named for the problem
    """Too many failed sign-ins: locked until `locked_until` (retry in `retry_after_s`)."""

    kind = ProblemType.ACCOUNT_LOCKED

    def __init__(self, detail: str, *, locked_until: datetime, retry_after_s: int) -> None:
        super().__init__(
            detail,
            headers={"Retry-After": str(retry_after_s)},
            extensions={"retry_after": retry_after_s, "locked_until": locked_until},
        )
        self.locked_until = locked_until
        self.retry_after_s = retry_after_s


class Forbidden(ApiError):  # noqa: N818 - named for the problem
    kind = ProblemType.FORBIDDEN


class RateLimited(ApiError):  # noqa: N818 - named for the problem
    """The caller's budget for the current window is spent."""

    kind = ProblemType.RATE_LIMITED

    def __init__(self, detail: str, *, retry_after_s: int) -> None:
        super().__init__(
            detail,
            headers={"Retry-After": str(retry_after_s)},
            extensions={"retry_after": retry_after_s},
        )
        self.retry_after_s = retry_after_s


class IdempotencyInProgress(ApiError):  # noqa: N818 - named for the problem
    kind = ProblemType.IDEMPOTENCY_IN_PROGRESS

    def __init__(self, detail: str, *, retry_after_s: int) -> None:
        super().__init__(
            detail,
            field="Idempotency-Key",
            headers={"Retry-After": str(retry_after_s)},
            extensions={"retry_after": retry_after_s},
        )


class IdempotencyKeyMismatch(ApiError):  # noqa: N818 - named for the problem
    kind = ProblemType.IDEMPOTENCY_KEY_REUSED

    def __init__(self, detail: str) -> None:
        super().__init__(detail, field="Idempotency-Key")


class ServiceUnavailable(ApiError):  # noqa: N818 - named for the problem
    kind = ProblemType.SERVICE_UNAVAILABLE

    def __init__(self, detail: str, *, retry_after_s: int = 5) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after_s)})
