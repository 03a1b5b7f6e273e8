"""ApiClient against the real served API: sign-in, problems, idempotency, the card-session
flow, transport failures."""

from __future__ import annotations

import socket
import uuid
from typing import Any

import httpx
import pytest
from card_terminal import SimTerminal
from client_harness import TerminalApi

from cardsvc.client import ApiClient, ApiProblem
from cardsvc.db.models import CardState, DeviceKind, Role


def _present(client: ApiClient, terminal: SimTerminal, pin: str | None = None) -> dict[str, Any]:
    """The terminal's card presentation through the client: open, (VERIFY), answer, prove."""
    assert terminal.select().sw == 0x9000
    opened = client.open_card_session(terminal.presentation(blocked=False))
    pin_ok = pin is not None and terminal.verify_pin(pin) == 0x9000
    answer = terminal.send(opened["internal_authenticate"])
    assert answer.sw == 0x9000
    return client.prove_card_session(opened["session_id"], answer.data, pin_verified=pin_ok)


# --- signing in ------------------------------------------------------------------------


def test_operator_login_me_and_logout(terminal_api: TerminalApi) -> None:
    who = terminal_api.operator(Role.CLERK)
    with ApiClient(terminal_api.url) as client:
        assert client.token is None
        client.login(who.username, who.password)
        token = client.token
        assert token
        assert client.identity is not None
        assert client.identity["username"] == who.username
        me = client.me()
        assert me["kind"] == "operator"
        assert me["id"] == who.id
        client.logout()
        assert client.token is None
        client.logout()  # signed out already: nothing to do
    with ApiClient(terminal_api.url) as stale:
        stale.use_token(token)
        with pytest.raises(ApiProblem) as caught:
            stale.me()
    assert caught.value.status == 401
    assert caught.value.slug == "invalid-token"


def test_wrong_password_is_a_problem_not_a_traceback(terminal_api: TerminalApi) -> None:
    who = terminal_api.operator()
    with ApiClient(terminal_api.url) as client, pytest.raises(ApiProblem) as caught:
        client.login(who.username, "not-the-password")
    problem = caught.value
    assert problem.status == 401
    assert problem.slug == "invalid-credentials"
    assert problem.type == "https://cardsvc.invalid/problems/invalid-credentials"
    assert problem.extra["request_id"]
    assert "not-the-password" not in str(problem)
    assert client.token is None


def test_device_sign_in_by_id(terminal_api: TerminalApi) -> None:
    device = terminal_api.device(DeviceKind.KIOSK)
    with ApiClient(terminal_api.url) as client:
        client.device_sign_in(str(device.id), device.credential)
        assert client.identity is not None
        assert client.identity["kind"] == "kiosk"
        assert client.me()["kind"] == "device"


def test_device_name_is_refused_with_the_field_named(terminal_api: TerminalApi) -> None:
    with ApiClient(terminal_api.url) as client, pytest.raises(ApiProblem) as caught:
        client.device_sign_in("kiosk.370402", "whatever")
    assert caught.value.field == "device"
    assert caught.value.slug == "invalid-argument"


def test_an_expired_device_token_is_renewed_once(terminal_api: TerminalApi) -> None:
    device = terminal_api.device(DeviceKind.KIOSK)
    with ApiClient(terminal_api.url) as client:
        client.device_sign_in(device.id, device.credential)
        first = client.token
        with ApiClient(terminal_api.url) as other:  # revoke the token behind its back
            other.use_token(first)
            other.logout()
        assert client.hotlist()["entries"] is not None
        assert client.token not in (None, first)


# --- problems --------------------------------------------------------------------------


def test_validation_problem_keeps_its_members(terminal_api: TerminalApi) -> None:
    who = terminal_api.operator()
    with ApiClient(terminal_api.url) as client:
        client.login(who.username, who.password)
        with pytest.raises(ApiProblem) as caught:
            client.open_card_session({"card_number": "nonsense"})
    problem = caught.value
    assert problem.status == 422
    assert problem.slug == "invalid-request"
    fields = {error["field"] for error in problem.extra["errors"]}
    assert {"card_number", "card_id_code", "atr"} <= fields
    assert problem.to_dict()["status"] == 422


def test_unauthenticated_call(terminal_api: TerminalApi) -> None:
    with ApiClient(terminal_api.url) as client, pytest.raises(ApiProblem) as caught:
        client.hotlist()
    assert caught.value.status == 401
    assert caught.value.slug == "unauthenticated"


