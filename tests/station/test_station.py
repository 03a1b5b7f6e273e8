"""The station core on the in-process backend against the real served API: the card's
presentation (key service and PSAM), the hotlist decisions, PIN, caller sessions,
removal, reader unplug/replug, an unreachable API."""

from __future__ import annotations

import socket

import pytest
from card_terminal import SimTerminal, make_card
from station_helpers import CARD_READER, SAM_READER, TerminalApi, station_rig, wait_until

from cardsvc.client import ApiClient, ApiProblem
from cardsvc.db.models import CardState, DeviceKind, Role
from cardsvc.station import CardNotServed, NoCardPresent, PinBlockedError, WrongPin
from simulators.psam import Psam


def _masked(ssn: str) -> str:
    return ssn[:6] + "********" + ssn[-4:]


@pytest.mark.parametrize("generation", [1, 2, 3])
def test_key_service_path(terminal_api: TerminalApi, generation: int) -> None:
    test_card = terminal_api.card(generation)
    with station_rig(terminal_api) as rig:
        event = rig.insert(test_card.card)
        card = event.data
        assert card == rig.card()
        assert card["card_number"] == test_card.card_number
        assert card["generation"] == generation
        assert card["algorithm"] == ("SM4" if generation == 3 else "3DES")
        assert card["authenticated_by"] == "key-service"
        assert card["serve"] is True
        assert card["terminal_action"] == "none"
        assert card["state"] == "active"
        assert card["on_hotlist"] is False
        assert card["pin_verified"] is False
        assert card["holder"]["ssn"] == _masked(test_card.ssn)
        assert card["basic"]["ssn"] == _masked(test_card.ssn)
        assert card["basic"]["name"].startswith(test_card.profile["name"])
        assert test_card.ssn not in str(card)
        session_id = rig.station._card.device_session  # type: ignore[union-attr]
        assert session_id is not None
        assert not terminal_api.session_ended(session_id)
        text = rig.station.reader_string()
        fields = text.split("|")
        assert fields[1] == test_card.ssn
        assert fields[2] == test_card.card_number
        assert fields[9] == ""  # no PSAM: no terminal number
        assert fields[10] == "TEST-BOX-1"
        assert rig.remove().data == {"reader": CARD_READER}
        assert rig.station.card() is None
        wait_until(lambda: terminal_api.session_ended(session_id))


@pytest.mark.parametrize("generation", [2, 3])
def test_psam_path(terminal_api: TerminalApi, generation: int) -> None:
    test_card = terminal_api.card(generation)
    with station_rig(terminal_api, psam=True) as rig:
        assert rig.station.health(probe_api=False)["sam_reader"] == SAM_READER
        card = rig.insert(test_card.card).data
        assert card["authenticated_by"] == "psam"
        assert card["serve"] is True
        assert card["holder"]["name"].startswith(test_card.profile["name"])
        fields = rig.station.reader_string().split("|")
        assert fields[9] == "370400000001"  # the PSAM's terminal number
        assert fields[4].startswith(test_card.profile["name"])


def test_a_named_card_reader_alone_does_not_take_a_psam_elsewhere(
    terminal_api: TerminalApi,
) -> None:
    """On a shared pcscd: an agent given its card reader opens no other reader."""
    test_card = terminal_api.card(2)
    with station_rig(terminal_api, psam=True, reader=CARD_READER) as rig:
        assert rig.station.health(probe_api=False)["sam_reader"] is None
        card = rig.insert(test_card.card).data
        assert card["authenticated_by"] == "key-service"
        assert card["serve"] is True
        # the PSAM is left to its own station: the station holds no connection to it
        sam = next(i for i in rig.backend.readers() if i.name == SAM_READER)
        assert sam.card_present
        assert not sam.in_use


