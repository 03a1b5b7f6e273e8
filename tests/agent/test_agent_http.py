"""The agent's local HTTP interface over a station (in-process readers) and the real API:
the card, PIN, caller sessions, events, and who may call it."""

from __future__ import annotations

import asyncio
import threading
import time

import httpx
import pytest
from agent_helpers import ORIGIN, agent_rig
from station_helpers import CARD_READER, TerminalApi

from cardsvc.agent import AgentClient
from cardsvc.agent.app import create_agent_app
from cardsvc.client import ApiClient, ApiProblem
from cardsvc.db.models import CardState, DeviceKind, Role

PROBLEM = "application/problem+json"


def _later(seconds: float, action: object) -> threading.Thread:
    def run() -> None:
        time.sleep(seconds)
        action()  # type: ignore[operator]

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_card_insertion_to_removal(terminal_api: TerminalApi) -> None:
    test_card = terminal_api.card(2)
    with agent_rig(terminal_api) as agent:
        client = agent.client
        assert client.card() is None
        response = httpx.get(f"{agent.url}/v1/card")
        assert response.status_code == 404
        assert response.headers["content-type"].startswith(PROBLEM)
        assert response.json()["type"].endswith("/no-card")
        health = client.health()
        assert health == {
            "status": "ok",
            "pcscd": True,
            "readers": [CARD_READER, "SAM reader"],
            "card_reader": CARD_READER,
            "sam_reader": None,
            "api": True,
        }
        _later(0.3, lambda: agent.rig.backend.insert(test_card.card, CARD_READER))
        card = client.wait_for_card(timeout=20)
        assert card["card_number"] == test_card.card_number
        assert card["authenticated_by"] == "key-service"
        assert card["serve"] is True
        assert card == client.card()
        assert client.wait_for_card(timeout=1) == card  # already there
        text = httpx.get(f"{agent.url}/v1/card/reader-string")
        assert text.headers["content-type"] == "text/plain; charset=utf-8"
        assert text.text == client.reader_string()
        assert text.text.split("|")[2] == test_card.card_number
        session_id = agent.rig.station._card.device_session  # type: ignore[union-attr]
        assert session_id is not None
        _later(0.3, lambda: agent.rig.backend.remove(CARD_READER))
        client.wait_for_removal(timeout=20)
        assert client.card() is None
        client.wait_for_removal(timeout=1)  # already out
        deadline = time.monotonic() + 10
        while not terminal_api.session_ended(session_id):
            assert time.monotonic() < deadline
            time.sleep(0.05)


def test_event_stream(terminal_api: TerminalApi) -> None:
    test_card = terminal_api.card(1)
    with agent_rig(terminal_api) as agent:
        backend = agent.rig.backend

        def story() -> None:
            backend.insert(test_card.card, CARD_READER)
            agent.rig.events.wait("card-inserted")
            backend.remove(CARD_READER)

        seen = []
        _later(0.3, story)
        for event in agent.client.events(timeout=20):
            seen.append(event)
            if event.kind == "card-removed":
                break
        kinds = [e.kind for e in seen]
        assert kinds == ["card-inserted", "card-removed"]
        assert seen[0].data["card_number"] == test_card.card_number
        assert seen[1].data == {"reader": CARD_READER}
        # the raw stream: text/event-stream, keep-alive comments
        with httpx.stream("GET", f"{agent.url}/v1/events", params={"ping": "0.2"}) as raw:
            assert raw.headers["content-type"].startswith("text/event-stream")
            lines = []
            for line in raw.iter_lines():
                lines.append(line)
                if line == ": keep-alive":
                    break
        assert ": connected" in lines


