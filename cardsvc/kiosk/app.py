"""The kiosk program's run: sign the device in, then serve one card after another."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cardsvc.counter import exits
from cardsvc.counter.lines import LineSource
from cardsvc.counter.outcome import Outcome, problem_code, problem_message
from cardsvc.counter.ports import (
    AgentPort,
    ApiPort,
    problem_of,
    wait_for_card,
    wait_for_removal,
)
from cardsvc.counter.render import Screen
from cardsvc.errors import CardsvcError
from cardsvc.kiosk import messages
from cardsvc.kiosk.session import KioskSession

WAIT_SLICE_S = 5.0


def _sign_in(api: ApiPort, screen: Screen, device: str, credential: str) -> dict[str, object] | int:
    try:
        api.device_sign_in(device, credential)
        me = api.request("GET", "/v1/auth/me")
    except CardsvcError as exc:
        problem = problem_of(exc)
        if problem is None:
            raise
        screen.error(f"signing in as device {device}: {problem_message(problem)}")
        if problem.field == "device":  # not a device id (a name?): refused before sending
            screen.note(messages.DEVICE_ID_WHERE)
            return exits.USAGE
        if problem.unreachable:
            return problem_code(problem)
        screen.note(messages.DEVICE_ID_WHERE)
        return exits.SIGN_IN
    if not isinstance(me, dict) or me.get("device_kind") != "kiosk":
        screen.error(f"device {device} is not a kiosk: sign in with a kiosk's id")
        screen.note(messages.DEVICE_ID_WHERE)
        return exits.SIGN_IN
    return me


def _wait_for_card(
    agent: AgentPort, screen: Screen, scripted: bool, card_wait: float
) -> dict[str, Any] | None:
    """The card event when a card is in; None when none came (script mode: in card_wait)."""
    with screen.waiting(messages.WELCOME):
        if scripted:
            return wait_for_card(agent, card_wait)
        while True:
            card = wait_for_card(agent, WAIT_SLICE_S)
            if card:
                return card


def _more(source: LineSource) -> bool:
    """Whether a script has commands left (a person at the terminal always may)."""
    more = getattr(source, "more", None)
    return bool(more()) if callable(more) else True


def run_kiosk(
    api: ApiPort,
    agent: AgentPort,
    screen: Screen,
    source: LineSource,
    *,
    device: str,
    credential: str,
    idle_timeout: float,
    receipt_dir: Path | None,
    card_wait: float,
) -> int:
    """Serve cards until quit, end of a script, or Ctrl-C; the exit code."""
    me = _sign_in(api, screen, device, credential)
    if isinstance(me, int):
        return me
    outcome = Outcome()
    kiosk = f"{me.get('id', device)}"
    site = str(me.get("site_code", ""))
    screen.ok(f"kiosk {kiosk} of site {site} ready")
    served = 0
    try:
        while True:
            try:
                card = _wait_for_card(agent, screen, source.scripted, card_wait)
            except CardsvcError as exc:
                problem = problem_of(exc)
                screen.error(f"station agent: {problem_message(problem) if problem else exc}")
                outcome.record(problem_code(problem) if problem else exits.REFUSED)
                break
            if not card:
                if served:  # a script whose next card never came: the kiosk is done
                    screen.note(f"no further card within {card_wait:g} s")
                else:
                    screen.refused(f"no card was inserted within {card_wait:g} s")
                    outcome.record(exits.REFUSED)
                break
            served += 1
            session = KioskSession(
                api, agent, screen, source,
                kiosk=kiosk, site_code=site, idle_timeout=idle_timeout,
                receipt_dir=receipt_dir, outcome=outcome,
            )  # fmt: skip
            reason = session.serve(card)
            idle = reason == messages.idle(idle_timeout)
            if session.quit or reason == "end of input" or (idle and source.scripted):
                break
            if not _more(source):
                break
            if session.watch is None or not session.watch.removed:
                screen.info(messages.TAKE_CARD)
                try:
                    removed = wait_for_removal(agent, card_wait)
                    while not removed and not source.scripted:
                        removed = wait_for_removal(agent, card_wait)
                except CardsvcError as exc:
                    screen.error(f"station agent: {exc}")
                    outcome.record(exits.UNREACHABLE)
                    break
                if not removed:
                    screen.refused(f"the card was not taken out within {card_wait:g} s")
                    outcome.record(exits.REFUSED)
                    break
    finally:
        try:
            api.logout()
        except CardsvcError as exc:
            screen.note(f"signing out: {exc}")
    return outcome.code
