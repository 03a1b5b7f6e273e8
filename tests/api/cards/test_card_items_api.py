"""Card items C01-C08 and the hotlist over the served API: idempotent loss reports
(sequential and concurrent duplicates), 409 naming the card's state, roles, the
incremental hotlist.
"""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
from api_harness import assert_problem
from card_terminal import make_card
from cards_harness import Caller, CardApi
from sqlalchemy import func, select

from cardsvc.db.models import (
    CancellationReason,
    Card,
    CardState,
    ItemCode,
    JournalEntry,
    Outcome,
    Role,
)
from cardsvc.idcheck import card_number_check_char

CONCURRENT = 6


def _ok_entries(api: CardApi, card_number: str, item: ItemCode) -> int:
    with api.records.session() as session:
        count = session.execute(
            select(func.count())
            .select_from(JournalEntry)
            .where(
                JournalEntry.card_number == card_number,
                JournalEntry.item == item,
                JournalEntry.outcome == Outcome.OK,
            )
        ).scalar_one()
        return int(count)


def _state(api: CardApi, card_number: str) -> CardState:
    with api.records.session() as session:
        return session.execute(
            select(Card.state).where(Card.card_number == card_number)
        ).scalar_one()


def test_sequential_duplicate_loss_report_is_one_effect(card_api: CardApi) -> None:
    card = make_card(card_api.records, 2)
    clerk = card_api.operator()
    path = f"/v1/cards/{card.card_number}/loss-reports"
    key = uuid.uuid4().hex
    first = clerk.write("POST", path, json={"kind": "temporary"}, key=key)
    second = clerk.write("POST", path, json={"kind": "temporary"}, key=key)

    assert first.status_code == second.status_code == 201
    assert first.content == second.content
    assert second.headers.get("idempotent-replayed") == "true"
    assert _ok_entries(card_api, card.card_number, ItemCode.C01) == 1
    assert _state(card_api, card.card_number) is CardState.TEMPORARILY_LOST
    # the same key with another body is refused; a new key meets the new state
    other = clerk.write("POST", path, json={"kind": "formal", "id_checked": True}, key=key)
    assert_problem(other, 422, "idempotency-key-reused")
    again = clerk.write("POST", path, json={"kind": "temporary"})
    assert assert_problem(again, 409, "conflict")["current"] == "temporarily_lost"


def _until_done(caller: Caller, path: str, key: str) -> httpx.Response:
    deadline = time.monotonic() + 30
    while True:
        response = caller.write("POST", path, json={"kind": "formal", "id_checked": True}, key=key)
        if response.status_code != 409 or time.monotonic() > deadline:
            return response
        time.sleep(0.05)  # the first request is still running: retry for its answer


def test_concurrent_duplicate_loss_reports_are_one_effect(card_api: CardApi) -> None:
    card = make_card(card_api.records, 2)
    clerk = card_api.operator()
    path = f"/v1/cards/{card.card_number}/loss-reports"
    key = uuid.uuid4().hex
    servers = len(card_api.servers)
    with ThreadPoolExecutor(max_workers=CONCURRENT) as pool:
        futures = [
            pool.submit(_until_done, clerk.on(i % servers), path, key) for i in range(CONCURRENT)
        ]
        responses = [f.result(timeout=60) for f in futures]

    assert {r.status_code for r in responses} == {201}, [r.text for r in responses]
    assert len({r.content for r in responses}) == 1
    assert responses[0].json()["to_state"] == "lost"
    assert _ok_entries(card_api, card.card_number, ItemCode.C02) == 1
    assert _state(card_api, card.card_number) is CardState.LOST


def test_illegal_transitions_name_the_current_state(card_api: CardApi) -> None:
    card = make_card(card_api.records, 2)
    clerk = card_api.operator()
    base = f"/v1/cards/{card.card_number}"
    cancel = clerk.write("DELETE", f"{base}/loss-reports", params={"id_checked": "true"})
    assert assert_problem(cancel, 409, "conflict")["current"] == "active"
    activate = clerk.write("POST", f"{base}/activation")
    assert assert_problem(activate, 409, "conflict")["current"] == "active"
    no_check = clerk.write("POST", f"{base}/loss-reports", json={"kind": "formal"})
    assert assert_problem(no_check, 422, "invalid-value")["field"] == "id_checked"
    bad_kind = clerk.write("POST", f"{base}/loss-reports", json={"kind": "stolen"})
    assert assert_problem(bad_kind, 422, "invalid-request")["field"] == "kind"
    bad_number = clerk.write("POST", "/v1/cards/A0000001Z/activation")
    assert assert_problem(bad_number, 422)["field"] == "card_number"
    missing_key = clerk.request("POST", f"{base}/activation")
    assert assert_problem(missing_key, 422, "invalid-request")["field"] == "Idempotency-Key"
    nobody = "ZZZZZZZZ" + card_number_check_char("ZZZZZZZZ")
    assert_problem(clerk.write("POST", f"/v1/cards/{nobody}/activation"), 404, "not-found")
    wrong_check = "ZZZZZZZZ" + ("1" if nobody[8] != "1" else "2")
    assert (
        assert_problem(clerk.write("POST", f"/v1/cards/{wrong_check}/activation"), 422)["field"]
        == "card_number"
    )


