"""Running one command and turning what went wrong into a message and an exit code."""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from cardsvc.counter import exits
from cardsvc.counter.errors import InputError, NoCardSession, NotAllowed, SessionEnded
from cardsvc.counter.ports import Problem, problem_of
from cardsvc.counter.render import Screen
from cardsvc.errors import CardsvcError

# The more serious code wins at the end of a session.
_SEVERITY: Final = {
    exits.OK: 0,
    exits.REFUSED: 1,
    exits.USAGE: 2,
    exits.SIGN_IN: 3,
    exits.UNREACHABLE: 4,
}


class Outcome:
    """The exit code so far: the most serious failure seen."""

    def __init__(self) -> None:
        self.code = exits.OK
        self.failures = 0

    def record(self, code: int) -> None:
        if code != exits.OK:
            self.failures += 1
        if _SEVERITY.get(code, 5) > _SEVERITY.get(self.code, 5):
            self.code = code


def problem_code(problem: Problem) -> int:
    if problem.unreachable:
        return exits.UNREACHABLE
    if problem.status == 401:
        return exits.SIGN_IN
    return exits.REFUSED


def problem_message(problem: Problem) -> str:
    if problem.unreachable:
        return problem.text()
    if problem.status == 401:
        return f"{problem.text()}: the sign-in is no longer valid; sign in again"
    return f"{problem.text()} [{problem.status} {problem.slug}]"


def run_guarded(screen: Screen, outcome: Outcome, action: Callable[[], None]) -> None:
    """Run `action`; report a failure on `screen` and record its exit code.

    SessionEnded passes through (the caller ends the customer's session).
    """
    try:
        action()
    except SessionEnded:
        raise
    except InputError as exc:
        screen.error(f"{exc.field}: {exc.problem}")
        outcome.record(exits.USAGE)
    except (NoCardSession, NotAllowed) as exc:
        screen.refused(str(exc))
        outcome.record(exits.REFUSED)
    except CardsvcError as exc:
        problem = problem_of(exc)
        if problem is None:
            screen.refused(str(exc))
            outcome.record(exits.REFUSED)
            return
        if problem.unreachable:
            screen.error(problem_message(problem))
        else:
            screen.refused(problem_message(problem))
        outcome.record(problem_code(problem))
