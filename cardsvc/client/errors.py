"""`ApiProblem`: what the API answered instead of a result (RFC 9457), or why it did not answer."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from cardsvc.errors import CardsvcError

PROBLEM_BASE: Final = "https://cardsvc.invalid/problems/"
UNREACHABLE: Final = "about:unreachable"
INVALID_ARGUMENT: Final = "about:invalid-argument"

# The RFC's members and ours that get their own attribute; the rest goes to `extra`.
_OWN_MEMBERS: Final = frozenset({"type", "title", "status", "detail", "field"})


class ApiProblem(CardsvcError):  # noqa: N818 - the contract's name
    """A problem+json answer of the API (status >= 400), or a transport failure (status 0).

    `type` is the problem's URI as the API sent it (``https://cardsvc.invalid/problems/
    not-found``, ``about:blank``), or ``about:unreachable`` when the API could not be
    reached (connection refused, timeout); `slug` is its last segment (``not-found``,
    ``unreachable``), which is what callers switch on. `extra` holds every other member
    (``request_id``, ``retry_after``, ``current``, ``errors``, ``tries_left`` ...).
    """

    def __init__(
        self,
        status: int,
        type: str,
        title: str,
        detail: str = "",
        *,
        field: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        self.status = status
        self.type = type
        self.title = title
        self.detail = detail
        self.field = field
        self.extra: dict[str, Any] = dict(extra or {})
        super().__init__(self.message)

    @property
    def slug(self) -> str:
        """The problem type's short name: the last segment of `type` (or of about:…)."""
        if self.type.startswith(PROBLEM_BASE):
            return self.type[len(PROBLEM_BASE) :]
        return self.type.removeprefix("about:")

    @property
    def unreachable(self) -> bool:
        return self.status == 0

    @property
    def message(self) -> str:
        """One line for people: the title, the detail, the field."""
        text = self.title
        if self.detail and self.detail != self.title:
            text = f"{text}: {self.detail}"
        if self.field:
            text = f"{text} (field {self.field})"
        if self.status:
            text = f"{text} [{self.status} {self.slug}]"
        return text

    @classmethod
    def from_body(cls, status: int, body: object, reason: str = "") -> ApiProblem:
        """From a decoded problem body (anything that is not a dict gives a generic problem)."""
        if not isinstance(body, dict):
            title = reason or f"HTTP {status}"
            return cls(status, "about:blank", title, "the API answered without a problem body")
        extra = {k: v for k, v in body.items() if k not in _OWN_MEMBERS}
        field = body.get("field")
        return cls(
            status=code if isinstance(code := body.get("status"), int) else status,
            type=str(body.get("type") or "about:blank"),
            title=str(body.get("title") or reason or f"HTTP {status}"),
            detail=str(body.get("detail") or ""),
            field=field if isinstance(field, str) else None,
            extra=extra,
        )

    def to_dict(self) -> dict[str, Any]:
        """The problem as a JSON object again (for relaying it, e.g. by the station agent)."""
        body: dict[str, Any] = {**self.extra, "type": self.type, "title": self.title}
        body["status"] = self.status
        if self.detail:
            body["detail"] = self.detail
        if self.field is not None:
            body["field"] = self.field
        return body
