"""The daily business ledger (台账) and the site standards report: supervisors only.

**Ledger: computed from the journal.** Every item call writes exactly one journal
entry (site, operator or device, item, outcome, server time), so a day's ledger is a
``GROUP BY`` over the journal for that local day. Counting from the journal rather
than bumping ``daily_ledgers`` rows in every item's unit of work keeps item
transactions free of another hot row, and the counts cannot drift from the
tamper-evident record they summarise. :func:`close_daily_ledger` then freezes a
finished day into ``daily_ledgers`` (one row per window line, ``closed_at`` set),
the form the plan asks to keep; closing twice returns the rows already stored.

Days are local days of the city (``ServiceContext.local_tz``). Ledgers and site
reports are not business items: they are not journaled.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cardsvc.db.models import (
    DailyLedger,
    Degree,
    Device,
    ItemCode,
    JournalEntry,
    Operator,
    Outcome,
    Role,
    Site,
    Staff,
)
from cardsvc.db.models.records import JournalEvent
from cardsvc.rules.errors import RuleInputError
from cardsvc.rules.site_standards import (
    ZAOZHUANG_2011,
    SiteAssessment,
    SiteLevel,
    SiteRow,
    SiteStandards,
    Verdict,
    assess_site,
)
from cardsvc.services.actors import Actor
from cardsvc.services.context import ServiceContext
from cardsvc.services.errors import NotFound, ValidationFailed
from cardsvc.services.scope import SUBTREES, ensure_role

PLAN_START = date(2011, 1, 1)
"""Staff hired on or after this day count as new hires (the plan's degree rule)."""


@dataclass(frozen=True, slots=True)
class LedgerLine:
    site_code: str
    operator_id: int | None
    device_id: int | None
    window: str
    """The operator's username, or "device NAME"."""
    item: ItemCode
    outcome: Outcome
    count: int


@dataclass(frozen=True, slots=True)
class DailyLedgerReport:
    site_code: str
    day: date
    lines: tuple[LedgerLine, ...]
    """Ordered by site, window, item, outcome."""
    closed_at: datetime | None
    """When the day was closed into daily_ledgers (None: still open / computed live)."""

    @property
    def total(self) -> int:
        return sum(line.count for line in self.lines)


def _day_bounds(ctx: ServiceContext, day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(0), tzinfo=ctx.local_tz)
    return start, start + timedelta(days=1)


def _check_site(session: Session, actor: Actor, site_code: str) -> frozenset[str]:
    """The subtree of `site_code`, if it lies in the actor's sites (else NotFound)."""
    mine = SUBTREES.subtree(session, actor.site_code)
    if site_code not in mine:
        raise NotFound("site")
    return SUBTREES.subtree(session, site_code)


def _journal_lines(
    ctx: ServiceContext, session: Session, codes: frozenset[str], day: date
) -> tuple[LedgerLine, ...]:
    start, end = _day_bounds(ctx, day)
    j = JournalEntry
    rows = session.execute(
        select(j.site_code, j.operator_id, j.device_id, j.item, j.outcome, func.count())
        .where(
            j.event == JournalEvent.ITEM,  # item calls only (not card authentications)
            j.at >= start,
            j.at < end,
            j.site_code.in_(sorted(codes)),
        )
        .group_by(j.site_code, j.operator_id, j.device_id, j.item, j.outcome)
    ).all()
    return _lines(session, [(r[0], r[1], r[2], r[3], r[4], int(r[5])) for r in rows])


def _lines(
    session: Session,
    rows: list[tuple[str, int | None, int | None, ItemCode, Outcome, int]],
) -> tuple[LedgerLine, ...]:
    operator_ids = {r[1] for r in rows if r[1] is not None}
    device_ids = {r[2] for r in rows if r[2] is not None}
    usernames: dict[int, str] = {
        row.id: row.username
        for row in session.execute(
            select(Operator.id, Operator.username).where(Operator.id.in_(operator_ids))
        )
    }
    devices: dict[int, str] = {
        row.id: row.name
        for row in session.execute(select(Device.id, Device.name).where(Device.id.in_(device_ids)))
    }
    lines = []
    for site_code, operator_id, device_id, item, outcome, count in rows:
        if operator_id is not None:
            window = usernames.get(operator_id, f"operator {operator_id}")
        else:
            window = f"device {devices.get(device_id or 0, str(device_id))}"
        lines.append(LedgerLine(site_code, operator_id, device_id, window, item, outcome, count))
    lines.sort(key=lambda x: (x.site_code, x.window, x.item.value, x.outcome.value))
    return tuple(lines)


def daily_ledger(
    ctx: ServiceContext,
    actor: Actor,
    *,
    site_code: str | None = None,
    day: date | None = None,
    include_sites_below: bool = False,
) -> DailyLedgerReport:
    """The day's counts per window (operator or device), item and outcome, from the journal.

    Defaults: the supervisor's own site, today. ``include_sites_below`` adds the
    windows of every site below it.
    """
    ensure_role(actor, Role.SUPERVISOR, "the daily ledger")
    code = site_code or actor.site_code
    when = day or ctx.today()
    with ctx.database.read_only_unit_of_work() as uow:
        tree = _check_site(uow.session, actor, code)
        codes = tree if include_sites_below else frozenset({code})
        lines = _journal_lines(ctx, uow.session, codes, when)
        closed_at = uow.session.execute(
            select(func.max(DailyLedger.closed_at)).where(
                DailyLedger.site_code == code, DailyLedger.ledger_date == when
            )
        ).scalar_one_or_none()
    return DailyLedgerReport(code, when, lines, closed_at)


def close_daily_ledger(
    ctx: ServiceContext, actor: Actor, *, site_code: str | None = None, day: date
) -> DailyLedgerReport:
    """Freeze a finished day's ledger of one site into daily_ledgers (idempotent)."""
    ensure_role(actor, Role.SUPERVISOR, "closing the daily ledger")
    code = site_code or actor.site_code
    if not isinstance(day, date) or isinstance(day, datetime):
        raise ValidationFailed("day", "must be a date")
    if day >= ctx.today():
        raise ValidationFailed("day", "only a finished day can be closed")
    try:
        return _close(ctx, actor, code, day)
    except IntegrityError:
        # closed concurrently by another supervisor: read back the rows they stored
        return _close(ctx, actor, code, day)


def _close(ctx: ServiceContext, actor: Actor, code: str, day: date) -> DailyLedgerReport:
    now = ctx.now()
    with ctx.database.unit_of_work() as uow:
        session = uow.session
        _check_site(session, actor, code)
        stored = list(
            session.execute(
                select(DailyLedger).where(
                    DailyLedger.site_code == code, DailyLedger.ledger_date == day
                )
            ).scalars()
        )
        if stored:
            rows = [
                (s.site_code, s.operator_id, s.device_id, s.item, s.outcome, s.count)
                for s in stored
            ]
            closed = max((s.closed_at for s in stored if s.closed_at is not None), default=None)
            return DailyLedgerReport(code, day, _lines(session, rows), closed)
        lines = _journal_lines(ctx, session, frozenset({code}), day)
        for line in lines:
            session.add(
                DailyLedger(
                    site_code=line.site_code,
                    ledger_date=day,
                    operator_id=line.operator_id,
                    device_id=line.device_id,
                    item=line.item,
                    outcome=line.outcome,
                    count=line.count,
                    closed_at=now,
                )
            )
        session.flush()
    return DailyLedgerReport(code, day, lines, now if lines else None)


# -- the site standards report ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SiteReport:
    site_code: str
    standard: str
    """The plan the sites were measured against."""
    assessments: tuple[SiteAssessment, ...]
    """The site and every site below it, by code."""
    unrecorded: tuple[str, ...]
    """Figures missing from the site records (counted as 0 in the assessment)."""

    @property
    def short(self) -> tuple[SiteAssessment, ...]:
        return tuple(a for a in self.assessments if a.verdict is Verdict.SHORT)


def site_report(
    ctx: ServiceContext,
    actor: Actor,
    code: str,
    *,
    standards: SiteStandards = ZAOZHUANG_2011,
    plan_start: date = PLAN_START,
) -> SiteReport:
    """Each site of the subtree at `code` against the city plan's standards."""
    ensure_role(actor, Role.SUPERVISOR, "the site report")
    with ctx.database.read_only_unit_of_work() as uow:
        session = uow.session
        tree = _check_site(session, actor, code)
        sites = list(
            session.execute(
                select(Site).where(Site.code.in_(sorted(tree))).order_by(Site.code)
            ).scalars()
        )
        staff = session.execute(
            select(Staff.site_code, Staff.degree, Staff.hired_on).where(
                Staff.site_code.in_(sorted(tree))
            )
        ).all()
    unrecorded: list[str] = []
    assessments: list[SiteAssessment] = []
    for site in sites:
        members = [s for s in staff if s.site_code == site.code]
        new_hires = [s for s in members if s.hired_on >= plan_start]
        for label, value in (
            ("population served", site.population_served),
            ("floor area", site.floor_area_m2),
            ("archive room area", site.archive_area_m2),
        ):
            if value is None:
                unrecorded.append(f"{site.code} {site.name}: {label} not recorded")
        try:
            row = SiteRow(
                code=site.code,
                level=SiteLevel(site.level.value),
                name=site.name,
                population_served=site.population_served or 0,
                floor_area_m2=site.floor_area_m2 or Decimal(0),
                archive_area_m2=site.archive_area_m2 or Decimal(0),
                staff_count=len(members),
                new_hires=len(new_hires),
                new_hires_with_degree=sum(
                    1 for s in new_hires if s.degree is not Degree.BELOW_COLLEGE
                ),
            )
        except RuleInputError as exc:
            raise ValidationFailed(f"site {site.code} {exc.field}", exc.problem) from None
        assessments.append(assess_site(row, standards))
    return SiteReport(code, standards.name, tuple(assessments), tuple(unrecorded))
