"""Races: duplicate registrations, loss reports on one card, the same key twice.

The thread races run on both engines (SQLite queues writers on BEGIN IMMEDIATE, so
one of them simply goes second; PostgreSQL lets both read before either writes).
The stale-version test needs PostgreSQL row locks to hold one writer mid-flight.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import pytest
from services_city import OTHER as OTHER_SITE
from services_city import T0, City
from sqlalchemy import insert, select, text, update

from cardsvc.db.journal import verify_journal
from cardsvc.db.models import (
    Card,
    CardState,
    IdempotencyRecord,
    InsuranceRelation,
    ItemCode,
    Outcome,
    Registration,
    RegistrationKind,
    RegistrationStatus,
    RelationStatus,
    Scheme,
)
from cardsvc.rules.card_lifecycle import CardAction
from cardsvc.services import codec
from cardsvc.services.errors import Conflict
from cardsvc.services.items import cards, registrations

T = TypeVar("T")
WAIT_S = 20


def _race(first: Callable[[], T], second: Callable[[], T]) -> list[T | Exception]:
    """Run both at (nearly) the same moment; each result or the exception it raised."""
    barrier = threading.Barrier(2, timeout=WAIT_S)

    def run(fn: Callable[[], T]) -> T | Exception:
        barrier.wait()
        try:
            return fn()
        except Exception as exc:  # the caller inspects what each side got
            return exc

    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = [pool.submit(run, first), pool.submit(run, second)]
        return [f.result(timeout=WAIT_S * 2) for f in futures]


def _journal_ok(city: City) -> None:
    with city.db.read_only_unit_of_work() as uow:
        report = verify_journal(uow.session)
    assert report.ok, str(report)


def test_two_sites_register_the_same_person_unemployed_at_once(city: City) -> None:
    def at(operator: str, key: str) -> Callable[[], Any]:
        return lambda: registrations.register_unemployment(
            city.ctx,
            city.ops[operator],
            city.ssns["zhang"],
            able_to_work=True,
            willing_to_work=True,
            idempotency_key=key,
        )

    results = _race(at("clerk_s1", "a"), at("clerk_t", "b"))

    done = [r for r in results if isinstance(r, registrations.UnemploymentRegistered)]
    refused = [r for r in results if isinstance(r, Conflict)]
    assert (len(done), len(refused)) == (1, 1), results
    assert refused[0].current == "registered_unemployed"
    open_ = city.scalars(
        select(Registration).where(
            Registration.person_id == city.persons["zhang"],
            Registration.kind == RegistrationKind.UNEMPLOYMENT,
            Registration.status == RegistrationStatus.OPEN,
        )
    )
    assert [r.id for r in open_] == [done[0].registration_id]
    r02 = [e.outcome for e in city.journal() if e.item is ItemCode.R02]
    assert sorted(r02) == [Outcome.OK, Outcome.REFUSED]
    _journal_ok(city)


def test_two_loss_reports_race_on_one_card(city: City) -> None:
    number = city.cards["zhang"]

    def report(operator: str, key: str) -> Callable[[], Any]:
        return lambda: cards.report_temporary_loss(
            city.ctx, city.ops[operator], number, idempotency_key=key
        )

    results = _race(report("clerk_s1", "a"), report("clerk_t", "b"))

    done = [r for r in results if isinstance(r, cards.CardStateChanged)]
    refused = [r for r in results if isinstance(r, Conflict)]
    assert (len(done), len(refused)) == (1, 1), results
    assert refused[0].current == "temporarily_lost"
    (card,) = city.scalars(select(Card).where(Card.card_number == number))
    assert (card.state, card.version) == (CardState.TEMPORARILY_LOST, 2)
    c01 = [e.outcome for e in city.journal() if e.item is ItemCode.C01]
    assert sorted(c01) == [Outcome.OK, Outcome.REFUSED]
    _journal_ok(city)


def test_two_sites_enrol_the_same_person_in_resident_medical_at_once(city: City) -> None:
    """One active relation per person and scheme, whichever site or key sends it."""

    def at(operator: str, key: str) -> Callable[[], Any]:
        return lambda: registrations.enrol_resident_medical(
            city.ctx, city.ops[operator], city.ssns["zhang"], idempotency_key=key
        )

    results = _race(at("clerk_s1", "a"), at("clerk_t", "b"))

    done = [r for r in results if isinstance(r, registrations.Enrolled)]
    refused = [r for r in results if isinstance(r, Conflict)]
    assert (len(done), len(refused)) == (1, 1), results
    assert refused[0].current == "enrolled"
    active = city.scalars(
        select(InsuranceRelation).where(
            InsuranceRelation.person_id == city.persons["zhang"],
            InsuranceRelation.scheme == Scheme.RESIDENT_MEDICAL,
            InsuranceRelation.status == RelationStatus.ACTIVE,
        )
    )
    assert [r.id for r in active] == [done[0].relation_id]
    r04 = [e.outcome for e in city.journal() if e.item is ItemCode.R04]
    assert sorted(r04) == [Outcome.OK, Outcome.REFUSED]
    _journal_ok(city)


def test_the_same_request_twice_at_once_has_one_effect(city: City) -> None:
    number = city.cards["zhang"]
    clerk = city.ops["clerk_s1"]

    def report() -> cards.CardStateChanged:
        return cards.report_temporary_loss(city.ctx, clerk, number, idempotency_key="double-click")

    results = _race(report, report)

    assert all(isinstance(r, cards.CardStateChanged) for r in results), results
    assert results[0] == results[1]
    (card,) = city.scalars(select(Card).where(Card.card_number == number))
    assert card.version == 2
    assert [e.outcome for e in city.journal() if e.item is ItemCode.C01] == [Outcome.OK]
    _journal_ok(city)


def test_a_card_changed_while_being_updated_is_a_conflict_naming_the_new_state(
    city: City, is_postgresql: bool, caplog: pytest.LogCaptureFixture
) -> None:
    if not is_postgresql:
        pytest.skip("SQLite serialises writers from BEGIN: no writer can be held mid-update")
    number = city.cards["zhang"]
    caplog.set_level(logging.INFO, logger="cardsvc.services.runner")
    with city.db.engine.connect() as blocker, ThreadPoolExecutor(max_workers=1) as pool:
        blocker.execute(
            update(Card)
            .where(Card.card_number == number)
            .values(state=CardState.LOST, state_changed_at=T0, version=Card.version + 1)
        )
        future = pool.submit(
            cards.report_temporary_loss,
            city.ctx,
            city.ops["clerk_s1"],
            number,
            idempotency_key="held",
        )
        _wait_for_a_lock_waiter(city)
        blocker.commit()
        with pytest.raises(Conflict) as info:
            future.result(timeout=WAIT_S)
    assert info.value.current == "lost"
    assert "lost a race (StaleDataError)" in caplog.text
    entry = city.journal()[-1]
    assert (entry.item, entry.outcome, entry.detail["current"]) == (
        ItemCode.C01,
        Outcome.REFUSED,
        "lost",
    )
    _journal_ok(city)


def _wait_for_a_lock_waiter(city: City) -> None:
    deadline = time.monotonic() + WAIT_S
    query = text(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    while time.monotonic() < deadline:
        with city.db.engine.connect() as conn:
            if conn.execute(query).scalar_one():
                return
        time.sleep(0.05)
    pytest.fail("the service call never waited for the card's row lock")


def test_a_duplicate_committed_while_the_registration_waits_is_refused(
    city: City, is_postgresql: bool
) -> None:
    """Another writer's uncommitted registration: R02 waits for it, then refuses."""
    if not is_postgresql:
        pytest.skip("SQLite serialises writers from BEGIN: no writer can be held mid-insert")
    with city.db.engine.connect() as blocker, ThreadPoolExecutor(max_workers=1) as pool:
        blocker.execute(
            insert(Registration).values(
                person_id=city.persons["zhang"],
                kind=RegistrationKind.UNEMPLOYMENT,
                status=RegistrationStatus.OPEN,
                site_code=OTHER_SITE,
                opened_at=T0,
                certificate_no="370403-2025-999999",
            )
        )
        future = pool.submit(
            registrations.register_unemployment,
            city.ctx,
            city.ops["clerk_s1"],
            city.ssns["zhang"],
            able_to_work=True,
            willing_to_work=True,
            idempotency_key="held",
        )
        _wait_for_a_lock_waiter(city)
        blocker.commit()
        with pytest.raises(Conflict, match="370403-2025-999999") as info:
            future.result(timeout=WAIT_S)
    assert info.value.current == "registered_unemployed"
    _journal_ok(city)