def test_pin_verify_wrong_right_blocked(terminal_api: TerminalApi) -> None:
    test_card = terminal_api.card(1)  # PIN 2468, 3 tries
    pin = str(test_card.profile["pin"])
    with agent_rig(terminal_api) as agent:
        client = agent.client
        agent.rig.insert(test_card.card)
        with pytest.raises(ApiProblem) as wrong:
            client.verify_pin("1111")
        assert wrong.value.status == 422
        assert wrong.value.slug == "wrong-pin"
        assert wrong.value.extra["tries_left"] == 2
        client.verify_pin(pin)
        assert client.card()["pin_verified"] is True  # type: ignore[index]
        for _ in range(2):
            with pytest.raises(ApiProblem):
                client.verify_pin("1111")
        with pytest.raises(ApiProblem) as blocked:
            client.verify_pin("1111")
        assert blocked.value.slug == "pin-blocked"
        assert blocked.value.status == 423
        response = httpx.post(f"{agent.url}/v1/card/pin/verify", json={"pin": pin})
        assert response.status_code == 423
        assert pin not in response.text


def test_pin_is_never_echoed(terminal_api: TerminalApi) -> None:
    test_card = terminal_api.card(2)
    with agent_rig(terminal_api) as agent:
        agent.rig.insert(test_card.card)
        for body in ({"pin": "12ab56"}, {"pin": "9"}, {"pin": "123456", "extra": 777}):
            response = httpx.post(f"{agent.url}/v1/card/pin/verify", json=body)
            assert response.status_code == 422
            assert response.headers["content-type"].startswith(PROBLEM)
            assert response.json()["field"] in ("pin", "extra")
            for value in body.values():
                assert str(value) not in response.text
        card = httpx.get(f"{agent.url}/v1/card").text
        assert "123456" not in card
        assert test_card.ssn not in card


def test_pin_change_and_reload(terminal_api: TerminalApi) -> None:
    test_card = terminal_api.card(2)
    clerk = terminal_api.operator(Role.CLERK)
    with agent_rig(terminal_api) as agent, ApiClient(terminal_api.url) as counter:
        counter.login(clerk.username, clerk.password)
        assert counter.token is not None
        agent.rig.insert(test_card.card)
        agent.client.change_pin(str(test_card.profile["pin"]), "112233")
        agent.client.verify_pin("112233")
        response = httpx.post(f"{agent.url}/v1/card/pin/reload", json={"new_pin": "445566"})
        assert response.status_code == 401
        assert response.json()["field"] == "Authorization"
        with pytest.raises(ApiProblem) as unchecked:
            agent.client.reload_pin("445566", counter.token, id_checked=False)
        assert unchecked.value.status == 422
        assert unchecked.value.field == "id_checked"  # relayed from the API
        reloaded = agent.client.reload_pin("445566", counter.token)
        agent.client.verify_pin("445566")
        recorded = counter.request(
            "POST",
            f"/v1/cards/{test_card.card_number}/pin-reload",
            json={"id_checked": True},
            card_session=reloaded["session_id"],
        )
        assert recorded["event"]


def test_caller_session_for_a_clerk_and_a_kiosk(terminal_api: TerminalApi) -> None:
    test_card = terminal_api.card(2)
    clerk = terminal_api.operator(Role.CLERK)
    with agent_rig(terminal_api) as agent, ApiClient(terminal_api.url) as counter:
        counter.login(clerk.username, clerk.password)
        assert counter.token is not None
        agent.rig.insert(test_card.card)
        response = httpx.post(f"{agent.url}/v1/card/session")
        assert response.status_code == 401
        verified = agent.client.open_session(counter.token)
        assert verified["pin_verified"] is False
        person = counter.request(
            "GET", f"/v1/persons/{test_card.ssn}", card_session=verified["session_id"]
        )
        assert person["ssn"] == test_card.ssn
        # a kiosk program (its own device token), after the PIN
        with ApiClient(terminal_api.url) as kiosk:
            device = terminal_api.device(DeviceKind.KIOSK)
            kiosk.device_sign_in(device.id, device.credential)
            assert kiosk.token is not None
            agent.client.verify_pin(str(test_card.profile["pin"]))
            mine = agent.client.open_session(kiosk.token)
            assert mine["pin_verified"] is True
            assert mine["holder"]["ssn"] == test_card.ssn[:6] + "********" + test_card.ssn[-4:]
            with pytest.raises(ApiProblem) as other:  # the clerk's session is not the kiosk's
                kiosk.request(
                    "GET", f"/v1/persons/{test_card.ssn}", card_session=verified["session_id"]
                )
            assert other.value.status == 403
        with pytest.raises(ApiProblem) as bad:
            agent.client.open_session("not-a-token")
        assert bad.value.status == 401  # the API's own problem, relayed


