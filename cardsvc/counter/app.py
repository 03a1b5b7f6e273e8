"""The counter program's run: sign in, read commands until quit or end of input, sign out."""

from __future__ import annotations

from cardsvc.counter import exits
from cardsvc.counter.catalogue import allowed_items
from cardsvc.counter.errors import InputError
from cardsvc.counter.lines import LineSource, Prompter, parse_command
from cardsvc.counter.outcome import Outcome, problem_code, problem_message
from cardsvc.counter.ports import AgentPort, ApiPort, problem_of
from cardsvc.counter.render import Screen
from cardsvc.counter.session import CounterSession
from cardsvc.errors import CardsvcError

PROMPT = "counter> "


def sign_in(api: ApiPort, screen: Screen, username: str, password: str) -> frozenset[str] | int:
    """The operator's roles after signing in, or the exit code of the failure."""
    try:
        api.login(username, password)
        me = api.request("GET", "/v1/auth/me")
    except CardsvcError as exc:
        problem = problem_of(exc)
        if problem is None:
            raise
        screen.error(f"signing in as {username}: {problem_message(problem)}")
        return problem_code(problem) if problem.unreachable else exits.SIGN_IN
    return frozenset(str(role) for role in (me or {}).get("roles") or ())


def run_counter(
    api: ApiPort,
    agent: AgentPort | None,
    screen: Screen,
    source: LineSource,
    *,
    username: str,
    password: str,
) -> int:
    """The whole session; the exit code (see cardsvc.counter.exits)."""
    signed = sign_in(api, screen, username, password)
    if isinstance(signed, int):
        return signed
    roles = signed
    outcome = Outcome()
    items = allowed_items(roles)
    screen.ok(f"signed in as {username} ({', '.join(sorted(roles)) or 'no role'})")
    if not items and "reviewer" in roles:
        screen.note("reviewer: approve CHANGE_ID / reject CHANGE_ID reason=... (R05 changes)")
    elif not items:
        screen.note("your roles allow no business item at a counter")
    elif not source.scripted:
        screen.items(items, title="your business items (help: all commands)")
    session = CounterSession(
        api,
        agent,
        screen,
        Prompter(source, screen.error),
        roles=roles,
        operator=username,
        outcome=outcome,
    )
    try:
        while True:
            line = source.read(PROMPT)
            if line is None:
                break
            try:
                command = parse_command(line)
            except InputError as exc:
                screen.error(f"{exc.field}: {exc.problem}")
                outcome.record(exits.USAGE)
                continue
            if not session.run(command):
                break
    finally:
        session.end_customer("signing out")
        try:
            api.logout()
        except CardsvcError as exc:
            screen.note(f"signing out: {exc}")
    screen.info(
        f"signed out; {outcome.failures} command(s) failed" if outcome.failures else "signed out"
    )
    return outcome.code
