"""Seeded cards the hotlist decides about, at both stations (SQLite and PostgreSQL).

What the station sent is read off the simulated card itself (its application is
blocked or not), and the service's record and the agent's answer must agree.

- a lost (or replaced, or temporarily lost) card whose application is still open: the
  agent sends APPLICATION BLOCK and serves nothing, at the counter and at the kiosk;
- a card whose loss was cancelled while it was blocked: the agent sends APPLICATION
  UNBLOCK, and the card is served again.
The database, the journal and the simulated card agree afterwards.
"""

from __future__ import annotations

from e2e_harness import COUNTER_SLOT, E2E, KIOSK_SLOT, PIN, at_reader, problem_of, sim_state


def test_a_hotlisted_card_is_blocked_and_refused_at_the_kiosk(desk: E2E) -> None:
    resident = desk.resident("hotlisted")
    card = resident.card()
    assert sim_state(card)["application_blocked"] is False
    shown = at_reader(desk, KIOSK_SLOT, card, resident.card_number)
    assert shown["serve"] is False
    assert shown["on_hotlist"] is True
    assert shown["holder"] is None
    assert sim_state(card)["application_blocked"] is True
    assert desk.card_row(resident.card_number).application_blocked is True
    # nothing is served: no PIN entry, no session for the kiosk program
    with desk.kiosk_device() as kiosk:
        refused = problem_of(lambda: desk.kiosk.client.open_session(kiosk.token))
    assert refused is not None
    # presented again (already blocked): still refused, nothing sent twice
    desk.remove(KIOSK_SLOT)
    shown = at_reader(desk, KIOSK_SLOT, card, resident.card_number)
    assert shown["serve"] is False
    assert shown["application_blocked"] is True


def test_a_hotlisted_card_is_blocked_at_the_counter_too(desk: E2E) -> None:
    # a counter terminal has no card session of its own: its agent checks the hotlist
    # and blocks the card with the PSAM; the clerk's attempt to serve the card is
    # refused, and that presentation tells the API the card is blocked
    resident = desk.resident("hotlisted")
    card = resident.card()
    shown = at_reader(desk, COUNTER_SLOT, card, resident.card_number)
    assert shown["serve"] is False
    assert shown["holder"] is None
    assert sim_state(card)["application_blocked"] is True
    with desk.login() as clerk:
        refused = problem_of(lambda: desk.counter.client.open_session(clerk.token))
    assert refused is not None
    assert desk.card_row(resident.card_number).application_blocked is True


def test_a_card_unlost_while_blocked_is_unblocked(desk: E2E) -> None:
    resident = desk.resident("unlost")
    card = resident.card()
    assert sim_state(card)["application_blocked"] is True
    shown = at_reader(desk, KIOSK_SLOT, card, resident.card_number)
    assert shown["serve"] is True
    assert shown["state"] == "active"
    assert sim_state(card)["application_blocked"] is False
    assert desk.card_row(resident.card_number).application_blocked is False
    desk.kiosk.client.verify_pin(PIN)  # and the holder is served again
    with desk.kiosk_device() as kiosk:
        verified = desk.kiosk.client.open_session(kiosk.token)
        kiosk.request(
            "GET", f"/v1/persons/{resident.ssn}/insurance", card_session=verified["session_id"]
        )
