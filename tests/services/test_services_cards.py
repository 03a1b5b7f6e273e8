"""C01-C08 and the hotlist: lifecycle rules, ID checks, roles, kiosks, journal."""

from __future__ import annotations

import inspect
from datetime import timedelta

import pytest
from services_city import T0, City, make_card_number
from sqlalchemy import select

from cardsvc.db.models import Card, CardState, ItemCode, Outcome
from cardsvc.services.errors import (
    ApprovalRequired,
    Conflict,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from cardsvc.services.items import cards, registrations


def _card(city: City, who: str) -> Card:
    (card,) = city.scalars(select(Card).where(Card.card_number == city.cards[who]))
    return card


def test_c07_activates_an_issued_card(city: City) -> None:
    done = cards.activate_card(
        city.ctx, city.ops["clerk_d"], city.cards["qian"], idempotency_key="a"
    )
    assert (done.from_state, done.to_state, done.on_hotlist) == (
        CardState.ISSUED,
        CardState.ACTIVE,
        False,
    )
    assert done.rule.startswith("C07")
    card = _card(city, "qian")
    assert (card.state, card.state_changed_at, card.version) == (CardState.ACTIVE, T0, 2)
    entry = city.journal()[-1]
    assert (entry.item, entry.outcome, entry.card_number) == (
        ItemCode.C07,
        Outcome.OK,
        city.cards["qian"],
    )
    assert entry.detail == {"card_from": "issued", "card_to": "active"}
    assert city.kiosk is not None  # at a kiosk, with the card and its PIN
    with pytest.raises(Conflict) as info:
        cards.activate_card(
            city.ctx,
            city.kiosk,
            city.cards["qian"],
            presence=city.presence("qian"),
            idempotency_key="k",
        )
    assert info.value.current == "active"


def test_illegal_transition_names_the_current_state(city: City) -> None:
    with pytest.raises(Conflict) as info:
        cards.activate_card(
            city.ctx, city.ops["clerk_s1"], city.cards["zhang"], idempotency_key="a"
        )
    assert info.value.current == "active"
    assert "active" in str(info.value)
    entry = city.journal()[-1]
    assert (entry.outcome, entry.detail["current"]) == (Outcome.REFUSED, "active")


def test_c01_temporary_loss_lapses_after_five_days(city: City) -> None:
    clerk = city.ops["clerk_s1"]
    number = city.cards["zhang"]
    done = cards.report_temporary_loss(city.ctx, clerk, number, idempotency_key="c01")
    assert (done.to_state, done.on_hotlist) == (CardState.TEMPORARILY_LOST, True)
    with pytest.raises(Conflict) as info:
        cards.report_temporary_loss(city.ctx, clerk, number, idempotency_key="c01-b")
    assert info.value.current == "temporarily_lost"
    city.clock.advance(days=5)
    with pytest.raises(Conflict) as lapsed:  # lapsed: active again, nothing to cancel
        cards.cancel_loss(city.ctx, clerk, number, id_checked=True, idempotency_key="c03")
    assert lapsed.value.current == "active"
    again = cards.report_temporary_loss(city.ctx, clerk, number, idempotency_key="c01-c")
    assert again.from_state is CardState.ACTIVE
    assert any("lapsed" in reason for reason in again.reasons)


def test_c02_needs_the_id_check_and_c03_cancels_it(city: City) -> None:
    clerk = city.ops["clerk_s1"]
    with pytest.raises(ValidationFailed) as info:
        cards.report_formal_loss(
            city.ctx, clerk, city.cards["zhang"], id_checked=False, idempotency_key="c02"
        )
    assert info.value.field == "id_checked"
    assert _card(city, "zhang").state is CardState.ACTIVE
    done = cards.report_formal_loss(
        city.ctx, clerk, city.cards["zhang"], id_checked=True, idempotency_key="c02"
    )
    assert done.to_state is CardState.LOST
    back = cards.cancel_loss(
        city.ctx, clerk, city.cards["zhang"], id_checked=True, idempotency_key="c03"
    )
    assert (back.from_state, back.to_state) == (CardState.LOST, CardState.ACTIVE)


def test_c04_replaces_a_lost_card(city: City) -> None:
    clerk = city.ops["clerk_s1"]
    number = city.cards["zhang"]
    new_number = make_card_number("A0000099")
    with pytest.raises(Conflict) as not_lost:
        cards.replace_card(
            city.ctx,
            clerk,
            number,
            new_card_number=new_number,
            new_card_id_code="F" * 32,
            id_checked=True,
            idempotency_key="c04-early",
        )
    assert not_lost.value.current == "active"
    cards.report_formal_loss(city.ctx, clerk, number, id_checked=True, idempotency_key="c02")
    done = cards.replace_card(
        city.ctx,
        clerk,
        number,
        new_card_number=new_number,
        new_card_id_code="F" * 32,
        id_checked=True,
        idempotency_key="c04",
    )
    assert done.old.to_state is CardState.REPLACED
    assert (done.new_card_number, done.new_card_state) == (new_number, CardState.ISSUED)
    old, new = _card(city, "zhang"), city.get(Card, done.new_card_id)
    assert old.replacement_requested
    assert (new.replaces_card_id, new.person_id, new.ssn) == (old.id, old.person_id, old.ssn)
    with pytest.raises(Conflict) as dead:  # no 解挂 once a replacement was asked for
        cards.cancel_loss(city.ctx, clerk, number, id_checked=True, idempotency_key="c03")
    assert dead.value.current == "replaced"
    replay = cards.replace_card(
        city.ctx,
        clerk,
        number,
        new_card_number=new_number,
        new_card_id_code="F" * 32,
        id_checked=True,
        idempotency_key="c04",
    )
    assert replay == done
    assert len(city.scalars(select(Card).where(Card.person_id == old.person_id))) == 2


def test_c04_waits_for_a_pending_name_change(city: City) -> None:
    clerk = city.ops["clerk_s1"]
    number = city.cards["zhang"]
    cards.report_formal_loss(city.ctx, clerk, number, id_checked=True, idempotency_key="c02")
    change = registrations.change_personal_information(
        city.ctx, clerk, city.ssns["zhang"], name="张叁", idempotency_key="r05"
    )
    with pytest.raises(ApprovalRequired) as info:
        cards.replace_card(
            city.ctx,
            clerk,
            number,
            new_card_number=make_card_number("A0000099"),
            new_card_id_code="E" * 32,
            id_checked=True,
            idempotency_key="c04",
        )
    assert info.value.change_ids == (change.pending[0].change_id,)
    assert _card(city, "zhang").state is CardState.LOST


def test_c04_refuses_a_taken_or_invalid_card_number(city: City) -> None:
    clerk = city.ops["clerk_s1"]
    number = city.cards["zhang"]
    cards.report_formal_loss(city.ctx, clerk, number, id_checked=True, idempotency_key="c02")
    with pytest.raises(ValidationFailed) as invalid:
        cards.replace_card(
            city.ctx,
            clerk,
            number,
            new_card_number="A00000990",
            new_card_id_code="E" * 32,
            id_checked=True,
            idempotency_key="c04a",
        )
    assert invalid.value.field == "new_card_number"
    with pytest.raises(Conflict, match="already recorded"):
        cards.replace_card(
            city.ctx,
            clerk,
            number,
            new_card_number=city.cards["li"],
            new_card_id_code="E" * 32,
            id_checked=True,
            idempotency_key="c04b",
        )


def test_c05_records_a_pin_change_and_stores_no_pin(city: City) -> None:
    assert city.kiosk is not None
    done = cards.record_pin_change(
        city.ctx,
        city.kiosk,
        city.cards["zhang"],
        presence=city.presence("zhang"),
        idempotency_key="c05",
    )
    assert done.event is cards.PinEvent.CHANGED
    entry = city.journal()[-1]
    assert (entry.item, entry.outcome) == (ItemCode.C05, Outcome.OK)
    assert entry.detail == {"event": "changed"}
    # no PIN goes in: the functions take none, and nothing named PIN is stored
    for fn in (cards.record_pin_change, cards.record_pin_reload):
        assert not any("pin" in p for p in inspect.signature(fn).parameters)
    for journaled in city.journal():
        assert not any("pin" in key.lower() for key in journaled.detail)


def test_c05_refused_for_a_hotlisted_card(city: City) -> None:
    clerk = city.ops["clerk_s1"]
    cards.report_temporary_loss(city.ctx, clerk, city.cards["zhang"], idempotency_key="c01")
    with pytest.raises(Conflict) as info:
        cards.record_pin_change(city.ctx, clerk, city.cards["zhang"], idempotency_key="c05")
    assert info.value.current == "temporarily_lost"
    assert city.kiosk is not None
    with pytest.raises(PermissionDenied, match="hotlist"):  # a kiosk serves nothing
        cards.record_pin_change(
            city.ctx,
            city.kiosk,
            city.cards["zhang"],
            presence=city.presence("zhang"),
            idempotency_key="k",
        )


def test_c06_counter_only_with_id_check(city: City) -> None:
    assert city.kiosk is not None
    with pytest.raises(PermissionDenied, match="kiosk"):
        cards.record_pin_reload(
            city.ctx,
            city.kiosk,
            city.cards["zhang"],
            id_checked=True,
            presence=city.presence("zhang"),
            idempotency_key="k",
        )
    clerk = city.ops["clerk_s1"]
    with pytest.raises(ValidationFailed) as info:
        cards.record_pin_reload(
            city.ctx, clerk, city.cards["zhang"], id_checked=False, idempotency_key="c06"
        )
    assert info.value.field == "id_checked"
    done = cards.record_pin_reload(
        city.ctx, clerk, city.cards["zhang"], id_checked=True, idempotency_key="c06"
    )
    assert done.event is cards.PinEvent.RELOADED
    assert "key service" in done.note


def test_c08_supervisor_only(city: City) -> None:
    number = city.cards["zhao"]
    with pytest.raises(PermissionDenied, match="supervisor"):
        cards.cancel_card(
            city.ctx,
            city.ops["clerk_t"],
            number,
            reason=cards.CancellationReason.DEATH,
            idempotency_key="c08",
        )
    assert city.journal()[-1].outcome is Outcome.DENIED
    done = cards.cancel_card(
        city.ctx,
        city.ops["sup_t"],
        number,
        reason=cards.CancellationReason.DEATH,
        idempotency_key="c08",
    )
    assert done.to_state is CardState.CANCELLED
    assert city.journal()[-1].detail["reason"] == "death"
    with pytest.raises(Conflict) as info:
        cards.cancel_card(
            city.ctx,
            city.ops["sup_city"],
            number,
            reason=cards.CancellationReason.EMIGRATION,
            idempotency_key="c08-b",
        )
    assert info.value.current == "cancelled"
    with pytest.raises(ValidationFailed) as bad:
        cards.cancel_card(
            city.ctx,
            city.ops["sup_t"],
            city.cards["li"],
            reason="bored",  # type: ignore[arg-type]
            idempotency_key="x",
        )
    assert bad.value.field == "reason"


def test_card_out_of_scope_is_not_found(city: City) -> None:
    with pytest.raises(NotFound):
        cards.report_temporary_loss(
            city.ctx, city.ops["clerk_x"], city.cards["zhang"], idempotency_key="x"
        )
    entry = city.journal()[-1]
    assert (entry.outcome, entry.card_number) == (Outcome.DENIED, city.cards["zhang"])
    with pytest.raises(NotFound):
        cards.report_temporary_loss(
            city.ctx, city.ops["clerk_x"], make_card_number("Z9999999"), idempotency_key="y"
        )
    with pytest.raises(ValidationFailed):
        cards.report_temporary_loss(city.ctx, city.ops["clerk_x"], "A00000010", idempotency_key="z")


def test_hotlist_is_incremental_and_shows_lapses(city: City) -> None:
    clerk = city.ops["clerk_s1"]
    assert cards.hotlist(city.ctx, clerk).entries == ()
    cards.report_temporary_loss(city.ctx, clerk, city.cards["zhang"], idempotency_key="c01")
    city.clock.advance(hours=1)
    cards.report_formal_loss(
        city.ctx, city.ops["clerk_s2"], city.cards["li"], id_checked=True, idempotency_key="c02"
    )
    assert city.kiosk is not None
    full = cards.hotlist(city.ctx, city.kiosk)
    assert [(e.card_number, e.state) for e in full.entries] == [
        (city.cards["zhang"], CardState.TEMPORARILY_LOST),
        (city.cards["li"], CardState.LOST),
    ]
    assert full.next_since < full.as_of
    later = cards.hotlist(city.ctx, city.kiosk, since=T0 + timedelta(minutes=30))
    assert [e.card_number for e in later.entries] == [city.cards["li"]]
    city.clock.advance(days=5)
    lapsed = cards.hotlist(city.ctx, city.kiosk, since=T0 + timedelta(days=4))
    (entry,) = lapsed.entries
    assert (entry.card_number, entry.on_hotlist, entry.state) == (
        city.cards["zhang"],
        False,
        CardState.ACTIVE,
    )
    with pytest.raises(PermissionDenied):
        cards.hotlist(city.ctx, city.ops["admin"])