def test_hotlisted_card_is_refused_at_the_agent(terminal_api: TerminalApi) -> None:
    lost = terminal_api.card(2)
    terminal_api.set_state(lost.card_number, CardState.TEMPORARILY_LOST)  # reported just now
    with agent_rig(terminal_api) as agent:
        agent.rig.insert(lost.card)
        card = agent.client.card()
        assert card is not None
        assert card["serve"] is False
        assert card["terminal_action"] == "application-block"
        assert card["application_blocked"] is True
        with pytest.raises(ApiProblem) as refused:
            agent.client.verify_pin("123456")
        assert refused.value.slug == "card-not-served"
        with pytest.raises(ApiProblem):
            agent.client.reader_string()


# --- who may call ----------------------------------------------------------------------


def test_origin_and_cors(terminal_api: TerminalApi) -> None:
    with agent_rig(terminal_api) as agent:
        url = f"{agent.url}/v1/health"
        plain = httpx.get(url)
        assert plain.status_code == 200
        assert "access-control-allow-origin" not in plain.headers
        allowed = httpx.get(url, headers={"Origin": ORIGIN})
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == ORIGIN
        assert allowed.headers["vary"] == "Origin"
        foreign = httpx.get(url, headers={"Origin": "https://evil.example"})
        assert foreign.status_code == 403
        assert foreign.headers["content-type"].startswith(PROBLEM)
        assert foreign.json()["field"] == "Origin"
        assert "access-control-allow-origin" not in foreign.headers
        assert httpx.get(url, headers={"Origin": "null"}).status_code == 403
        preflight = httpx.options(
            f"{agent.url}/v1/card/pin/verify",
            headers={
                "Origin": ORIGIN,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type",
                "Access-Control-Request-Private-Network": "true",
            },
        )
        assert preflight.status_code == 204
        assert preflight.headers["access-control-allow-origin"] == ORIGIN
        assert "POST" in preflight.headers["access-control-allow-methods"]
        assert preflight.headers["access-control-allow-private-network"] == "true"
        evil_preflight = httpx.options(
            f"{agent.url}/v1/card/pin/verify",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
        )
        assert evil_preflight.status_code == 403
        rebinding = httpx.get(url, headers={"Host": "attacker.example:7443"})
        assert rebinding.status_code == 403
        assert rebinding.json()["field"] == "Host"
        assert httpx.get(url, headers={"Host": "localhost:7443"}).status_code == 200


@pytest.mark.parametrize(
    ("address", "status"),
    [("127.0.0.1", 200), ("127.8.9.10", 200), ("::1", 200), ("192.0.2.10", 403), ("10.0.0.5", 403)],
)
def test_non_loopback_clients_are_refused(
    terminal_api: TerminalApi, address: str, status: int
) -> None:
    with agent_rig(terminal_api) as agent:
        app = create_agent_app(agent.rig.station, allowed_origin=ORIGIN)

        async def call() -> httpx.Response:
            transport = httpx.ASGITransport(app=app, client=(address, 50000))
            async with httpx.AsyncClient(
                transport=transport, base_url="http://127.0.0.1:7443"
            ) as client:
                return await client.get("/v1/health")

        response = asyncio.run(call())
        assert response.status_code == status
        if status == 403:
            assert response.headers["content-type"].startswith(PROBLEM)
            assert "loopback" in response.json()["detail"]


def test_unreachable_agent() -> None:
    with (
        AgentClient("http://127.0.0.1:9", timeout=2) as client,
        pytest.raises(ApiProblem) as caught,
    ):
        client.card()
    assert caught.value.unreachable
