"""Every business item from the counter: a clerk, the counter's station agent with a PSAM,
the resident's card in the reader, the API and the database, on SQLite and PostgreSQL.

The clerk's program gets its own card session from the agent (POST /v1/card/session
with the clerk's token) and sends X-Card-Session with every item, as `cardsvc
counter` does; loss reports and their cancellation are done for the resident by
SSN (the card is not at hand when it is lost), and the agent then blocks or
unblocks the card when it is presented.
"""

from __future__ import annotations

from datetime import datetime

from e2e_harness import COUNTER_SLOT, E2E, PIN, agent_card, at_reader, problem_of, sim_state

from cardsvc.client import ApiClient
from cardsvc.demo.city import REVIEWER, SUPERVISOR
from cardsvc.services.context import CITY_TIMEZONE
from simulators.ssc_card import UserCard

NEW_PIN = "654321"


def _clerk_session(e2e: E2E, clerk: ApiClient, state: str = "active") -> str:
    """The clerk's own card session for the card in the counter's reader (via the agent)."""
    verified = e2e.counter.client.open_session(clerk.token)
    assert verified["terminal"]["serve"] is True
    assert verified["card"]["state"] == state
    return str(verified["session_id"])


def _today() -> str:
    """The service's business day (the city's UTC+8), as it dates what it certifies."""
    return datetime.now(CITY_TIMEZONE).date().isoformat()


def test_enquiries_eligibility_and_registrations(desk: E2E) -> None:
    resident = desk.resident("employed")
    card = at_reader(desk, COUNTER_SLOT, resident.card(), resident.card_number)
    assert card["serve"] is True
    assert card["authenticated_by"] == "psam"  # the counter's PSAM checked the card
    assert card["on_hotlist"] is False
    assert card["holder"]["ssn"] == resident.ssn[:6] + "********" + resident.ssn[-4:]
    assert desk.counter.client.reader_string().split("|")[2] == resident.card_number
    with desk.login() as clerk:
        session = _clerk_session(desk, clerk)
        base = f"/v1/persons/{resident.ssn}"

        def get(path: str, **params: str) -> dict[str, object]:
            answer = clerk.request("GET", base + path, params=params or None, card_session=session)
            assert isinstance(answer, dict)
            return answer

        assert get("")["ssn"] == resident.ssn  # the clerk sees the full ID number
        assert get("/insurance")["relations"]
        assert get("/contributions", limit="5")["page"]["total"] >= 0  # type: ignore[index]
        assert "balance_fen" in get("/accounts")
        assert "total_amount_fen" in get("/benefits")
        assert get("/employment")["employment_status"] == "employed"
        assert get("/unemployment-benefit-eligibility")["rule"]
        assert get("/retirement-eligibility")["statutory_age"]
        assert "covered" in get("/medical-insurance-status")

        r02 = clerk.request(
            "POST",
            base + "/unemployment-registrations",
            json={"able_to_work": True, "willing_to_work": True, "employment_ended_on": _today()},
            card_session=session,
        )
        assert r02["certificate_no"]
        r01 = clerk.request(
            "POST",
            base + "/employment-registrations",
            json={
                "employer_credit_code": desk.employer_code(),
                "start_date": _today(),
                "contract_type": "fixed_term",
            },
            card_session=session,
        )
        assert r01["closed_unemployment_registration_id"] == r02["registration_id"]
        r05 = clerk.request(
            "POST",
            base + "/information-changes",
            json={"phone": "13905320002", "name": resident.name + "甲"},
            card_session=session,
        )
        assert r05["applied"] == ["phone"]
        (pending,) = r05["pending"]
    with desk.login(REVIEWER) as reviewer:
        decided = reviewer.request(
            "POST", f"/v1/information-changes/{pending['change_id']}/approval"
        )
        assert decided["status"] == "approved"
    items = {
        item for item, outcome in desk.journal(person_id=resident.person_id) if outcome == "ok"
    }
    assert {"E01", "E02", "E03", "E04", "E05", "B01", "B03", "B04", "R01", "R02", "R05"} <= items


def test_resident_enrolments(desk: E2E) -> None:
    for kind, route, item in (
        ("no-pension", "resident-pension-enrolment", "R03"),
        ("no-medical", "resident-medical-enrolment", "R04"),
    ):
        resident = desk.resident(kind)
        at_reader(desk, COUNTER_SLOT, resident.card(), resident.card_number)
        with desk.login() as clerk:
            session = _clerk_session(desk, clerk)
            enrolled = clerk.request(
                "POST", f"/v1/persons/{resident.ssn}/{route}", json={}, card_session=session
            )
        assert enrolled["scheme"] == route.removesuffix("-enrolment").replace("-", "_")
        assert (item, "ok") in desk.journal(person_id=resident.person_id)


def test_pension_certification(desk: E2E) -> None:
    resident = desk.resident("pensioner")
    at_reader(desk, COUNTER_SLOT, resident.card(), resident.card_number)
    with desk.login() as clerk:
        session = _clerk_session(desk, clerk)
        b02 = clerk.request(
            "POST",
            f"/v1/persons/{resident.ssn}/pension-certifications",
            json={"id_checked": True},
            card_session=session,
        )
    assert b02["certified_on"] == _today()
    assert b02["certifications"]
    assert ("B02", "ok") in desk.journal(person_id=resident.person_id)