def test_a_named_sam_reader_is_used_with_a_named_card_reader(terminal_api: TerminalApi) -> None:
    test_card = terminal_api.card(3)
    with station_rig(terminal_api, psam=True, reader=CARD_READER, sam_reader=SAM_READER) as rig:
        assert rig.station.health(probe_api=False)["sam_reader"] == SAM_READER
        assert rig.insert(test_card.card).data["authenticated_by"] == "psam"


def test_no_sam_never_looks_for_a_psam(terminal_api: TerminalApi) -> None:
    test_card = terminal_api.card(2)
    with station_rig(terminal_api, no_sam=True) as rig:
        assert rig.insert(test_card.card).data["authenticated_by"] == "key-service"
        rig.remove()
        # a PSAM put into a reader is just a card that is not a social security card
        rig.backend.insert(Psam.demo(), SAM_READER)
        rig.events.wait("card-error")
        assert rig.station.health(probe_api=False)["sam_reader"] is None
        rig.backend.remove(SAM_READER)
        rig.events.wait("card-removed")
        card = rig.insert(test_card.card).data
        assert card["authenticated_by"] == "key-service"
        assert card["serve"] is True
        assert rig.station.health(probe_api=False)["sam_reader"] is None


def test_a_forged_card_is_refused(terminal_api: TerminalApi) -> None:
    forged = terminal_api.forged_card(2)
    with station_rig(terminal_api) as rig:
        rig.backend.insert(forged.card, CARD_READER)
        error = rig.events.wait("card-error").data
        assert error["code"] == "forged-card"
        card = rig.events.wait("card-inserted").data
        assert card["serve"] is False
        assert card["authenticated_by"] is None
        assert card["holder"] is None
        with pytest.raises(CardNotServed):
            rig.station.verify_pin("123456")


def test_an_unrecorded_card_is_not_served(terminal_api: TerminalApi) -> None:
    stranger = make_card(terminal_api.records, 2, record=False)
    with station_rig(terminal_api) as rig:
        rig.backend.insert(stranger.card, CARD_READER)
        assert rig.events.wait("card-error").data["code"] == "unknown-card"
        card = rig.events.wait("card-inserted").data
        assert card["serve"] is False
        assert card["error"]["code"] == "unknown-card"


def test_a_forged_card_is_refused_by_the_psam(terminal_api: TerminalApi) -> None:
    forged = terminal_api.forged_card(2)
    with station_rig(terminal_api, psam=True) as rig:
        rig.backend.insert(forged.card, CARD_READER)
        assert rig.events.wait("card-error").data["code"] == "forged-card"


def test_hotlisted_card_gets_application_block(terminal_api: TerminalApi) -> None:
    lost = terminal_api.card(2, state=CardState.LOST)
    with station_rig(terminal_api) as rig:
        card = rig.insert(lost.card).data
        assert card["serve"] is False
        assert card["on_hotlist"] is True
        assert card["terminal_action"] == "application-block"
        assert card["application_blocked"] is True
        assert card["holder"] is None
        assert "ssn" not in card["basic"]
        with pytest.raises(CardNotServed):
            rig.station.verify_pin("123456")
        with pytest.raises(CardNotServed):
            rig.station.reader_string()
        rig.remove()
    assert SimTerminal(lost.card).select().sw == 0x6283  # blocked on the card itself
    assert terminal_api.card_row(lost.card_number).application_blocked is True


def test_a_card_unlost_while_blocked_gets_unblocked(terminal_api: TerminalApi) -> None:
    test_card = terminal_api.card(2, state=CardState.LOST)
    with station_rig(terminal_api) as rig:
        assert rig.insert(test_card.card).data["application_blocked"] is True
        rig.remove()
        terminal_api.set_state(test_card.card_number, CardState.ACTIVE)  # loss cancelled
        card = rig.insert(test_card.card).data
        assert card["terminal_action"] == "application-unblock"
        assert card["application_blocked"] is False
        assert card["serve"] is True
        assert card["authenticated_by"] == "key-service"
        assert card["holder"]["ssn"] == _masked(test_card.ssn)
        # a blocked card that stays hotlisted is refused again without a command
        rig.remove()
        terminal_api.set_state(test_card.card_number, CardState.LOST)
        assert rig.insert(test_card.card).data["application_blocked"] is True
        rig.remove()
        card = rig.insert(test_card.card).data
        assert card["application_blocked"] is True
        assert card["serve"] is False
        assert card["terminal_action"] == "none"
    assert SimTerminal(test_card.card).select().sw == 0x6283


