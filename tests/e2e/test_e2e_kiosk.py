"""Every kiosk item from the kiosk: the resident's card in the kiosk's reader, its station
agent (the API's key service, no PSAM), the PIN entered at the kiosk, the kiosk
device's own card session, the API and the database, on SQLite and PostgreSQL.

Kiosk items (shared/domain.md): E01-E05, R02, R05 (phone only), B01-B04, C05, C07.
"""

from __future__ import annotations

from datetime import UTC, datetime

from e2e_harness import (
    COUNTER_SLOT,
    E2E,
    KIOSK_SLOT,
    PIN,
    at_reader,
    problem_of,
    refused_soon,
    sim_state,
)

from cardsvc.client import ApiClient, ApiProblem
from simulators.ssc_card import UserCard

NEW_PIN = "246802"


def _kiosk_session(e2e: E2E, kiosk: ApiClient) -> dict[str, object]:
    verified = e2e.kiosk.client.open_session(kiosk.token)
    assert verified["pin_verified"] is True
    return dict(verified)


def test_wrong_pin_then_the_kiosk_items(desk: E2E) -> None:
    resident = desk.resident("employed")
    card = resident.card()
    shown = at_reader(desk, KIOSK_SLOT, card, resident.card_number)
    assert shown["authenticated_by"] == "key-service"
    assert shown["serve"] is True
    assert shown["pin_verified"] is False
    agent = desk.kiosk.client
    wrong = problem_of(lambda: agent.verify_pin("000000"))
    assert getattr(wrong, "status", None) in (400, 401, 403, 409, 422), wrong
    assert "wrong-pin" in str(getattr(wrong, "type", "")) + repr(wrong)
    assert sim_state(card)["pin_tries_left"] == 5
    agent.verify_pin(PIN)
    with desk.kiosk_device() as kiosk:
        verified = _kiosk_session(desk, kiosk)
        session = str(verified["session_id"])
        holder = verified["holder"]
        assert isinstance(holder, dict)
        assert holder["ssn"] == resident.ssn[:6] + "********" + resident.ssn[-4:]
        base = f"/v1/persons/{resident.ssn}"

        def get(path: str) -> dict[str, object]:
            answer = kiosk.request("GET", base + path, card_session=session)
            assert isinstance(answer, dict)
            return answer

        assert "********" in str(get("")["ssn"])  # masked for a kiosk
        get("/insurance")
        get("/contributions")
        get("/accounts")
        get("/benefits")
        get("/employment")
        get("/unemployment-benefit-eligibility")
        get("/retirement-eligibility")
        get("/medical-insurance-status")
        r02 = kiosk.request(
            "POST",
            base + "/unemployment-registrations",
            json={
                "able_to_work": True,
                "willing_to_work": True,
                "employment_ended_on": datetime.now(UTC).date().isoformat(),
            },
            card_session=session,
        )
        assert r02["certificate_no"]
        r05 = kiosk.request(
            "POST",
            base + "/information-changes",
            json={"phone": "13905320003"},
            card_session=session,
        )
        assert r05["applied"] == ["phone"]
        refused = problem_of(
            lambda: kiosk.request(
                "POST", base + "/information-changes", json={"name": "某某"}, card_session=session
            )
        )
        assert isinstance(refused, ApiProblem)
        assert refused.status == 403
        # C05 at the kiosk: the new PIN on the card, then recorded
        agent.change_pin(PIN, NEW_PIN)
        kiosk.request("POST", f"/v1/cards/{resident.card_number}/pin-change", card_session=session)
        # a counter-only item is refused at a kiosk
        c01 = problem_of(
            lambda: kiosk.request(
                "POST",
                f"/v1/cards/{resident.card_number}/loss-reports",
                json={"kind": "temporary"},
                card_session=session,
            )
        )
        assert isinstance(c01, ApiProblem)
        assert c01.status == 403
        # card out: the agent ends the sessions; the kiosk's is unusable afterwards
        desk.remove(KIOSK_SLOT)
        gone = refused_soon(lambda: get("/insurance"))
        assert gone.status == 403
        assert gone.field == "X-Card-Session"
    items = {i for i, o in desk.journal(person_id=resident.person_id) if o == "ok"}
    assert {"E01", "E02", "E03", "E04", "E05", "B01", "B03", "B04", "R02", "R05"} <= items
    assert ("C05", "ok") in desk.journal(card_number=resident.card_number)


def test_pension_certification_at_the_kiosk(desk: E2E) -> None:
    resident = desk.resident("pensioner")
    at_reader(desk, KIOSK_SLOT, resident.card(), resident.card_number)
    desk.kiosk.client.verify_pin(PIN)
    with desk.kiosk_device() as kiosk:
        session = str(_kiosk_session(desk, kiosk)["session_id"])
        b02 = kiosk.request(
            "POST",
            f"/v1/persons/{resident.ssn}/pension-certifications",
            json={},
            card_session=session,
        )
    assert b02["certifications"]
    assert ("B02", "ok") in desk.journal(person_id=resident.person_id)


def test_activation_of_a_new_card_at_the_kiosk(desk: E2E) -> None:
    resident = desk.resident("active")
    new_number, new_code, profile = resident.replacement()
    with desk.login() as clerk:
        clerk.request(
            "POST",
            f"/v1/cards/{resident.card_number}/loss-reports",
            json={"kind": "formal", "id_checked": True},
        )
        clerk.request(
            "POST",
            f"/v1/cards/{resident.card_number}/replacement",
            json={"new_card_number": new_number, "new_card_id_code": new_code, "id_checked": True},
        )
    shown = at_reader(desk, KIOSK_SLOT, UserCard.from_profile(profile), new_number)
    assert shown["state"] == "issued"
    desk.kiosk.client.verify_pin(PIN)
    with desk.kiosk_device() as kiosk:
        session = str(_kiosk_session(desk, kiosk)["session_id"])
        c07 = kiosk.request("POST", f"/v1/cards/{new_number}/activation", card_session=session)
    assert c07["to_state"] == "active"
    assert ("C07", "ok") in desk.journal(card_number=new_number)
    assert desk.slots[COUNTER_SLOT].faults.removed  # the counter's reader was not involved
