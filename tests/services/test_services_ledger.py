"""The daily ledger (from the journal, then closed into daily_ledgers) and the site report."""

from __future__ import annotations

from datetime import date

import pytest
from services_city import DISTRICT, OTHER, STATION1, STATION2, TOWNSHIP, City
from sqlalchemy import select

from cardsvc.db.journal import append_entry
from cardsvc.db.models import DailyLedger, ItemCode, Outcome
from cardsvc.db.models.records import JournalEvent
from cardsvc.rules.site_standards import Verdict
from cardsvc.services.errors import NotFound, PermissionDenied, ValidationFailed
from cardsvc.services.items import enquiries, ledger


def _busy_day(city: City) -> None:
    clerk = city.ops["clerk_s1"]
    for _ in range(2):
        enquiries.employment_status(city.ctx, clerk, city.ssns["zhang"])
    with pytest.raises(NotFound):
        enquiries.employment_status(city.ctx, clerk, city.ssns["li"])  # station 2's resident
    assert city.kiosk is not None
    enquiries.insurance_participation(city.ctx, city.kiosk, city.presence("wang"))
    enquiries.employment_status(city.ctx, city.ops["clerk_s2"], city.ssns["li"])


def test_daily_ledger_counts_per_window_item_and_outcome(city: City) -> None:
    _busy_day(city)
    report = ledger.daily_ledger(city.ctx, city.ops["sup_t"], site_code=STATION1)
    assert report.day == date(2025, 3, 10)
    assert report.closed_at is None
    lines = {(line.window, line.item, line.outcome): line.count for line in report.lines}
    assert lines == {
        ("clerk_s1", ItemCode.E05, Outcome.OK): 2,
        ("clerk_s1", ItemCode.E05, Outcome.DENIED): 1,
        ("device kiosk-s1", ItemCode.E01, Outcome.OK): 1,
    }
    assert report.total == 4
    tree = ledger.daily_ledger(
        city.ctx, city.ops["sup_t"], site_code=TOWNSHIP, include_sites_below=True
    )
    assert tree.total == 5
    assert {line.site_code for line in tree.lines} == {STATION1, STATION2}


def test_daily_ledger_counts_item_calls_only(city: City) -> None:
    """A refused card's authentication is journaled (event card_authentication) under an
    item code, but it is not an item call: the ledger neither shows nor closes it."""
    _busy_day(city)
    assert city.kiosk is not None
    with city.db.unit_of_work() as uow:
        append_entry(
            uow.session,
            site_code=STATION1,
            item=ItemCode.E01,
            outcome=Outcome.DENIED,
            device_id=city.kiosk.device_id,
            card_number="A00000011",
            detail={"problem": "forged-card"},
            at=city.clock.now,
            event=JournalEvent.CARD_AUTHENTICATION,
        )
    report = ledger.daily_ledger(city.ctx, city.ops["sup_t"], site_code=STATION1)
    lines = {(line.window, line.item, line.outcome): line.count for line in report.lines}
    assert ("device kiosk-s1", ItemCode.E01, Outcome.DENIED) not in lines
    assert report.total == 4
    city.clock.advance(days=1)
    closed = ledger.close_daily_ledger(
        city.ctx, city.ops["sup_t"], site_code=STATION1, day=date(2025, 3, 10)
    )
    assert closed.total == 4
    assert sum(r.count for r in city.scalars(select(DailyLedger))) == 4


def test_daily_ledger_is_for_supervisors_of_the_site(city: City) -> None:
    with pytest.raises(PermissionDenied):
        ledger.daily_ledger(city.ctx, city.ops["clerk_s1"])
    with pytest.raises(NotFound):
        ledger.daily_ledger(city.ctx, city.ops["sup_t"], site_code=OTHER)


def test_closing_a_day_freezes_it_once(city: City) -> None:
    _busy_day(city)
    supervisor = city.ops["sup_t"]
    with pytest.raises(ValidationFailed, match="finished day"):
        ledger.close_daily_ledger(city.ctx, supervisor, site_code=STATION1, day=date(2025, 3, 10))
    city.clock.advance(days=1)
    closed = ledger.close_daily_ledger(
        city.ctx, supervisor, site_code=STATION1, day=date(2025, 3, 10)
    )
    assert closed.total == 4
    assert closed.closed_at == city.clock.now
    rows = city.scalars(select(DailyLedger))
    assert sum(r.count for r in rows) == 4
    assert all(r.closed_at is not None for r in rows)
    again = ledger.close_daily_ledger(
        city.ctx, supervisor, site_code=STATION1, day=date(2025, 3, 10)
    )
    assert again.lines == closed.lines
    assert len(city.scalars(select(DailyLedger))) == len(rows)


def test_site_report_against_the_plan(city: City) -> None:
    report = ledger.site_report(city.ctx, city.ops["sup_city"], DISTRICT)
    by_code = {a.code: a for a in report.assessments}
    assert set(by_code) == {DISTRICT, TOWNSHIP, STATION1, STATION2}
    assert by_code[DISTRICT].verdict is Verdict.MEETS  # 4200 m² ≥ 4000
    # township of 61,000: 11 staff needed, 11 recorded; one new hire without a degree
    assert by_code[TOWNSHIP].verdict is Verdict.SHORT
    assert any("new_hire_degrees" in f for f in by_code[TOWNSHIP].findings)
    # station 1: 1,700 served needs 3 staff, has 1
    assert by_code[STATION1].verdict is Verdict.SHORT
    assert any("floor area not recorded" in u for u in report.unrecorded)
    with pytest.raises(NotFound):
        ledger.site_report(city.ctx, city.ops["sup_t"], DISTRICT)  # above the supervisor
    with pytest.raises(PermissionDenied):
        ledger.site_report(city.ctx, city.ops["clerk_d"], DISTRICT)
