"""``/v1/cards/{card_number}/…`` (items C01-C08) and ``/v1/hotlist``.

Every write takes an ``Idempotency-Key``; the key is also the services' own
idempotency key, so a retry after a lost response gives the first result, once.
``X-Card-Session`` (optional) names the verified card session of the card in the
caller's reader: kiosks must send it (and act only for that card, on kiosk items:
C05, C07); an operator sending it may act on the card's holder outside their
sites. Card-state conflicts are 409 ``conflict`` with ``current`` naming the
card's state.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query

from api.card_presence import CardPresenceDep
from api.deps import ActorDep, ContextDep, IdempotencyKeyDep
from api.problems import problem_responses
from api.routes.params import IsoDateTime
from api.routing import ApiRouter
from api.schemas.cards import (
    CancellationRequest,
    CardReplacement,
    CardStateChange,
    HotlistOut,
    LossReportRequest,
    PinEventOut,
    PinReloadRequest,
    ReplacementRequest,
)
from cardsvc.services.errors import ValidationFailed
from cardsvc.services.items import cards as items

CardNumber = Annotated[
    str,
    Path(
        pattern=r"^[0-9A-Z]{8}[0-9X]$",
        description="the card number (EF05 tag 07): 8 characters 0-9/A-Z and the check",
        examples=["A00000011"],
    ),
]

_403 = (
    "`forbidden`: the caller's role or channel may not do this item (kiosks: only C05, C07 "
    "for the card of their X-Card-Session, PIN verified, card not hotlisted), or the "
    "X-Card-Session header names no live verified session of this caller (`field`)"
)
_404 = "`not-found`: no such card, or its holder is outside the caller's sites"
_409 = (
    "`conflict`: the card's state does not allow the item; `current` names it. "
    "`idempotency-request-in-progress`: a request with this Idempotency-Key is still running"
)
_WRITE = problem_responses(s403=_403, s404=_404, s409=_409)


EARLIEST_SINCE = datetime(2000, 1, 1, tzinfo=UTC)
LATEST_SINCE = datetime(2999, 12, 31, tzinfo=UTC)


def _bounded(since: datetime | None) -> datetime | None:
    """`since` in UTC, refused (422, field since) outside 2000-2999."""
    if since is None:
        return None
    try:
        utc = since.astimezone(UTC)
    except OverflowError:
        utc = None
    if utc is None or not EARLIEST_SINCE <= utc <= LATEST_SINCE:
        raise ValidationFailed("since", "must lie between 2000-01-01 and 2999-12-31 (UTC)")
    return utc


def router() -> APIRouter:
    routes = ApiRouter(tags=["cards"])

    @routes.post(
        "/cards/{card_number}/loss-reports",
        status_code=201,
        summary="C01 temporary / C02 formal loss report (counter)",
        responses=_WRITE,
    )
    def report_loss(
        card_number: CardNumber,
        *,
        body: LossReportRequest,
        idem: IdempotencyKeyDep,
        actor: ActorDep,
        presence: CardPresenceDep,
        context: ContextDep,
    ) -> CardStateChange:
        """The card goes on the hotlist; terminals block it at its next presentation."""
        ctx = context.service_context()
        if body.kind == "temporary":
            result = items.report_temporary_loss(
                ctx, actor, card_number, idempotency_key=idem.key, presence=presence
            )
        else:
            result = items.report_formal_loss(
                ctx,
                actor,
                card_number,
                id_checked=body.id_checked,
                idempotency_key=idem.key,
                presence=presence,
            )
        return CardStateChange.of(result)

    @routes.delete(
        "/cards/{card_number}/loss-reports",
        summary="C03 cancel the loss report (解挂, counter, ID checked)",
        responses=_WRITE,
    )
    def cancel_loss(
        card_number: CardNumber,
        *,
        idem: IdempotencyKeyDep,
        actor: ActorDep,
        presence: CardPresenceDep,
        context: ContextDep,
        id_checked: Annotated[
            bool, Query(description="the clerk checked the holder's ID document (required)")
        ] = False,
    ) -> CardStateChange:
        """Back to active (only while no replacement was asked for). A card blocked
        meanwhile gets APPLICATION UNBLOCK at its next presentation."""
        result = items.cancel_loss(
            context.service_context(),
            actor,
            card_number,
            id_checked=id_checked,
            idempotency_key=idem.key,
            presence=presence,
        )
        return CardStateChange.of(result)

    @routes.post(
        "/cards/{card_number}/replacement",
        status_code=201,
        summary="C04 card replacement (counter, ID checked): a lost card → a new card",
        responses=problem_responses(
            s403=_403,
            s404=_404,
            s409=_409 + "; `current`: taken when the new number or code is recorded already; "
            "`approval-required`: a name/ID-number change of the holder waits for a reviewer",
        ),
    )
    def replace(
        card_number: CardNumber,
        *,
        body: ReplacementRequest,
        idem: IdempotencyKeyDep,
        actor: ActorDep,
        presence: CardPresenceDep,
        context: ContextDep,
    ) -> CardReplacement:
        result = items.replace_card(
            context.service_context(),
            actor,
            card_number,
            new_card_number=body.new_card_number,
            new_card_id_code=body.new_card_id_code,
            id_checked=body.id_checked,
            expires_on=body.expires_on,
            idempotency_key=idem.key,
            presence=presence,
        )
        return CardReplacement.of(result)

    @routes.post(
        "/cards/{card_number}/activation",
        summary="C07 card activation (counter; kiosk with card + PIN)",
        responses=_WRITE,
    )
    def activate(
        card_number: CardNumber,
        *,
        idem: IdempotencyKeyDep,
        actor: ActorDep,
        presence: CardPresenceDep,
        context: ContextDep,
    ) -> CardStateChange:
        result = items.activate_card(
            context.service_context(),
            actor,
            card_number,
            idempotency_key=idem.key,
            presence=presence,
        )
        return CardStateChange.of(result)

    @routes.post(
        "/cards/{card_number}/pin-reload",
        summary="C06 record a PIN reload (counter, ID checked)",
        responses=_WRITE,
    )
    def pin_reload(
        card_number: CardNumber,
        *,
        body: PinReloadRequest,
        idem: IdempotencyKeyDep,
        actor: ActorDep,
        presence: CardPresenceDep,
        context: ContextDep,
    ) -> PinEventOut:
        """Records the reload only: the RELOAD PIN command itself comes from
        POST /v1/card-sessions/{id}/card-commands (action reload-pin). No PIN here."""
        result = items.record_pin_reload(
            context.service_context(),
            actor,
            card_number,
            id_checked=body.id_checked,
            idempotency_key=idem.key,
            presence=presence,
        )
        return PinEventOut.of(result)

    @routes.post(
        "/cards/{card_number}/pin-change",
        summary="C05 record a PIN change done on the card (counter; kiosk with card + PIN)",
        responses=_WRITE,
    )
    def pin_change(
        card_number: CardNumber,
        *,
        idem: IdempotencyKeyDep,
        actor: ActorDep,
        presence: CardPresenceDep,
        context: ContextDep,
    ) -> PinEventOut:
        """The holder changed the PIN on the card (CHANGE PIN); no PIN reaches the service."""
        result = items.record_pin_change(
            context.service_context(),
            actor,
            card_number,
            idempotency_key=idem.key,
            presence=presence,
        )
        return PinEventOut.of(result)

    @routes.post(
        "/cards/{card_number}/cancellation",
        summary="C08 card cancellation (supervisor): death, emigration",
        responses=problem_responses(
            s403="`forbidden`: C08 needs an operator with the supervisor role",
            s404=_404,
            s409=_409,
        ),
    )
    def cancel(
        card_number: CardNumber,
        *,
        body: CancellationRequest,
        idem: IdempotencyKeyDep,
        actor: ActorDep,
        context: ContextDep,
    ) -> CardStateChange:
        result = items.cancel_card(
            context.service_context(),
            actor,
            card_number,
            reason=body.reason,
            idempotency_key=idem.key,
        )
        return CardStateChange.of(result, cancellation_reason=body.reason)

    @routes.get(
        "/hotlist",
        summary="The cards terminals must block, incrementally",
        responses=problem_responses(
            s403="`forbidden`: an operator without the clerk or supervisor role",
            s422="`invalid-request` / `invalid-value`: `since` is not a date-time with a time zone",
        ),
    )
    def hotlist(
        actor: ActorDep,
        context: ContextDep,
        since: Annotated[
            IsoDateTime | None,
            Query(
                description="RFC 3339 date-time with offset. Leave out for the full list "
                "(every hotlisted card); then pass the previous answer's `next_since` to get "
                "only the cards whose standing changed since (including cards taken off the "
                "list: `on_hotlist` false)."
            ),
        ] = None,
    ) -> HotlistOut:
        """For terminals (kiosk and counter devices), clerks and supervisors; no person data."""
        return HotlistOut.of(items.hotlist(context.service_context(), actor, _bounded(since)))

    return routes