def test_pin_verify_wrong_then_right_then_blocked(terminal_api: TerminalApi) -> None:
    test_card = terminal_api.card(1)  # PIN 2468, 3 tries
    pin, tries = str(test_card.profile["pin"]), int(test_card.profile["pin_tries"])
    with station_rig(terminal_api) as rig:
        rig.insert(test_card.card)
        with pytest.raises(WrongPin) as wrong:
            rig.station.verify_pin("0000")
        assert wrong.value.tries_left == tries - 1
        rig.station.verify_pin(pin)
        assert rig.card()["pin_verified"] is True
        for left in range(tries - 1, 0, -1):
            with pytest.raises(WrongPin) as wrong:
                rig.station.verify_pin("9999")
            assert wrong.value.tries_left == left
        with pytest.raises(PinBlockedError):
            rig.station.verify_pin("9999")
        with pytest.raises(PinBlockedError):
            rig.station.verify_pin(pin)  # blocked: even the right PIN


def test_pin_change(terminal_api: TerminalApi) -> None:
    test_card = terminal_api.card(2)
    with station_rig(terminal_api) as rig:
        rig.insert(test_card.card)
        with pytest.raises(WrongPin):
            rig.station.change_pin("111111", "654321")
        rig.station.change_pin(str(test_card.profile["pin"]), "654321")
        rig.station.verify_pin("654321")


def test_caller_session_is_usable_at_the_api_and_ends_with_the_card(
    terminal_api: TerminalApi,
) -> None:
    test_card = terminal_api.card(2)
    clerk = terminal_api.operator(Role.CLERK)
    with station_rig(terminal_api) as rig, ApiClient(terminal_api.url) as counter:
        counter.login(clerk.username, clerk.password)
        assert counter.token is not None
        rig.insert(test_card.card)
        rig.station.verify_pin(str(test_card.profile["pin"]))
        verified = rig.station.open_session(counter.token)
        assert verified["pin_verified"] is True
        assert verified["holder"]["ssn"] == test_card.ssn  # the operator's own answer
        session_id = verified["session_id"]
        person = counter.request("GET", f"/v1/persons/{test_card.ssn}", card_session=session_id)
        assert person["ssn"] == test_card.ssn
        rig.remove()
        wait_until(lambda: terminal_api.session_ended(session_id))
        with pytest.raises(ApiProblem) as caught:
            counter.request("GET", f"/v1/persons/{test_card.ssn}", card_session=session_id)
        assert caught.value.status == 403
        assert caught.value.field == "X-Card-Session"
        with pytest.raises(NoCardPresent):
            rig.station.open_session(counter.token)


def test_reload_pin_with_the_clerks_token(terminal_api: TerminalApi) -> None:
    test_card = terminal_api.card(2)
    clerk = terminal_api.operator(Role.CLERK)
    with station_rig(terminal_api) as rig, ApiClient(terminal_api.url) as counter:
        counter.login(clerk.username, clerk.password)
        assert counter.token is not None
        rig.insert(test_card.card)
        for _ in range(int(test_card.profile["pin_tries"])):
            with pytest.raises((WrongPin, PinBlockedError)):
                rig.station.verify_pin("999999")
        reloaded = rig.station.reload_pin("246810", counter.token, id_checked=True)
        assert reloaded["reloaded"] is True
        rig.station.verify_pin("246810")
        counter.request(
            "POST",
            f"/v1/cards/{test_card.card_number}/pin-reload",
            json={"id_checked": True},
            card_session=reloaded["session_id"],
        )