def test_connection_refused_is_unreachable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # nothing listens on `port` now
    with (
        ApiClient(f"http://127.0.0.1:{port}", timeout=2.0) as client,
        pytest.raises(ApiProblem) as caught,
    ):
        client.request("GET", "/healthz")
    problem = caught.value
    assert problem.status == 0
    assert problem.type == "about:unreachable"
    assert problem.unreachable
    assert f"127.0.0.1:{port}" in problem.detail


def test_a_silent_server_times_out() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)  # accepts connections, never answers
        port = listener.getsockname()[1]
        with (
            ApiClient(f"http://127.0.0.1:{port}", timeout=0.3) as client,
            pytest.raises(ApiProblem) as caught,
        ):
            client.request("GET", "/healthz")
    assert caught.value.status == 0
    assert caught.value.slug == "unreachable"
    assert "in time" in caught.value.title


def test_a_non_json_error_page() -> None:
    def gateway(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            502, text="<html>bad gateway</html>", headers={"content-type": "text/html"}
        )

    with (
        ApiClient("http://api.test", transport=httpx.MockTransport(gateway)) as client,
        pytest.raises(ApiProblem) as caught,
    ):
        client.request("GET", "/v1/hotlist")
    assert caught.value.status == 502
    assert caught.value.type == "about:blank"
    assert caught.value.title == "Bad Gateway"


def test_writes_get_an_idempotency_key_card_sessions_do_not() -> None:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    with ApiClient("http://api.test", transport=httpx.MockTransport(record)) as client:
        client.request("POST", "/v1/cards/A00000011/activation")
        client.request("POST", "/v1/cards/A00000011/activation", idempotency_key="k-1")
        client.request("GET", "/v1/hotlist")
        client.end_card_session("0" * 32)
    keys = [r.headers.get("Idempotency-Key") for r in seen]
    uuid.UUID(keys[0])
    assert keys[1:] == ["k-1", None, None]


# --- the card-session flow -------------------------------------------------------------


def test_card_session_flow_and_presence(terminal_api: TerminalApi) -> None:
    card = terminal_api.card(2)
    who = terminal_api.operator(Role.CLERK)
    with ApiClient(terminal_api.url) as client:
        client.login(who.username, who.password)
        verified = _present(client, card.terminal())
        session = verified["session_id"]
        assert verified["card"]["card_number"] == card.card_number
        assert verified["terminal"] == {
            "action": "none",
            "serve": True,
            "rule": verified["terminal"]["rule"],
            "reasons": verified["terminal"]["reasons"],
        }
        person = client.request("GET", f"/v1/persons/{card.ssn}", card_session=session)
        assert person["ssn"] == card.ssn
        key = uuid.uuid4().hex
        first = client.request(
            "POST", f"/v1/cards/{card.card_number}/pin-change", card_session=session,
            idempotency_key=key,
        )  # fmt: skip
        again = client.request(
            "POST", f"/v1/cards/{card.card_number}/pin-change", card_session=session,
            idempotency_key=key,
        )  # fmt: skip
        assert again == first
        client.end_card_session(session)
        client.end_card_session(session)  # idempotent
        with pytest.raises(ApiProblem) as caught:
            client.request("GET", f"/v1/persons/{card.ssn}", card_session=session)
    assert caught.value.status == 403
    assert caught.value.field == "X-Card-Session"


def test_hotlisted_card_gets_the_block_command(terminal_api: TerminalApi) -> None:
    card = terminal_api.card(2, state=CardState.LOST)
    device = terminal_api.device(DeviceKind.KIOSK)
    with ApiClient(terminal_api.url) as client:
        client.device_sign_in(device.id, device.credential)
        terminal = card.terminal()
        verified = _present(client, terminal)
        assert verified["terminal"]["serve"] is False
        assert verified["terminal"]["action"] == "application-block"
        assert verified["holder"] is None
        command = client.card_command(
            verified["session_id"], "application-block", terminal.get_challenge()
        )
        assert terminal.send(command["apdu"]).sw == 0x9000
        assert terminal.select().sw == 0x6283
        listed = client.hotlist()
        assert card.card_number in {e["card_number"] for e in listed["entries"]}
        later = client.hotlist(since=listed["next_since"])
        assert "entries" in later


def test_a_replayed_proof_is_refused(terminal_api: TerminalApi) -> None:
    card = terminal_api.card(1)
    who = terminal_api.operator(Role.CLERK)
    with ApiClient(terminal_api.url) as client:
        client.login(who.username, who.password)
        terminal = card.terminal()
        terminal.select()
        opened = client.open_card_session(terminal.presentation(blocked=False))
        answer = terminal.send(opened["internal_authenticate"]).data
        client.prove_card_session(opened["session_id"], answer)
        with pytest.raises(ApiProblem) as caught:
            client.prove_card_session(opened["session_id"], answer)
    assert caught.value.status == 409
