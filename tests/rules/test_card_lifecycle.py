"""The card state machine: every transition, the lapse, the hotlist and terminal actions."""

from datetime import date, datetime, timedelta

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from cardsvc.rules.card_lifecycle import (
    CardAction,
    CardState,
    TerminalAction,
    allowed_actions,
    effective_state,
    on_hotlist,
    terminal_action,
    transition,
)
from cardsvc.rules.config import RulesConfig
from cardsvc.rules.errors import IllegalTransition, RuleError, RuleInputError

S = CardState
A = CardAction
CONFIG = RulesConfig()

LEGAL: dict[tuple[CardState, CardAction], CardState] = {
    (S.ISSUED, A.ACTIVATE): S.ACTIVE,
    (S.ACTIVE, A.REPORT_TEMPORARY_LOSS): S.TEMPORARILY_LOST,
    (S.ACTIVE, A.REPORT_FORMAL_LOSS): S.LOST,
    (S.TEMPORARILY_LOST, A.REPORT_FORMAL_LOSS): S.LOST,
    (S.TEMPORARILY_LOST, A.CANCEL_LOSS): S.ACTIVE,
    (S.LOST, A.CANCEL_LOSS): S.ACTIVE,
    (S.LOST, A.REQUEST_REPLACEMENT): S.REPLACED,
    (S.ISSUED, A.CANCEL): S.CANCELLED,
    (S.ACTIVE, A.CANCEL): S.CANCELLED,
    (S.TEMPORARILY_LOST, A.CANCEL): S.CANCELLED,
    (S.LOST, A.CANCEL): S.CANCELLED,
    (S.REPLACED, A.CANCEL): S.CANCELLED,
}
ALL_PAIRS = [(s, a) for s in CardState for a in CardAction]
ILLEGAL = [pair for pair in ALL_PAIRS if pair not in LEGAL]


def test_table_covers_every_pair() -> None:
    assert len(LEGAL) + len(ILLEGAL) == len(CardState) * len(CardAction) == 36
    assert len(ILLEGAL) == 24


@pytest.mark.parametrize(("state", "action"), list(LEGAL))
def test_legal_transition(state: CardState, action: CardAction) -> None:
    result = transition(state, action)
    assert result.from_state is state
    assert result.action is action
    assert result.to_state is LEGAL[(state, action)]
    assert result.on_hotlist == on_hotlist(result.to_state)
    assert result.rule
    assert result.reasons
    assert action in allowed_actions(state)


@pytest.mark.parametrize(("state", "action"), ILLEGAL)
def test_illegal_transition(state: CardState, action: CardAction) -> None:
    with pytest.raises(IllegalTransition) as info:
        transition(state, action)
    assert info.value.current_state is state
    assert info.value.action is action
    assert state.value in str(info.value)
    assert isinstance(info.value, RuleError)
    assert action not in allowed_actions(state)


def test_no_loss_cancel_after_replacement() -> None:
    replaced = transition(S.LOST, A.REQUEST_REPLACEMENT).to_state
    with pytest.raises(IllegalTransition, match="replacement"):
        transition(replaced, A.CANCEL_LOSS)


@pytest.mark.parametrize(
    ("state", "hot"),
    [
        (S.ISSUED, False),
        (S.ACTIVE, False),
        (S.TEMPORARILY_LOST, True),
        (S.LOST, True),
        (S.REPLACED, True),
        (S.CANCELLED, True),
    ],
)
def test_hotlist(state: CardState, hot: bool) -> None:
    assert on_hotlist(state) is hot


def test_temporary_loss_lapses_after_configured_days() -> None:
    since = date(2025, 3, 1)
    held = effective_state(S.TEMPORARILY_LOST, since, date(2025, 3, 5), CONFIG)
    assert held.state is S.TEMPORARILY_LOST
    assert not held.lapsed
    assert held.lapses_on == date(2025, 3, 6)
    lapsed = effective_state(S.TEMPORARILY_LOST, since, date(2025, 3, 6), CONFIG)
    assert lapsed.state is S.ACTIVE
    assert lapsed.lapsed
    assert lapsed.stored_state is S.TEMPORARILY_LOST
    assert "5 days" in lapsed.rule


def test_lapse_uses_config() -> None:
    config = RulesConfig(temp_loss_lapse_days=2)
    since = date(2025, 3, 1)
    assert (
        effective_state(S.TEMPORARILY_LOST, since, date(2025, 3, 2), config).state
        is S.TEMPORARILY_LOST
    )
    assert effective_state(S.TEMPORARILY_LOST, since, date(2025, 3, 3), config).state is S.ACTIVE


def test_lapse_with_datetimes() -> None:
    since = datetime(2025, 3, 1, 10, 0)
    assert (
        effective_state(
            S.TEMPORARILY_LOST, since, since + timedelta(days=5, seconds=-1), CONFIG
        ).state
        is S.TEMPORARILY_LOST
    )
    assert (
        effective_state(S.TEMPORARILY_LOST, since, since + timedelta(days=5), CONFIG).state
        is S.ACTIVE
    )


@pytest.mark.parametrize("state", [s for s in CardState if s is not S.TEMPORARILY_LOST])
def test_other_states_do_not_lapse(state: CardState) -> None:
    result = effective_state(state, date(2020, 1, 1), date(2025, 1, 1), CONFIG)
    assert result.state is state
    assert not result.lapsed
    assert result.lapses_on is None


