"""Card commands from the served API, accepted by simulated cards: APPLICATION BLOCK for a
hotlisted card, APPLICATION UNBLOCK once the loss is cancelled, RELOAD PIN (no PIN in
logs or in the database), EXTERNAL AUTHENTICATE with RKSSSE on generation 3.
"""

from __future__ import annotations

from api_harness import assert_problem
from card_terminal import EF06_TAG_READ, make_card
from cards_harness import CardApi
from sqlalchemy import select

from cardsvc.db.models import Base, Card

NEW_PIN = "864213579024"  # 12 digits: a chance match in random hex is negligible


def _blocked_flag(api: CardApi, card_number: str) -> bool:
    with api.records.session() as session:
        card = session.execute(select(Card).where(Card.card_number == card_number)).scalar_one()
        return card.application_blocked


def test_hotlisted_card_is_blocked_and_unblocked_after_the_loss_is_cancelled(
    card_api: CardApi,
) -> None:
    card = make_card(card_api.records, 2)
    clerk, kiosk = card_api.operator(), card_api.kiosk()
    loss = clerk.write(
        "POST", f"/v1/cards/{card.card_number}/loss-reports", json={"kind": "temporary"}
    )
    assert loss.status_code == 201, loss.text

    # next presentation: the proof says block, and the kiosk gets no holder data
    terminal, session_id, proved = kiosk.present(card, pin=str(card.profile["pin"]))
    assert proved.status_code == 200, proved.text
    decision = proved.json()["terminal"]
    assert (decision["action"], decision["serve"]) == ("application-block", False)
    assert proved.json()["card"]["state"] == "temporarily_lost"
    assert proved.json()["holder"] is None
    # serving is refused inside that session
    refused = kiosk.write("POST", f"/v1/cards/{card.card_number}/pin-change", session=session_id)
    assert_problem(refused, 403, "forbidden")

    challenge = terminal.get_challenge().hex()
    issued = kiosk.command(session_id, action="application-block", card_challenge=challenge)
    assert issued.status_code == 200, issued.text
    assert issued.json()["key_id"] == "07"
    assert issued.json()["application_blocked"] is True
    assert terminal.send(issued.json()["apdu"]).sw == 0x9000
    assert terminal.select().sw == 0x6283
    assert _blocked_flag(card_api, card.card_number) is True

    # the loss is cancelled at a counter
    cancelled = clerk.write(
        "DELETE", f"/v1/cards/{card.card_number}/loss-reports", params={"id_checked": "true"}
    )
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["to_state"] == "active"

    # next presentation: SELECT says 6283; the blocked card is offered APPLICATION UNBLOCK
    terminal = card.terminal()
    assert terminal.select().sw == 0x6283
    opened = kiosk.open(terminal.presentation(blocked=True))
    blocked_card = opened["blocked_card"]
    assert (blocked_card["action"], blocked_card["serve"]) == ("application-unblock", True)
    challenge = terminal.get_challenge().hex()
    issued = kiosk.command(
        opened["session_id"], action="application-unblock", card_challenge=challenge
    )
    assert issued.status_code == 200, issued.text
    assert terminal.send(issued.json()["apdu"]).sw == 0x9000
    assert _blocked_flag(card_api, card.card_number) is False

    # and the card is served again
    _terminal, _sid, proved = kiosk.present(terminal, pin=str(card.profile["pin"]))
    assert proved.status_code == 200, proved.text
    assert proved.json()["terminal"]["action"] == "none"
    assert proved.json()["terminal"]["serve"] is True


def test_a_blocked_hotlisted_card_gets_nothing(card_api: CardApi) -> None:
    card = make_card(card_api.records, 2)
    clerk, kiosk = card_api.operator(), card_api.kiosk()
    path = f"/v1/cards/{card.card_number}/loss-reports"
    assert clerk.write("POST", path, json={"kind": "temporary"}).status_code == 201
    terminal, session_id, _proved = kiosk.present(card)
    block = kiosk.command(
        session_id, action="application-block", card_challenge=terminal.get_challenge().hex()
    )
    assert terminal.send(block.json()["apdu"]).sw == 0x9000

    terminal = card.terminal()
    assert terminal.select().sw == 0x6283
    opened = kiosk.open(terminal.presentation(blocked=True))
    assert opened["blocked_card"]["action"] == "none"
    assert opened["blocked_card"]["serve"] is False
    refused = kiosk.command(
        opened["session_id"],
        action="application-unblock",
        card_challenge=terminal.get_challenge().hex(),
    )
    assert assert_problem(refused, 409, "conflict")["current"] == "temporarily_lost"


