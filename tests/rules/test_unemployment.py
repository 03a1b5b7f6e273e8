"""Unemployment benefit (arts. 14 and 17): conditions, duration bands and their edges, amount."""

import pytest

from cardsvc.rules.config import RulesConfig
from cardsvc.rules.errors import RuleInputError
from cardsvc.rules.unemployment import (
    SeparationReason,
    duration_for_months_paid,
    ended_involuntarily,
    unemployment_benefit,
)

CONFIG = RulesConfig(minimum_wage_fen=201_000, unemployment_benefit_bp=9_000)


@pytest.mark.parametrize(
    ("months_paid", "eligible", "duration"),
    [
        (0, False, 0),
        (11, False, 0),
        (12, True, 12),
        (59, True, 12),
        (60, True, 18),
        (119, True, 18),
        (120, True, 24),
        (400, True, 24),
    ],
)
def test_duration_bands(months_paid: int, eligible: bool, duration: int) -> None:
    d = unemployment_benefit(
        months_paid=months_paid,
        ended_involuntarily=True,
        registered_unemployed=True,
        seeking_work=True,
        drawing_pension=False,
        config=CONFIG,
    )
    assert d.eligible is eligible
    assert d.duration_months == duration
    assert d.months_paid == months_paid
    assert "art" in d.rule
    if eligible:
        assert d.monthly_amount_fen == 180_900
        assert d.total_amount_fen == duration * 180_900
    else:
        assert d.monthly_amount_fen == 0
        assert d.total_amount_fen == 0
        assert any("12" in r for r in d.reasons)


@pytest.mark.parametrize(
    ("months", "duration"), [(0, 0), (11, 0), (12, 12), (59, 12), (60, 18), (119, 18), (120, 24)]
)
def test_duration_function(months: int, duration: int) -> None:
    assert duration_for_months_paid(months) == duration


@pytest.mark.parametrize(
    ("field", "value", "phrase"),
    [
        ("ended_involuntarily", False, "own will"),
        ("registered_unemployed", False, "registered"),
        ("seeking_work", False, "seeking work"),
        ("drawing_pension", True, "pension"),
    ],
)
def test_each_condition_refuses(field: str, value: bool, phrase: str) -> None:
    d = unemployment_benefit(
        months_paid=60,
        config=CONFIG,
        **{
            "ended_involuntarily": True,
            "registered_unemployed": True,
            "seeking_work": True,
            "drawing_pension": False,
            field: value,
        },
    )
    assert not d.eligible
    assert len(d.reasons) == 1
    assert phrase in d.reasons[0]
    assert d.duration_months == 0


def test_reasons_list_every_failed_condition() -> None:
    d = unemployment_benefit(
        months_paid=5,
        ended_involuntarily=False,
        registered_unemployed=False,
        seeking_work=False,
        drawing_pension=True,
        config=CONFIG,
    )
    assert not d.eligible
    assert len(d.reasons) == 5


def test_amount_follows_config_rounded_half_up() -> None:
    config = RulesConfig(minimum_wage_fen=100_005, unemployment_benefit_bp=9_000)
    d = unemployment_benefit(
        months_paid=12,
        ended_involuntarily=True,
        registered_unemployed=True,
        seeking_work=True,
        drawing_pension=False,
        config=config,
    )
    # 100005 × 0.9 = 90004.5 → 90005
    assert d.monthly_amount_fen == 90_005


def test_carried_over_months_capped_at_24() -> None:
    kw = {
        "ended_involuntarily": True,
        "registered_unemployed": True,
        "seeking_work": True,
        "drawing_pension": False,
    }
    assert (
        unemployment_benefit(
            months_paid=12, carried_over_months=5, config=CONFIG, **kw
        ).duration_months
        == 17
    )
    assert (
        unemployment_benefit(
            months_paid=120, carried_over_months=5, config=CONFIG, **kw
        ).duration_months
        == 24
    )


@pytest.mark.parametrize(
    ("months", "carried", "field"), [(-1, 0, "months_paid"), (12, -1, "carried_over_months")]
)
def test_bad_input(months: int, carried: int, field: str) -> None:
    with pytest.raises(RuleInputError) as info:
        unemployment_benefit(
            months_paid=months,
            ended_involuntarily=True,
            registered_unemployed=True,
            seeking_work=True,
            drawing_pension=False,
            config=CONFIG,
            carried_over_months=carried,
        )
    assert info.value.field == field


SEPARATIONS = {
    SeparationReason.CONTRACT_EXPIRED: True,
    SeparationReason.DISMISSED: True,
    SeparationReason.EMPLOYER_CLOSED: True,
    SeparationReason.EMPLOYER_AT_FAULT: True,
    SeparationReason.MUTUAL_EMPLOYER_PROPOSED: True,
    SeparationReason.MUTUAL_EMPLOYEE_PROPOSED: False,
    SeparationReason.RESIGNED: False,
    SeparationReason.RETIRED: False,
}
"""失业保险金申领发放办法 art. 4: True = not of the person's own will."""


@pytest.mark.parametrize(("reason", "involuntary"), SEPARATIONS.items())
def test_separation_reasons_by_art_4(reason: SeparationReason, involuntary: bool) -> None:
    assert ended_involuntarily(reason) is involuntary


def test_every_separation_reason_is_in_the_table() -> None:
    """A new reason must be placed on one side in the table above."""
    assert set(SEPARATIONS) == set(SeparationReason)


def test_a_separation_reason_must_be_one() -> None:
    with pytest.raises(RuleInputError) as info:
        ended_involuntarily("dismissed")  # type: ignore[arg-type]
    assert info.value.field == "separation_reason"
