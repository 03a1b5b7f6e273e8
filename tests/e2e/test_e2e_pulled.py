"""A card pulled in the middle of a transaction leaves no half-done state: afterwards the
journal, the database and the card agree (SQLite and PostgreSQL).

The card is pulled at an exact command with `PullAt`, a simulated card that pulls
itself out of its vpcd slot when it receives that command: before carrying it out
(the command never reached the card) or after (the card did it, the answer was
lost on the way back).
"""

from __future__ import annotations

import time
from typing import Any, Final

from e2e_harness import (
    COUNTER_SLOT,
    E2E,
    KIOSK_SLOT,
    PIN,
    agent_card,
    at_reader,
    problem_of,
    sim_state,
)
from pcsc_harness import wait_card_absent

from cardsvc.apdu import Ins
from simulators.ssc_card import UserCard
from simulators.vpcd import VpcdSlot

HUMAN_PAUSE_S: Final = 1.0  # pacing like a person, not a timing assertion


class PullAt:
    """A user card that is pulled out of `slot` when it receives instruction `ins` (once)."""

    def __init__(self, card: UserCard, slot: VpcdSlot, ins: int, *, carried_out: bool) -> None:
        self.inner = card
        self.slot = slot
        self.ins = ins
        self.carried_out = carried_out
        self.fired = False

    @property
    def atr(self) -> bytes:
        return self.inner.atr

    def power_on(self) -> bytes:
        return self.inner.power_on()

    def power_off(self) -> None:
        self.inner.power_off()

    def reset(self) -> bytes:
        return self.inner.reset()

    def state(self) -> dict[str, object]:
        return self.inner.state()

    def transmit(self, apdu: bytes) -> bytes:
        if self.fired or len(apdu) < 2 or apdu[1] != self.ins:
            return self.inner.transmit(apdu)
        self.fired = True
        answer = self.inner.transmit(apdu) if self.carried_out else b"\x6f\x00"
        self.slot.remove()  # the answer never reaches the reader
        return answer


def _in_slot(e2e: E2E, card: Any, number: str) -> None:
    e2e.insert(COUNTER_SLOT, card)
    agent_card(e2e.counter, number)


def test_pin_reload_interrupted_leaves_pin_and_journal_unchanged(desk: E2E) -> None:
    resident = desk.resident("active")
    inner = resident.card()
    pulled = PullAt(inner, desk.slots[COUNTER_SLOT], Ins.RELOAD_PIN, carried_out=False)
    _in_slot(desk, pulled, resident.card_number)
    with desk.login() as clerk:
        failed = problem_of(lambda: desk.counter.client.reload_pin("999999", clerk.token))
    assert pulled.fired, "the RELOAD PIN command never reached the card"
    assert failed is not None
    # the counter records C06 only after the card did it: no entry, and the old PIN holds
    assert "C06" not in {item for item, _ in desk.journal(card_number=resident.card_number)}
    state = sim_state(inner)
    assert state["pin_tries_left"] == state["pin_try_limit"]
    at_reader(desk, COUNTER_SLOT, inner, resident.card_number)
    desk.counter.client.verify_pin(PIN)


def test_block_interrupted_is_finished_at_the_next_presentation(desk: E2E) -> None:
    # at the kiosk the API issues the APPLICATION BLOCK (and records the card blocked)
    resident = desk.resident("hotlisted")
    inner = resident.card()
    pulled = PullAt(inner, desk.slots[KIOSK_SLOT], Ins.APPLICATION_BLOCK, carried_out=False)
    desk.insert(KIOSK_SLOT, pulled, wait=False)
    assert _wait(lambda: pulled.fired)
    _put_back_later(desk)
    # the block never reached the card: the card is still open, nothing was served
    assert sim_state(inner)["application_blocked"] is False
    # presented again, the station blocks it; card and database then agree
    shown = at_reader(desk, KIOSK_SLOT, inner, resident.card_number)
    assert shown["serve"] is False
    assert sim_state(inner)["application_blocked"] is True
    assert desk.card_row(resident.card_number).application_blocked is True


def test_block_done_but_answer_lost_is_recorded_at_the_next_presentation(desk: E2E) -> None:
    resident = desk.resident("hotlisted")
    inner = resident.card()
    pulled = PullAt(inner, desk.slots[KIOSK_SLOT], Ins.APPLICATION_BLOCK, carried_out=True)
    desk.insert(KIOSK_SLOT, pulled, wait=False)
    assert _wait(lambda: pulled.fired)
    _put_back_later(desk)
    assert sim_state(inner)["application_blocked"] is True  # the card did it
    shown = at_reader(desk, KIOSK_SLOT, inner, resident.card_number)
    assert shown["serve"] is False
    assert shown["application_blocked"] is True
    assert desk.card_row(resident.card_number).application_blocked is True


def _put_back_later(e2e: E2E) -> None:
    """The holder takes the card out and puts it back a moment later (not at once)."""
    wait_card_absent(e2e.reader(KIOSK_SLOT))
    time.sleep(HUMAN_PAUSE_S)


def _wait(condition: Any, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False