def test_commands_that_do_not_fit_the_card_are_refused(card_api: CardApi) -> None:
    card = make_card(card_api.records, 2)
    kiosk = card_api.kiosk()
    terminal, session_id, proved = kiosk.present(card)
    assert proved.status_code == 200
    challenge = terminal.get_challenge().hex()
    # an active card is never blocked
    block = kiosk.command(session_id, action="application-block", card_challenge=challenge)
    assert assert_problem(block, 409, "conflict")["current"] == "active"
    # RKSSSE is for generation 3 only
    rk = kiosk.command(session_id, action="external-auth-rkssse", card_challenge=challenge)
    assert assert_problem(rk, 422, "invalid-value")["field"] == "action"
    # a kiosk never reloads a PIN
    reload = kiosk.command(
        session_id, action="reload-pin", card_challenge=challenge, new_pin="1234", id_checked=True
    )
    assert_problem(reload, 403, "forbidden")
    # an unproved session gets no commands but the unblock of a blocked card
    assert terminal.select().sw == 0x9000
    opened = kiosk.open(terminal.presentation())
    early = kiosk.command(
        opened["session_id"], action="application-block", card_challenge=challenge
    )
    assert assert_problem(early, 409, "conflict")["current"] == "unverified"
    # after card out, nothing
    assert kiosk.request("DELETE", f"/v1/card-sessions/{session_id}").status_code == 204
    late = kiosk.command(session_id, action="application-unblock", card_challenge=challenge)
    assert_problem(late, 410, "card-session-expired")


def test_reload_pin_command_is_accepted_by_the_card_and_no_pin_is_kept(card_api: CardApi) -> None:
    card = make_card(card_api.records, 2)
    terminal = card.terminal()
    assert terminal.select().sw == 0x9000
    for _ in range(int(card.profile["pin_tries"])):
        terminal.verify_pin("000000")
    assert terminal.verify_pin(str(card.profile["pin"])) == 0x6983  # blocked

    clerk = card_api.operator()
    terminal, session_id, proved = clerk.present(terminal)
    assert proved.status_code == 200, proved.text
    challenge = terminal.get_challenge().hex()
    refused = clerk.command(
        session_id, action="reload-pin", card_challenge=challenge, new_pin=NEW_PIN
    )
    assert assert_problem(refused, 422, "invalid-value")["field"] == "id_checked"
    malformed = clerk.command(
        session_id, action="reload-pin", card_challenge=challenge, new_pin="12ab", id_checked=True
    )
    problem = assert_problem(malformed, 422, "invalid-request")
    assert problem["field"] == "new_pin"
    assert "12ab" not in malformed.text

    issued = clerk.command(
        session_id, action="reload-pin", card_challenge=challenge, new_pin=NEW_PIN, id_checked=True
    )
    assert issued.status_code == 200, issued.text
    apdu = issued.json()["apdu"]
    assert apdu.startswith("84240000")
    assert issued.json()["key_id"] == "06"
    assert terminal.send(apdu).sw == 0x9000
    assert terminal.verify_pin(NEW_PIN) == 0x9000

    recorded = clerk.write(
        "POST",
        f"/v1/cards/{card.card_number}/pin-reload",
        json={"id_checked": True},
        session=session_id,
    )
    assert recorded.status_code == 200, recorded.text
    assert recorded.json()["event"] == "reloaded"

    # neither the PIN nor the command carrying it (encrypted) is in a log or the database
    logs = card_api.logs()
    assert NEW_PIN not in logs
    assert apdu not in logs.upper()
    dump = _database_text(card_api)
    assert NEW_PIN not in dump
    assert apdu[10:-8] not in dump.upper()  # the encrypted PIN block


def _database_text(api: CardApi) -> str:
    parts: list[str] = []
    with api.records.engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            for row in conn.execute(table.select()):
                for value in row:
                    if isinstance(value, bytes | memoryview):
                        raw = bytes(value)
                        parts.extend((raw.decode("latin-1"), raw.hex()))
                    else:
                        parts.append(str(value))
    return "\n".join(parts)


def test_gen3_rkssse_from_the_api_opens_ef06(card_api: CardApi) -> None:
    card = make_card(card_api.records, 3)
    kiosk = card_api.kiosk()
    terminal = card.terminal()
    assert terminal.select().sw == 0x9000
    before = terminal.send(bytes((0x00, 0xB2, 0x08, EF06_TAG_READ, 20)))
    assert before.sw == 0x6982  # generation 3: EF06 needs RKSSSE

    terminal, _sid, proved = kiosk.present(
        terminal, pin=str(card.profile["pin"]), gen3_challenge=True
    )
    assert proved.status_code == 200, proved.text
    external = proved.json()["external_authenticate"]
    assert external["key_id"] == "0A"
    assert external["apdu"].startswith("0082000A10")
    assert terminal.send(external["apdu"]).sw == 0x9000
    assert terminal.read_tag(EF06_TAG_READ, 0x08, 18).decode("ascii") == card.ssn

    # later in the session (after a reset, say) the command is served again
    session_id = proved.json()["session_id"]
    terminal.card.reset()
    assert terminal.select().sw == 0x9000
    again = kiosk.command(
        session_id, action="external-auth-rkssse", card_challenge=terminal.get_challenge().hex()
    )
    assert again.status_code == 200, again.text
    assert terminal.send(again.json()["apdu"]).sw == 0x9000
    assert terminal.read_tag(EF06_TAG_READ, 0x08, 18).decode("ascii") == card.ssn
