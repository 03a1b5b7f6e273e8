"""What the counter and kiosk programs need from the API client and the station agent.

The real implementations are cardsvc.client.ApiClient and cardsvc.agent.client.AgentClient
(issue 6 design contract); tests give fakes of these ports. Both raise problems as
exceptions carrying ``status``, ``type`` (a problem type URI or slug), ``title``,
``detail``, ``field`` and ``extra`` (the problem's other members, e.g. ``tries_left``);
:func:`problem_of` reads them from any such exception.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol

from cardsvc.errors import CardsvcError


class ApiPort(Protocol):
    """The API client (cardsvc.client.ApiClient)."""

    def login(self, username: str, password: str) -> None: ...

    def device_sign_in(self, device: str, credential: str) -> None: ...

    def logout(self) -> None: ...

    @property
    def token(self) -> str | None: ...

    def request(
        self,
        method: str,
        path: str,
        *,
        json: object | None = None,
        params: Mapping[str, str] | None = None,
        card_session: str | None = None,
        idempotency_key: str | None = None,
    ) -> Any: ...


class AgentPort(Protocol):
    """The station agent's client (cardsvc.agent.client.AgentClient).

    ``card()`` is None when the reader is empty; ``wait_for_card`` returns the card and
    raises a 408 ``no-card`` problem after its timeout; ``wait_for_removal`` returns once
    the reader is empty and raises a 408 ``card-present`` problem after its timeout.
    Use :func:`current_card`, :func:`wait_for_card` and :func:`wait_for_removal` here,
    which turn those timeouts into None / False.
    """

    def card(self) -> dict[str, Any] | None: ...

    def reader_string(self) -> str: ...

    def verify_pin(self, pin: str) -> Any: ...

    def change_pin(self, old_pin: str, new_pin: str) -> Any: ...

    def reload_pin(self, new_pin: str, token: str) -> Any: ...

    def open_session(self, token: str) -> dict[str, Any]: ...

    def wait_for_card(self, timeout: float) -> Any: ...

    def wait_for_removal(self, timeout: float) -> Any: ...


@dataclass(frozen=True, slots=True)
class Problem:
    """A problem answer (RFC 9457) as the terminals show it."""

    status: int
    slug: str
    title: str
    detail: str
    field: str | None = None
    extra: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def unreachable(self) -> bool:
        return self.status == 0 or self.slug in {"unreachable", "about:unreachable"}

    def text(self) -> str:
        """One line for the user: the detail (or title), naming the field when there is one."""
        message = self.detail or self.title or self.slug
        if self.detail and self.title and self.title not in self.detail:
            message = f"{self.title}: {self.detail}"
        if self.field and self.field not in message:
            message = f"{message} (field {self.field})"
        current = self.extra.get("current")
        if current and str(current) not in message:
            message = f"{message} (now: {current})"
        return message


def slug_of(problem_type: str) -> str:
    """`https://cardsvc.invalid/problems/wrong-pin` → `wrong-pin`; `about:x` → `x`."""
    text = problem_type.strip()
    if text.startswith("about:"):
        return text.removeprefix("about:") or "about:blank"
    return text.rstrip("/").rsplit("/", 1)[-1]


def problem_of(exc: BaseException) -> Problem | None:
    """The problem an API or agent client exception carries, or None for anything else."""
    status = getattr(exc, "status", None)
    kind = getattr(exc, "type", None)
    if not isinstance(status, int) or not isinstance(kind, str):
        return None
    extra = getattr(exc, "extra", None)
    field_name = getattr(exc, "field", None)
    return Problem(
        status=status,
        slug=slug_of(kind),
        title=str(getattr(exc, "title", "") or ""),
        detail=str(getattr(exc, "detail", "") or ""),
        field=field_name if isinstance(field_name, str) else None,
        extra=dict(extra) if isinstance(extra, Mapping) else {},
    )


_WAIT_OVER: Final = frozenset({"no-card", "card-present"})


def _waited_in_vain(exc: BaseException) -> bool:
    problem = problem_of(exc)
    return problem is not None and (problem.status == 408 or problem.slug in _WAIT_OVER)


def current_card(agent: AgentPort) -> dict[str, Any] | None:
    """The card in the reader now (the agent's /v1/card JSON), None when there is none."""
    try:
        card = agent.card()
    except CardsvcError as exc:
        if _waited_in_vain(exc):
            return None
        raise
    return dict(card) if isinstance(card, Mapping) else None


def wait_for_card(agent: AgentPort, timeout: float) -> dict[str, Any] | None:
    """The card once one is in the reader; None when none came within `timeout`."""
    try:
        card = agent.wait_for_card(timeout)
    except CardsvcError as exc:
        if _waited_in_vain(exc):
            return None
        raise
    if isinstance(card, Mapping):
        return dict(card)
    data = getattr(card, "data", None)  # an AgentEvent
    return dict(data) if isinstance(data, Mapping) else None


def wait_for_removal(agent: AgentPort, timeout: float) -> bool:
    """True once the reader is empty; False when the card is still in after `timeout`."""
    try:
        answer = agent.wait_for_removal(timeout)
    except CardsvcError as exc:
        if _waited_in_vain(exc):
            return False
        raise
    return answer is None or bool(answer)