def test_the_same_registration_twice_at_once_has_one_effect(city: City) -> None:
    def register() -> registrations.UnemploymentRegistered:
        return registrations.register_unemployment(
            city.ctx,
            city.ops["clerk_s1"],
            city.ssns["zhang"],
            able_to_work=True,
            willing_to_work=True,
            idempotency_key="double-click",
        )

    results = _race(register, register)

    assert all(isinstance(r, registrations.UnemploymentRegistered) for r in results), results
    assert results[0] == results[1]
    assert [e.outcome for e in city.journal() if e.item is ItemCode.R02] == [Outcome.OK]
    _journal_ok(city)


def test_a_same_key_twin_committing_first_turns_the_call_into_a_replay(
    city: City, is_postgresql: bool, caplog: pytest.LogCaptureFixture
) -> None:
    """The key's record appears while the call writes its own: its effect is rolled back
    to the savepoint and the twin's stored result is returned."""
    if not is_postgresql:
        pytest.skip("SQLite serialises writers from BEGIN: no writer can be held mid-insert")
    caplog.set_level(logging.INFO, logger="cardsvc.services.runner")
    clerk = city.ops["clerk_s1"]
    number = city.cards["zhang"]
    (card,) = city.scalars(select(Card).where(Card.card_number == number))
    twin = cards.CardStateChanged(
        card_number=number,
        person_id=card.person_id,
        from_state=CardState.ACTIVE,
        to_state=CardState.TEMPORARILY_LOST,
        changed_at=T0,
        on_hotlist=True,
        rule="the twin's answer",
        reasons=("stored by the twin",),
    )
    request = {"item": "C01", "card": card.id, "action": CardAction.REPORT_TEMPORARY_LOSS}
    with city.db.engine.connect() as blocker, ThreadPoolExecutor(max_workers=1) as pool:
        blocker.execute(
            insert(IdempotencyRecord).values(
                scope=f"operator:{clerk.operator_id}:C01",
                key="twin",
                request_hash=codec.canonical_hash(request),
                response_json=codec.to_jsonable(twin),
                status_code=200,
                created_at=T0,
            )
        )
        future = pool.submit(
            cards.report_temporary_loss, city.ctx, clerk, number, idempotency_key="twin"
        )
        _wait_for_a_lock_waiter(city)
        blocker.commit()
        result = future.result(timeout=WAIT_S)
    assert result == twin
    assert "lost a race (IntegrityError)" in caplog.text
    (after,) = city.scalars(select(Card).where(Card.card_number == number))
    assert (after.state, after.version) == (CardState.ACTIVE, 1)  # its own update rolled back
    assert [e for e in city.journal() if e.item is ItemCode.C01] == []
    _journal_ok(city)