def test_pin_change_and_reload_on_the_card(desk: E2E) -> None:
    resident = desk.resident("active")
    card = resident.card()
    at_reader(desk, COUNTER_SLOT, card, resident.card_number)
    agent = desk.counter.client
    with desk.login() as clerk:
        # C05: the holder changes the PIN on the card; the counter records it
        agent.verify_pin(PIN)
        agent.change_pin(PIN, NEW_PIN)
        session = _clerk_session(desk, clerk)
        clerk.request("POST", f"/v1/cards/{resident.card_number}/pin-change", card_session=session)
        agent.verify_pin(NEW_PIN)
        # C06: the holder forgot it; the clerk checks the ID and reloads it on the card
        agent.reload_pin(PIN, clerk.token)
        clerk.request(
            "POST",
            f"/v1/cards/{resident.card_number}/pin-reload",
            json={"id_checked": True},
            card_session=session,
        )
    agent.verify_pin(PIN)
    assert sim_state(card)["pin_tries_left"] == sim_state(card)["pin_try_limit"]
    journal = desk.journal(card_number=resident.card_number)
    assert ("C05", "ok") in journal
    assert ("C06", "ok") in journal


def test_temporary_loss_blocks_the_card_and_its_cancellation_unblocks_it(desk: E2E) -> None:
    resident = desk.resident("active")
    card = resident.card()
    number = resident.card_number
    with desk.login() as clerk:
        c01 = clerk.request("POST", f"/v1/cards/{number}/loss-reports", json={"kind": "temporary"})
        assert c01["to_state"] == "temporarily_lost"
        assert c01["on_hotlist"] is True
        # the card turns up at the counter: the agent blocks it and serves nothing
        shown = at_reader(desk, COUNTER_SLOT, card, number)
        assert shown["serve"] is False
        assert shown["holder"] is None
        assert sim_state(card)["application_blocked"] is True
        # the clerk's program tries to serve it: refused, and the API learns it is blocked
        assert problem_of(lambda: desk.counter.client.open_session(clerk.token)) is not None
        assert desk.card_row(number).application_blocked is True
        desk.remove(COUNTER_SLOT)
        # C03: the holder found it; the clerk cancels the loss report
        c03 = clerk.request(
            "DELETE", f"/v1/cards/{number}/loss-reports", params={"id_checked": "true"}
        )
        assert c03["to_state"] == "active"
        shown = at_reader(desk, COUNTER_SLOT, card, number)
        assert shown["serve"] is True
        assert sim_state(card)["application_blocked"] is False
        _clerk_session(desk, clerk)  # served again; the API records the card open
    assert desk.card_row(number).application_blocked is False
    items = [item for item, outcome in desk.journal(card_number=number) if outcome == "ok"]
    assert items.index("C01") < items.index("C03")


def test_formal_loss_replacement_and_activation(desk: E2E) -> None:
    resident = desk.resident("active")
    old_card = resident.card()
    number = resident.card_number
    new_number, new_code, new_profile = resident.replacement()
    with desk.login() as clerk:
        clerk.request("POST", f"/v1/cards/{number}/loss-reports", json={"kind": "temporary"})
        c02 = clerk.request(
            "POST",
            f"/v1/cards/{number}/loss-reports",
            json={"kind": "formal", "id_checked": True},
        )
        assert c02["to_state"] == "lost"
        c04 = clerk.request(
            "POST",
            f"/v1/cards/{number}/replacement",
            json={"new_card_number": new_number, "new_card_id_code": new_code, "id_checked": True},
        )
        assert c04["new_card_state"] == "issued"
        # the new card, personalised with the new number, is handed over and activated
        new_card = UserCard.from_profile(new_profile)
        shown = at_reader(desk, COUNTER_SLOT, new_card, new_number)
        assert shown["state"] == "issued"
        session = _clerk_session(desk, clerk, state="issued")
        c07 = clerk.request("POST", f"/v1/cards/{new_number}/activation", card_session=session)
        assert c07["to_state"] == "active"
    # the old card is dead: presented again, it is blocked and refused
    shown = at_reader(desk, COUNTER_SLOT, old_card, number)
    assert shown["serve"] is False
    assert sim_state(old_card)["application_blocked"] is True
    assert {"C01", "C02", "C04"} <= {i for i, _ in desk.journal(card_number=number)}
    assert ("C07", "ok") in desk.journal(card_number=new_number)


def test_cancellation_by_a_supervisor(desk: E2E) -> None:
    resident = desk.resident("active")
    card = resident.card()
    with desk.login(SUPERVISOR) as supervisor:
        c08 = supervisor.request(
            "POST", f"/v1/cards/{resident.card_number}/cancellation", json={"reason": "death"}
        )
    assert c08["to_state"] == "cancelled"
    shown = at_reader(desk, COUNTER_SLOT, card, resident.card_number)
    assert shown["serve"] is False
    assert shown["state"] == "cancelled"
    assert sim_state(card)["application_blocked"] is True
    assert ("C08", "ok") in desk.journal(card_number=resident.card_number)
    assert agent_card(desk.counter, resident.card_number)["holder"] is None
