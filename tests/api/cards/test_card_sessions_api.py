"""Card sessions over the served API with simulated cards: the card answers the API's
challenge; forged, replayed, expired and foreign proofs are refused; a challenge issued
by one process is proved at another.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from api_harness import OTHER_SITE_CODE, assert_problem
from card_terminal import make_card, random_masters
from cards_harness import CardApi
from sqlalchemy import select, update

from cardsvc.db.models import CardChallenge, DeviceKind, JournalEntry, Outcome, Role
from cardsvc.db.models.records import JournalEvent


def test_example_gen2_card_opens_a_kiosk_session(card_api: CardApi) -> None:
    card = make_card(card_api.records, 2, example=True)
    kiosk = card_api.kiosk()
    _terminal, session_id, response = kiosk.present(card, pin="123456")

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["session_id"] == session_id
    assert body["pin_verified"] is True
    assert body["card"]["card_number"] == "A00000011"
    assert body["card"]["state"] == "active"
    assert body["card"]["on_hotlist"] is False
    assert body["card"]["generation"] == 2
    assert body["card"]["cancellation_reason"] is None  # recorded only for a cancelled card
    assert body["holder"]["ssn"] == "370402********1238"  # masked for a kiosk
    assert body["holder"]["name"] == "张三"
    assert body["terminal"]["action"] == "none"
    assert body["terminal"]["serve"] is True
    assert body["external_authenticate"] is None

    # inside the session the kiosk acts for this card (C05 is a kiosk item) ...
    path = f"/v1/cards/{card.card_number}/pin-change"
    done = kiosk.write("POST", path, session=session_id)
    assert done.status_code == 200, done.text
    assert done.json()["event"] == "changed"
    # ... and without it, not at all
    assert_problem(kiosk.write("POST", path), 403, "forbidden")

    # card out: the session stops working, ending it again is harmless
    assert kiosk.request("DELETE", f"/v1/card-sessions/{session_id}").status_code == 204
    assert kiosk.request("DELETE", f"/v1/card-sessions/{session_id}").status_code == 204
    gone = assert_problem(kiosk.write("POST", path, session=session_id), 403, "forbidden")
    assert gone["field"] == "X-Card-Session"
    assert "ended" in gone["detail"]


def test_operator_session_shows_the_full_ssn_and_reaches_out_of_scope_holders(
    card_api: CardApi,
) -> None:
    card = make_card(card_api.records, 2, site_code=OTHER_SITE_CODE)
    clerk = card_api.operator()
    path = f"/v1/cards/{card.card_number}/loss-reports"
    # the holder lives outside the clerk's district: not found without the card
    assert_problem(clerk.write("POST", path, json={"kind": "temporary"}), 404, "not-found")

    _terminal, session_id, response = clerk.present(card)
    assert response.status_code == 200, response.text
    assert response.json()["holder"]["ssn"] == card.ssn
    assert response.json()["pin_verified"] is False

    done = clerk.write("POST", path, json={"kind": "temporary"}, session=session_id)
    assert done.status_code == 201, done.text
    assert done.json()["to_state"] == "temporarily_lost"


def test_forged_card_is_refused_and_journaled(card_api: CardApi) -> None:
    card = make_card(card_api.records, 2, masters=random_masters())
    kiosk = card_api.kiosk()
    _terminal, session_id, response = kiosk.present(card, pin=str(card.profile["pin"]))

    problem = assert_problem(response, 403, "forged-card")
    assert "INTERNAL AUTHENTICATE" in problem["detail"]
    with card_api.records.session() as session:
        entries = (
            session.execute(
                select(JournalEntry).where(JournalEntry.card_number == card.card_number)
            )
            .scalars()
            .all()
        )
        assert [(e.event, e.outcome, e.detail["problem"]) for e in entries] == [
            (JournalEvent.CARD_AUTHENTICATION, Outcome.DENIED, "forged-card")
        ]
    # the refused session gives nothing
    refused = kiosk.write("POST", f"/v1/cards/{card.card_number}/pin-change", session=session_id)
    assert_problem(refused, 403, "forbidden")


def test_genuine_card_cannot_claim_another_cards_number(card_api: CardApi) -> None:
    mine = make_card(card_api.records, 2)
    victim = make_card(card_api.records, 2)
    kiosk = card_api.kiosk()
    terminal = mine.terminal()
    assert terminal.select().sw == 0x9000
    claimed = terminal.presentation()

    # the ATR carries the chip serial: another card's identification code does not fit it
    wrong_code = {**claimed, "card_id_code": victim.card_id_code, "card_number": victim.card_number}
    problem = assert_problem(
        kiosk.request("POST", "/v1/card-sessions", json=wrong_code), 422, "invalid-value"
    )
    assert problem["field"] == "atr"

    # its own code with the victim's number: the card answers right, but is not that card
    opened = kiosk.open({**claimed, "card_number": victim.card_number})
    answer = terminal.send(opened["internal_authenticate"])
    assert answer.sw == 0x9000
    refused = kiosk.prove(opened["session_id"], answer=answer.data.hex())
    assert "not the one recorded" in assert_problem(refused, 403, "forged-card")["detail"]


def test_replayed_proof_is_refused(card_api: CardApi) -> None:
    card = make_card(card_api.records, 2)
    kiosk = card_api.kiosk()
    terminal = card.terminal()
    assert terminal.select().sw == 0x9000
    opened = kiosk.open(terminal.presentation())
    answer = terminal.send(opened["internal_authenticate"]).data.hex()

    assert kiosk.prove(opened["session_id"], answer=answer).status_code == 200
    assert_problem(kiosk.prove(opened["session_id"], answer=answer), 409, "card-challenge-used")


def test_a_wrong_answer_burns_the_challenge(card_api: CardApi) -> None:
    card = make_card(card_api.records, 2)
    kiosk = card_api.kiosk()
    terminal = card.terminal()
    assert terminal.select().sw == 0x9000
    opened = kiosk.open(terminal.presentation())
    answer = terminal.send(opened["internal_authenticate"]).data

    wrong = bytes([answer[0] ^ 1]) + answer[1:]
    assert_problem(kiosk.prove(opened["session_id"], answer=wrong.hex()), 403, "forged-card")
    # one answer per challenge: the right answer afterwards is a replay
    assert_problem(
        kiosk.prove(opened["session_id"], answer=answer.hex()), 409, "card-challenge-used"
    )


def test_expired_challenge_is_refused(card_api: CardApi) -> None:
    card = make_card(card_api.records, 2)
    kiosk = card_api.kiosk()
    terminal = card.terminal()
    assert terminal.select().sw == 0x9000
    opened = kiosk.open(terminal.presentation())
    answer = terminal.send(opened["internal_authenticate"]).data.hex()
    with card_api.records.session() as session:
        session.execute(
            update(CardChallenge)
            .where(CardChallenge.id == opened["session_id"])
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    assert_problem(kiosk.prove(opened["session_id"], answer=answer), 410, "card-challenge-expired")


def test_another_callers_session_is_not_found(card_api: CardApi) -> None:
    card = make_card(card_api.records, 2)
    kiosk, other = card_api.kiosk(), card_api.kiosk()
    terminal = card.terminal()
    assert terminal.select().sw == 0x9000
    opened = kiosk.open(terminal.presentation())
    answer = terminal.send(opened["internal_authenticate"]).data.hex()

    assert_problem(other.prove(opened["session_id"], answer=answer), 404, "not-found")
    assert kiosk.prove(opened["session_id"], answer=answer).status_code == 200
    header = {"X-Card-Session": opened["session_id"]}
    stolen = other.request("GET", "/v1/hotlist", headers=header)  # no presence needed here
    assert stolen.status_code == 200
    refused = other.write(
        "POST", f"/v1/cards/{card.card_number}/pin-change", session=opened["session_id"]
    )
    assert assert_problem(refused, 403, "forbidden")["field"] == "X-Card-Session"


def test_unknown_card_is_not_found_at_the_proof(card_api: CardApi) -> None:
    card = make_card(card_api.records, 2, record=False)
    kiosk = card_api.kiosk()
    _terminal, _sid, response = kiosk.present(card)
    assert_problem(response, 404, "not-found")


def test_challenge_issued_by_one_process_is_proved_at_another(pg_card_api: CardApi) -> None:
    card = make_card(pg_card_api.records, 3)
    kiosk = pg_card_api.kiosk()
    terminal = card.terminal()
    assert terminal.select().sw == 0x9000
    opened = kiosk.on(0).open(terminal.presentation())
    answer = terminal.send(opened["internal_authenticate"]).data.hex()

    proved = kiosk.on(1).prove(opened["session_id"], answer=answer)
    assert proved.status_code == 200, proved.text
    assert proved.json()["card"]["generation"] == 3
    replay = kiosk.on(0).prove(opened["session_id"], answer=answer)
    assert_problem(replay, 409, "card-challenge-used")
    # and the verified session works at either process
    for server in (0, 1):
        used = kiosk.on(server).request(
            "GET", "/v1/hotlist", headers={"X-Card-Session": opened["session_id"]}
        )
        assert used.status_code == 200


def test_malformed_openings_name_the_field(card_api: CardApi) -> None:
    card = make_card(card_api.records, 2, record=False)
    kiosk = card_api.kiosk()
    terminal = card.terminal()
    assert terminal.select().sw == 0x9000
    good = terminal.presentation()

    cases = {
        "card_number": {**good, "card_number": good["card_number"][:8] + "Z"},
        "card_id_code": {**good, "card_id_code": "00" * 16},
        "atr": {**good, "atr": "3B00"},
        "spec_version": {**good, "spec_version": "9.00"},
    }
    for name, body in cases.items():
        response = kiosk.request("POST", "/v1/card-sessions", json=body)
        problem = assert_problem(response, 422, "invalid-request")
        assert problem["field"] == name, (name, problem)
    without_algorithm = {k: v for k, v in good.items() if k != "spec_version"}
    problem = assert_problem(
        kiosk.request("POST", "/v1/card-sessions", json=without_algorithm), 422, "invalid-value"
    )
    assert problem["field"] == "algorithm"
    disagreeing = {**good, "algorithm": 3}
    problem = assert_problem(
        kiosk.request("POST", "/v1/card-sessions", json=disagreeing), 422, "invalid-value"
    )
    assert problem["field"] == "algorithm"
    opened = kiosk.open(good)
    bad_answer = kiosk.prove(opened["session_id"], answer="1234")
    assert assert_problem(bad_answer, 422, "invalid-request")["field"] == "answer"


def test_counter_terminal_and_administrator_do_not_present_cards(card_api: CardApi) -> None:
    card = make_card(card_api.records, 2, record=False)
    terminal = card.terminal()
    assert terminal.select().sw == 0x9000
    body = terminal.presentation()
    counter = card_api.kiosk(DeviceKind.COUNTER)
    assert_problem(counter.request("POST", "/v1/card-sessions", json=body), 403, "forbidden")
    admin = card_api.operator(Role.ADMINISTRATOR)
    assert_problem(admin.request("POST", "/v1/card-sessions", json=body), 403, "forbidden")