def test_counter_terminal_with_a_psam_uses_the_hotlist(terminal_api: TerminalApi) -> None:
    fine = terminal_api.card(2)
    lost = terminal_api.card(2, state=CardState.LOST)
    with station_rig(terminal_api, kind=DeviceKind.COUNTER, psam=True) as rig:
        card = rig.insert(fine.card).data
        assert card["authenticated_by"] == "psam"
        assert card["serve"] is True
        rig.remove()
        card = rig.insert(lost.card).data
        assert card["serve"] is False
        assert card["application_blocked"] is True
        assert card["terminal_action"] == "application-block"
        rig.remove()
        terminal_api.set_state(lost.card_number, CardState.ACTIVE)
        card = rig.insert(lost.card).data
        assert card["application_blocked"] is False
        assert card["terminal_action"] == "application-unblock"
        assert card["serve"] is True


def test_counter_terminal_without_psam_waits_for_the_clerk(terminal_api: TerminalApi) -> None:
    lost = terminal_api.card(2, state=CardState.LOST)
    clerk = terminal_api.operator(Role.CLERK)
    with (
        station_rig(terminal_api, kind=DeviceKind.COUNTER) as rig,
        ApiClient(terminal_api.url) as counter,
    ):
        counter.login(clerk.username, clerk.password)
        assert counter.token is not None
        card = rig.insert(lost.card).data
        assert card["authenticated_by"] is None
        assert card["serve"] is False
        assert card["application_blocked"] is False  # no PSAM, no session: not yet
        verified = rig.station.open_session(counter.token)
        assert verified["terminal"]["action"] == "application-block"
        card = rig.card()
        assert card["application_blocked"] is True
        assert card["authenticated_by"] == "key-service"
        assert card["serve"] is False
    assert SimTerminal(lost.card).select().sw == 0x6283


def test_reader_unplug_and_replug(terminal_api: TerminalApi) -> None:
    test_card = terminal_api.card(2)
    with station_rig(terminal_api, reader=CARD_READER) as rig:
        rig.insert(test_card.card)
        assert rig.station.health()["status"] == "ok"
        rig.backend.remove_reader(CARD_READER)
        rig.events.wait("card-removed")
        rig.events.wait("reader-removed")
        health = rig.station.health()
        assert health["status"] == "degraded"
        assert health["card_reader"] is None
        assert health["readers"] == [SAM_READER]
        assert rig.station.card() is None
        rig.backend.add_reader(CARD_READER)
        rig.events.wait("reader-added")
        assert rig.insert(test_card.card).data["serve"] is True
        health = rig.station.health()
        assert health["status"] == "ok"
        assert health["card_reader"] == CARD_READER


def test_a_card_in_another_reader_is_ignored(terminal_api: TerminalApi) -> None:
    test_card = terminal_api.card(2)
    with station_rig(terminal_api, reader=CARD_READER) as rig:
        rig.backend.insert(test_card.card, SAM_READER)  # not a PSAM, not the card reader
        rig.backend.remove(SAM_READER)
        rig.insert(test_card.card)  # the first card event is the card reader's
        card_events = [e.kind for e in rig.events.seen if e.kind.startswith("card-")]
        assert card_events == ["card-inserted"]
        assert rig.card()["reader"] == CARD_READER


def test_unreachable_api(terminal_api: TerminalApi) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    test_card = terminal_api.card(2)
    with station_rig(terminal_api, api_url=f"http://127.0.0.1:{port}") as rig:
        rig.backend.insert(test_card.card, CARD_READER)
        error = rig.events.wait("card-error").data
        assert error["code"] == "api-unavailable"
        card = rig.events.wait("card-inserted").data
        assert card["serve"] is False
        health = rig.station.health()
        assert health["api"] is False
        assert health["status"] == "degraded"
