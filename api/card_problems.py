"""The problem types of the card-session routes, and the route class that renders them.

The types (``https://cardsvc.invalid/problems/<slug>``, stable like every other):

==========================  ======  ==================================================
slug                        status  meaning
==========================  ======  ==================================================
``forged-card``             403     the card's answer to the challenge is wrong, or the
                                    card is not the one its card number is recorded
                                    for: a forged or foreign card (journaled); stop
``card-challenge-used``     409     the challenge was answered already (a replayed
                                    proof): start a new card session
``card-challenge-expired``  410     the challenge's time ran out before the proof:
                                    start a new card session
``card-session-expired``    410     the card session ended (card out) or expired:
                                    present the card again
==========================  ======  ==================================================

They are not (yet) members of :class:`api.problem_types.ProblemType`; routers built
with ``route_class=CardProblemRoute`` catch :class:`CardProblem` and render it as an
RFC 9457 problem like api.problems does. Raised elsewhere, a CardProblem still
becomes a problem through the ApiError handler (with its ``fallback`` type).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.routing import APIRoute
from starlette.responses import Response

from api.errors import ApiError
from api.problem_types import PROBLEM_BASE, ProblemType
from api.problems import Problem, render, request_id_of


@dataclass(frozen=True, slots=True)
class CardProblemSpec:
    status: int
    title: str
    meaning: str
    fallback: ProblemType


class CardProblemType(enum.StrEnum):
    FORGED_CARD = "forged-card"
    CHALLENGE_USED = "card-challenge-used"
    CHALLENGE_EXPIRED = "card-challenge-expired"
    SESSION_EXPIRED = "card-session-expired"

    @property
    def uri(self) -> str:
        return PROBLEM_BASE + self.value

    @property
    def spec(self) -> CardProblemSpec:
        return CARD_PROBLEMS[self]


C = CardProblemType
CARD_PROBLEMS: dict[CardProblemType, CardProblemSpec] = {
    C.FORGED_CARD: CardProblemSpec(
        403,
        "The card is refused as forged",
        "the card's answer does not verify, or the card is not the one recorded for its "
        "card number: a forged or foreign card; serve nothing",
        ProblemType.FORBIDDEN,
    ),
    C.CHALLENGE_USED: CardProblemSpec(
        409,
        "The challenge was answered already",
        "a challenge is answered once (a replayed proof): start a new card session",
        ProblemType.CONFLICT,
    ),
    C.CHALLENGE_EXPIRED: CardProblemSpec(
        410,
        "The challenge has expired",
        "the proof came after the challenge's expires_at: start a new card session",
        ProblemType.CONFLICT,
    ),
    C.SESSION_EXPIRED: CardProblemSpec(
        410,
        "The card session is over",
        "the card session ended (card out) or expired: present the card again",
        ProblemType.CONFLICT,
    ),
}


class CardProblem(ApiError):  # noqa: N818 - named for the problem
    """A card-session problem of one of the :class:`CardProblemType` types."""

    def __init__(
        self, card_kind: CardProblemType, detail: str, *, field: str | None = None
    ) -> None:
        super().__init__(detail, kind=card_kind.spec.fallback, field=field)
        self.card_kind = card_kind


def render_card_problem(request: Request, exc: CardProblem) -> Response:
    spec = exc.card_kind.spec
    rid = request_id_of(request.scope)
    problem = Problem(
        type=exc.card_kind.uri,
        title=spec.title,
        status=spec.status,
        detail=exc.detail,
        instance=f"urn:cardsvc:request:{rid}",
        field=exc.field,
        request_id=rid,
    )
    return render(problem)


class CardProblemRoute(APIRoute):
    """An APIRoute that answers a :class:`CardProblem` with its own problem type."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def with_card_problems(request: Request) -> Response:
            try:
                return await handler(request)
            except CardProblem as exc:
                return render_card_problem(request, exc)

        return with_card_problems


def describe(*kinds: CardProblemType, also: str = "") -> str:
    """A response description listing `kinds` (for ``problem_responses(s403=...)``)."""
    lines = [f"`{kind.value}`: {kind.spec.meaning}" for kind in kinds]
    text = "; ".join(lines)
    return f"{text}; {also}" if also else text
