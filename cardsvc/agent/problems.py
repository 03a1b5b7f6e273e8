"""problem+json answers of the agent (RFC 9457, the API's problem type URIs).

Details never echo a submitted value: a validation problem names the field only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from starlette.responses import JSONResponse

from cardsvc.station.errors import ApiRefused, StationError

PROBLEM_BASE: Final = "https://cardsvc.invalid/problems/"
MEDIA_TYPE: Final = "application/problem+json"

TITLES: Final = {
    "no-card": "No card in the reader",
    "wrong-pin": "Wrong PIN",
    "pin-blocked": "The PIN is blocked",
    "card-not-served": "The card is not served",
    "card-error": "The card or reader failed",
    "api-unavailable": "The API cannot be reached",
    "invalid-request": "The request is malformed",
    "invalid-value": "A value cannot be used",
    "unauthenticated": "Authentication required",
    "forbidden": "Not permitted",
    "not-found": "Not found",
    "method-not-allowed": "Method not allowed",
    "internal-error": "Internal error",
}


class ProblemResponse(JSONResponse):
    media_type = MEDIA_TYPE


def problem(
    status: int,
    slug: str,
    detail: str,
    *,
    field: str | None = None,
    extra: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> ProblemResponse:
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + slug,
        "title": TITLES.get(slug, slug.replace("-", " ").capitalize()),
        "status": status,
        "detail": detail,
    }
    if field is not None:
        body["field"] = field
    body.update(extra or {})
    return ProblemResponse(body, status_code=status, headers=dict(headers or {}))


def station_problem(exc: StationError) -> ProblemResponse:
    """A station error as a problem; an API refusal is relayed as the API said it."""
    if isinstance(exc, ApiRefused):
        return ProblemResponse(exc.problem, status_code=exc.status)
    extra = dict(exc.extra)
    field = extra.pop("field", None)
    return problem(
        exc.status, exc.code, exc.message, field=field if isinstance(field, str) else None,
        extra=extra,
    )  # fmt: skip