def test_effective_state_refuses_bad_times() -> None:
    with pytest.raises(RuleInputError):
        effective_state(S.TEMPORARILY_LOST, date(2025, 3, 2), date(2025, 3, 1), CONFIG)
    with pytest.raises(RuleInputError):
        effective_state(S.TEMPORARILY_LOST, datetime(2025, 3, 1, 0, 0), date(2025, 3, 9), CONFIG)


@pytest.mark.parametrize(
    ("state", "blocked", "action", "serve"),
    [
        (S.ISSUED, False, TerminalAction.NONE, True),
        (S.ACTIVE, False, TerminalAction.NONE, True),
        (S.ACTIVE, True, TerminalAction.APPLICATION_UNBLOCK, True),
        (S.ISSUED, True, TerminalAction.APPLICATION_UNBLOCK, True),
        (S.TEMPORARILY_LOST, False, TerminalAction.APPLICATION_BLOCK, False),
        (S.LOST, False, TerminalAction.APPLICATION_BLOCK, False),
        (S.REPLACED, False, TerminalAction.APPLICATION_BLOCK, False),
        (S.CANCELLED, False, TerminalAction.APPLICATION_BLOCK, False),
        (S.TEMPORARILY_LOST, True, TerminalAction.NONE, False),
        (S.LOST, True, TerminalAction.NONE, False),
        (S.REPLACED, True, TerminalAction.NONE, False),
        (S.CANCELLED, True, TerminalAction.NONE, False),
    ],
)
def test_terminal_action(
    state: CardState, blocked: bool, action: TerminalAction, serve: bool
) -> None:
    decision = terminal_action(state, card_app_blocked=blocked)
    assert decision.action is action
    assert decision.serve is serve
    assert decision.rule
    assert decision.reasons


class CardMachine(RuleBasedStateMachine):
    """The rules against a small independent model: a state, the day it was entered, today."""

    def __init__(self) -> None:
        super().__init__()
        self.lapse_days = 5
        self.config = RulesConfig(temp_loss_lapse_days=self.lapse_days)
        self.stored = S.ISSUED
        self.since = date(2025, 1, 1)
        self.today = date(2025, 1, 1)
        self.blocked = False

    @initialize(start=st.sampled_from(list(CardState)))
    def start_in(self, start: CardState) -> None:
        """Cards come from the database in any state, not only freshly issued."""
        self.stored = start
        self.blocked = on_hotlist(start)

    def model_state(self) -> str:
        if self.stored is S.TEMPORARILY_LOST and (self.today - self.since).days >= self.lapse_days:
            return "active"
        return self.stored.value

    def model_next(self, current: str, action: CardAction) -> str | None:
        if action is A.CANCEL:
            return None if current == "cancelled" else "cancelled"
        table = {
            ("issued", A.ACTIVATE): "active",
            ("active", A.REPORT_TEMPORARY_LOSS): "temporarily_lost",
            ("active", A.REPORT_FORMAL_LOSS): "lost",
            ("temporarily_lost", A.REPORT_FORMAL_LOSS): "lost",
            ("temporarily_lost", A.CANCEL_LOSS): "active",
            ("lost", A.CANCEL_LOSS): "active",
            ("lost", A.REQUEST_REPLACEMENT): "replaced",
        }
        return table.get((current, action))

    def current(self) -> CardState:
        return effective_state(self.stored, self.since, self.today, self.config).state

    @rule(days=st.sampled_from([0, 1, 4, 5, 5, 6, 9]))
    def wait(self, days: int) -> None:
        self.today += timedelta(days=days)

    @rule(action=st.sampled_from(list(CardAction)))
    def act(self, action: CardAction) -> None:
        current = self.current()
        expected = self.model_next(current.value, action)
        if expected is None:
            with pytest.raises(IllegalTransition) as info:
                transition(current, action)
            assert info.value.current_state is current
        else:
            result = transition(current, action)
            assert result.to_state.value == expected
            self.stored = result.to_state
            self.since = self.today

    @precondition(lambda self: self.current() is S.ACTIVE)
    @rule(days=st.integers(3, 7))
    def lose_for_a_while(self, days: int) -> None:
        """A temporary loss followed by a wait around the lapse edge."""
        self.act(A.REPORT_TEMPORARY_LOSS)
        assert self.current() is S.TEMPORARILY_LOST
        self.wait(days)

    @rule()
    def present_to_terminal(self) -> None:
        decision = terminal_action(self.current(), card_app_blocked=self.blocked)
        hot = self.model_state() in {"temporarily_lost", "lost", "replaced", "cancelled"}
        if decision.action is TerminalAction.APPLICATION_BLOCK:
            assert hot
            assert not self.blocked
            self.blocked = True
        elif decision.action is TerminalAction.APPLICATION_UNBLOCK:
            assert not hot
            assert self.blocked
            self.blocked = False
        assert decision.serve is not hot
        assert self.blocked is hot

    @precondition(lambda self: self.stored is S.CANCELLED)
    @rule()
    def cancelled_is_final(self) -> None:
        assert allowed_actions(self.current()) == frozenset()

    @invariant()
    def matches_model(self) -> None:
        assert self.current().value == self.model_state()


CardMachine.TestCase.settings = settings(max_examples=100, stateful_step_count=25, deadline=None)
TestCardMachine = CardMachine.TestCase