def test_replacement_and_supervisor_cancellation(card_api: CardApi) -> None:
    card = make_card(card_api.records, 2)
    clerk, supervisor = card_api.operator(), card_api.operator(Role.SUPERVISOR)
    base = f"/v1/cards/{card.card_number}"
    lost = clerk.write("POST", f"{base}/loss-reports", json={"kind": "formal", "id_checked": True})
    assert lost.status_code == 201, lost.text

    body8 = uuid.uuid4().hex[:8].upper()
    new_number = body8 + card_number_check_char(body8)
    new_code = uuid.uuid4().hex.upper()
    replaced = clerk.write(
        "POST",
        f"{base}/replacement",
        json={"new_card_number": new_number, "new_card_id_code": new_code, "id_checked": True},
    )
    assert replaced.status_code == 201, replaced.text
    assert replaced.json()["old"]["to_state"] == "replaced"
    assert replaced.json()["old"]["cancellation_reason"] is None
    assert replaced.json()["new_card_state"] == "issued"

    new_base = f"/v1/cards/{new_number}"
    assert clerk.write("POST", f"{new_base}/activation").json()["to_state"] == "active"
    reason = {"reason": "emigration"}
    assert_problem(clerk.write("POST", f"{new_base}/cancellation", json=reason), 403, "forbidden")
    cancelled = supervisor.write("POST", f"{new_base}/cancellation", json=reason)
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["to_state"] == "cancelled"
    assert cancelled.json()["on_hotlist"] is True
    assert cancelled.json()["cancellation_reason"] == "emigration"
    with card_api.records.session() as session:
        stored = session.execute(
            select(Card.cancellation_reason).where(Card.card_number == new_number)
        ).scalar_one()
    assert stored is CancellationReason.EMIGRATION


def test_kiosk_only_does_kiosk_items_for_its_card(card_api: CardApi) -> None:
    card, other = make_card(card_api.records, 2), make_card(card_api.records, 2)
    kiosk = card_api.kiosk()
    _terminal, session_id, proved = kiosk.present(card, pin=str(card.profile["pin"]))
    assert proved.status_code == 200
    loss = kiosk.write(
        "POST",
        f"/v1/cards/{card.card_number}/loss-reports",
        json={"kind": "temporary"},
        session=session_id,
    )
    assert_problem(loss, 403, "forbidden")  # C01 is a counter item
    elsewhere = kiosk.write("POST", f"/v1/cards/{other.card_number}/pin-change", session=session_id)
    assert_problem(elsewhere, 403, "forbidden")  # not the card in the kiosk

    # without the PIN, a kiosk session serves nothing
    _terminal, no_pin, proved = kiosk.present(card)
    assert proved.json()["pin_verified"] is False
    refused = kiosk.write("POST", f"/v1/cards/{card.card_number}/pin-change", session=no_pin)
    assert_problem(refused, 403, "forbidden")


def test_hotlist_is_incremental(card_api: CardApi) -> None:
    card = make_card(card_api.records, 2)
    clerk, terminal_device = card_api.operator(), card_api.kiosk()
    first = terminal_device.request("GET", "/v1/hotlist")
    assert first.status_code == 200, first.text
    since = first.json()["next_since"]
    assert card.card_number not in {e["card_number"] for e in first.json()["entries"]}
    for number in ("0.5", "1700000000"):  # not read as a Unix time: RFC 3339 only
        refused = terminal_device.request("GET", "/v1/hotlist", params={"since": number})
        problem = assert_problem(refused, 422, "invalid-request")
        assert "since" in str(problem["errors"])

    path = f"/v1/cards/{card.card_number}/loss-reports"
    assert clerk.write("POST", path, json={"kind": "temporary"}).status_code == 201
    changed = terminal_device.request("GET", "/v1/hotlist", params={"since": since})
    assert changed.status_code == 200, changed.text
    entries = {e["card_number"]: e for e in changed.json()["entries"]}
    assert entries[card.card_number]["on_hotlist"] is True
    assert entries[card.card_number]["state"] == "temporarily_lost"
    full = terminal_device.request("GET", "/v1/hotlist")
    assert card.card_number in {e["card_number"] for e in full.json()["entries"]}

    since = changed.json()["next_since"]
    cancel = clerk.write("DELETE", path, params={"id_checked": "true"})
    assert cancel.status_code == 200, cancel.text
    later = terminal_device.request("GET", "/v1/hotlist", params={"since": since})
    entries = {e["card_number"]: e for e in later.json()["entries"]}
    assert entries[card.card_number]["on_hotlist"] is False

    naive = terminal_device.request("GET", "/v1/hotlist", params={"since": "2025-01-01T00:00:00"})
    assert assert_problem(naive, 422)["field"] == "since"
    ancient = terminal_device.request(
        "GET", "/v1/hotlist", params={"since": "0001-01-01T00:00:00+05:00"}
    )
    assert assert_problem(ancient, 422, "invalid-value")["field"] == "since"
    admin = card_api.operator(Role.ADMINISTRATOR)
    assert_problem(admin.request("GET", "/v1/hotlist"), 403, "forbidden")
