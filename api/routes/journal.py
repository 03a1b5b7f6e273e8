"""``GET /v1/journal``: the transaction journal of a site and the sites below it (supervisor).

Filters: ``site`` (default: the supervisor's own; another site must lie in the
supervisor's subtree, else 404), ``from`` (inclusive) and ``to`` (exclusive) as RFC
3339 times with an offset (``to`` before ``from``: no entries), ``item``, ``outcome``.
Newest first, ``limit`` per page; the answer's ``next_cursor`` (opaque) fetches the
older entries.

What an entry shows: no PIN or key ever reaches the journal (it refuses such
details); ID numbers in details are masked again here; the card number is masked when
its holder lives outside the supervisor's sites (a visitor served by a kiosk or a
counter of the site through their card).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Annotated, Any

from fastapi import APIRouter, Query
from sqlalchemy import select

from api.deps import ActorDep, ContextDep
from api.errors import ApiError
from api.problem_types import ProblemType
from api.problems import problem_responses
from api.routes.params import SITE_CODE_PATTERN, IsoDateTime, utc_clamped
from api.routes.site_models import JournalEntryOut, JournalPageOut
from api.routes.sites import SITE_NOT_FOUND, SUPERVISOR_ONLY
from api.routing import ApiRouter
from cardsvc.db.models import ItemCode, JournalEntry, Operator, Outcome, Person, Role
from cardsvc.idcheck import mask_ssn
from cardsvc.services.scope import ensure_role, site_subtree

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
CURSOR_PATTERN = r"^j[0-9]{1,19}$"
_ID_NUMBER = re.compile(r"(?<![0-9])[0-9]{17}[0-9Xx](?![0-9A-Za-z])")
_MAX_ID = 2**63 - 1


def encode_cursor(before_id: int) -> str:
    return f"j{before_id}"


def decode_cursor(cursor: str) -> int:
    """The id the next page starts below (any larger than the largest id: from the top)."""
    return min(int(cursor[1:]), _MAX_ID)


def mask_card_number(card_number: str) -> str:
    return card_number[:4] + "*" * max(0, len(card_number) - 5) + card_number[-1:]


def _masked(value: Any) -> Any:
    if isinstance(value, str):
        return _ID_NUMBER.sub(lambda m: mask_ssn(m.group(0)), value)
    if isinstance(value, list):
        return [_masked(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _masked(v) for k, v in value.items()}
    return value


def _entries(rows: Iterable[Any], mine: frozenset[str]) -> list[JournalEntryOut]:
    result = []
    for entry, username, residence in rows:
        card = entry.card_number
        if card is not None and residence not in mine:
            card = mask_card_number(card)
        result.append(
            JournalEntryOut(
                id=entry.id,
                at=entry.at,
                site_code=entry.site_code,
                operator_id=entry.operator_id,
                operator_username=username,
                device_id=entry.device_id,
                card_number=card,
                person_id=entry.person_id,
                item=entry.item,
                outcome=entry.outcome,
                detail=_masked(dict(entry.detail or {})),
                hash=entry.hash,
                event=entry.event,
                lane=entry.lane,
                lane_seq=entry.lane_seq,
            )
        )
    return result


def router() -> APIRouter:
    routes = ApiRouter(tags=["journal"])

    @routes.get(
        "/journal",
        summary="Journal entries of a site and the sites below it, newest first (supervisor)",
        responses=problem_responses(s403=SUPERVISOR_ONLY, s404=SITE_NOT_FOUND),
    )
    def get_journal(
        *,
        actor: ActorDep,
        context: ContextDep,
        site: Annotated[
            str | None,
            Query(
                min_length=6,
                max_length=12,
                pattern=SITE_CODE_PATTERN,
                description="the site whose subtree to list (default: the caller's site)",
            ),
        ] = None,
        since: Annotated[
            IsoDateTime | None,
            Query(alias="from", description="entries at or after this time (with an offset)"),
        ] = None,
        until: Annotated[
            IsoDateTime | None,
            Query(alias="to", description="entries before this time (with an offset)"),
        ] = None,
        item: Annotated[ItemCode | None, Query(description="only this item")] = None,
        outcome: Annotated[Outcome | None, Query(description="only this outcome")] = None,
        limit: Annotated[
            int, Query(ge=1, le=MAX_LIMIT, description="entries per page (1-200, default 50)")
        ] = DEFAULT_LIMIT,
        cursor: Annotated[
            str | None,
            Query(
                max_length=20,
                pattern=CURSOR_PATTERN,
                description="the previous page's next_cursor (opaque to clients)",
            ),
        ] = None,
    ) -> JournalPageOut:
        ensure_role(actor, Role.SUPERVISOR, "the journal")
        before = None if cursor is None else decode_cursor(cursor)
        since = None if since is None else utc_clamped(since)
        until = None if until is None else utc_clamped(until)
        with context.database.read_only_unit_of_work() as uow:
            session = uow.session
            mine = site_subtree(session, actor.site_code)
            code = site or actor.site_code
            if code not in mine:
                raise ApiError("site not found", kind=ProblemType.NOT_FOUND)
            j = JournalEntry
            query = (
                select(j, Operator.username, Person.residence_site_code)
                .outerjoin(Operator, Operator.id == j.operator_id)
                .outerjoin(Person, Person.id == j.person_id)
                .where(j.site_code.in_(sorted(site_subtree(session, code))))
            )
            if since is not None:
                query = query.where(j.at >= since)
            if until is not None:
                query = query.where(j.at < until)
            if item is not None:
                query = query.where(j.item == item)
            if outcome is not None:
                query = query.where(j.outcome == outcome)
            if before is not None:
                query = query.where(j.id < before)
            rows = session.execute(query.order_by(j.id.desc()).limit(limit + 1)).all()
        entries = _entries(rows[:limit], mine)
        more = len(rows) > limit
        return JournalPageOut(
            entries=entries,
            next_cursor=encode_cursor(entries[-1].id) if more and entries else None,
        )

    return routes
