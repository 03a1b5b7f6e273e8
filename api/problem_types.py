"""The stable problem types of the API (RFC 9457 ``type`` members).

Scheme: ``https://cardsvc.invalid/problems/<slug>``. The ``.invalid`` top-level
domain is reserved (RFC 2606) and never resolves: the URIs are identifiers, not
pages. Clients switch on ``type`` (never on ``title`` or ``detail``, which are for
people). A slug, once published, keeps its meaning and its HTTP status.
HTTP errors with no meaning beyond their status use ``about:blank`` (RFC 9457 §4.2.1).

This is the one registry of problem types, the card-session ones included
(``forged-card`` 403, ``card-challenge-used`` 409, ``card-challenge-expired`` 410,
``card-session-expired`` 410); raise any of them as
``ApiError(detail, kind=ProblemType.…)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

PROBLEM_BASE = "https://cardsvc.invalid/problems/"
ABOUT_BLANK = "about:blank"


class ProblemType(StrEnum):
    """Slug of each problem type (the last path segment of its URI)."""

    INVALID_REQUEST = "invalid-request"
    INVALID_VALUE = "invalid-value"
    UNAUTHENTICATED = "unauthenticated"
    INVALID_TOKEN = "invalid-token"  # noqa: S105 - a problem type, not a secret
    INVALID_CREDENTIALS = "invalid-credentials"
    ACCOUNT_LOCKED = "account-locked"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not-found"
    METHOD_NOT_ALLOWED = "method-not-allowed"
    CONFLICT = "conflict"
    APPROVAL_REQUIRED = "approval-required"
    IDEMPOTENCY_IN_PROGRESS = "idempotency-request-in-progress"
    IDEMPOTENCY_KEY_REUSED = "idempotency-key-reused"
    PAYLOAD_TOO_LARGE = "payload-too-large"
    RATE_LIMITED = "rate-limited"
    INTERNAL_ERROR = "internal-error"
    SERVICE_UNAVAILABLE = "service-unavailable"
    # The card-session routes' own types (documented on those routes only):
    FORGED_CARD = "forged-card"
    CARD_CHALLENGE_USED = "card-challenge-used"
    CARD_CHALLENGE_EXPIRED = "card-challenge-expired"
    CARD_SESSION_EXPIRED = "card-session-expired"

    @property
    def uri(self) -> str:
        return PROBLEM_BASE + self.value

    @property
    def status(self) -> int:
        return SPECS[self].status


@dataclass(frozen=True, slots=True)
class ProblemSpec:
    status: int
    title: str
    meaning: str
    general: bool = True
    """Listed for its status on every route that declares that status; False for the
    types only some routes answer (they name them with `describe`)."""


P = ProblemType

SPECS: dict[ProblemType, ProblemSpec] = {
    P.INVALID_REQUEST: ProblemSpec(
        422,
        "The request is malformed",
        "a body, query, path or header value has the wrong shape; `errors` names each field",
    ),
    P.INVALID_VALUE: ProblemSpec(
        422,
        "A value cannot be used",
        "a well-formed value the business item cannot work with; `field` names it",
    ),
    P.UNAUTHENTICATED: ProblemSpec(
        401, "Authentication required", "no `Authorization: Bearer <token>` header"
    ),
    P.INVALID_TOKEN: ProblemSpec(
        401,
        "The token is not valid",
        "the bearer token is unknown, malformed, expired or revoked: sign in again",
    ),
    P.INVALID_CREDENTIALS: ProblemSpec(
        401,
        "Sign-in failed",
        "unknown user or device, or wrong password or credential (never says which)",
    ),
    P.ACCOUNT_LOCKED: ProblemSpec(
        423,
        "The account is locked",
        "too many failed sign-ins; `retry_after` (and the Retry-After header) says when "
        "to try again",
    ),
    P.FORBIDDEN: ProblemSpec(403, "Not permitted", "the caller's role or channel may not do this"),
    P.NOT_FOUND: ProblemSpec(
        404,
        "Not found",
        "no such resource, or one outside the caller's scope (the two are not told apart)",
    ),
    P.METHOD_NOT_ALLOWED: ProblemSpec(
        405, "Method not allowed", "the path exists but not with this method (see Allow)"
    ),
    P.CONFLICT: ProblemSpec(
        409,
        "Conflict with the current state",
        "the records' current state does not allow this; `current` may name it",
    ),
    P.APPROVAL_REQUIRED: ProblemSpec(
        409,
        "Waiting for approval",
        "an R05 change a reviewer has not decided blocks this; `change_ids` names them",
    ),
    P.IDEMPOTENCY_IN_PROGRESS: ProblemSpec(
        409,
        "A request with this idempotency key is still running",
        "retry after the first request finished to get its response",
    ),
    P.IDEMPOTENCY_KEY_REUSED: ProblemSpec(
        422,
        "The idempotency key was used for another request",
        "same key, different method, path or body: use a new key for a new request",
    ),
    P.PAYLOAD_TOO_LARGE: ProblemSpec(
        413, "The request body is too large", "the body exceeds the server's limit"
    ),
    P.RATE_LIMITED: ProblemSpec(
        429,
        "Too many requests",
        "the operator's or device's request budget for this window is spent; see Retry-After",
    ),
    P.INTERNAL_ERROR: ProblemSpec(
        500,
        "Internal server error",
        "an unexpected failure; `request_id` identifies it in the server's log",
    ),
    P.SERVICE_UNAVAILABLE: ProblemSpec(
        503,
        "Service unavailable",
        "the database cannot be reached or is not migrated; retry later",
    ),
    P.FORGED_CARD: ProblemSpec(
        403,
        "The card is refused as forged",
        "the card's answer does not verify, or the card is not the one recorded for its "
        "card number: a forged or foreign card (journaled as event card_authentication); "
        "serve nothing",
        general=False,
    ),
    P.CARD_CHALLENGE_USED: ProblemSpec(
        409,
        "The challenge was answered already",
        "a challenge is answered once (a replayed proof): start a new card session",
        general=False,
    ),
    P.CARD_CHALLENGE_EXPIRED: ProblemSpec(
        410,
        "The challenge has expired",
        "the proof came after the challenge's expires_at: start a new card session",
        general=False,
    ),
    P.CARD_SESSION_EXPIRED: ProblemSpec(
        410,
        "The card session is over",
        "the card session ended (card out) or expired: present the card again",
        general=False,
    ),
}


def types_for_status(status: int) -> tuple[ProblemType, ...]:
    """The general problem types that come with `status`, in declaration order."""
    return tuple(kind for kind, spec in SPECS.items() if spec.status == status and spec.general)


def describe(*kinds: ProblemType, also: str = "") -> str:
    """A response description listing `kinds` (for ``problem_responses(s403=...)``)."""
    text = "; ".join(f"`{kind.value}`: {SPECS[kind].meaning}" for kind in kinds)
    return f"{text}; {also}" if also else text
