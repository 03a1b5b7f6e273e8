"""Sign-in, sign-out, lockout, device sign-in and bearer errors, over HTTP on both engines."""

from __future__ import annotations

import os
import time
from datetime import datetime

import httpx
import pytest
from api_harness import LOCKOUT_S, SITE_CODE, ApiEnv, assert_problem
from sqlalchemy import update

from cardsvc.db.models import DeviceKind, Operator, Role
from cardsvc.seed.passwords import hash_secret

BEARER_CHALLENGE = 'Bearer realm="cardsvc"'


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_login_gives_a_token_its_expiry_and_the_operators_site_and_roles(api: ApiEnv) -> None:
    who = api.records.operator(roles=frozenset({Role.CLERK, Role.REVIEWER}))
    with api.client() as client:
        response = client.post(
            "/v1/auth/login", json={"username": who.username, "password": who.password}
        )
        assert response.status_code == 200, response.text
        body = response.json()
        me = client.get("/v1/auth/me", headers=bearer(body["access_token"]))
    assert body["token_type"] == "bearer"
    assert len(body["access_token"]) >= 40
    assert 8 * 3600 - 60 <= body["expires_in"] <= 8 * 3600
    assert datetime.fromisoformat(body["expires_at"]).tzinfo is not None
    assert body["operator"] == {
        "id": who.id,
        "username": who.username,
        "site_code": SITE_CODE,
        "roles": ["clerk", "reviewer"],
    }
    assert me.status_code == 200
    assert me.json()["kind"] == "operator"
    assert me.json()["username"] == who.username
    assert me.json()["expires_at"] == body["expires_at"]
    # the token itself is not stored, and the cheap test hash was upgraded to argon2id
    assert api.records.password_hash(who.id).startswith("$argon2id$")


def test_failed_logins_all_look_the_same(api: ApiEnv) -> None:
    who = api.records.operator()
    disabled = api.records.operator(active=False)
    attempts = [
        {"username": who.username, "password": who.password + "x"},
        {"username": "nobody-" + who.username, "password": who.password},
        {"username": disabled.username, "password": disabled.password},
    ]
    with api.client() as client:
        responses = [client.post("/v1/auth/login", json=attempt) for attempt in attempts]
    bodies = [assert_problem(r, 401, "invalid-credentials") for r in responses]
    assert {r.headers["www-authenticate"] for r in responses} == {BEARER_CHALLENGE}
    details = {body["detail"] for body in bodies}
    assert details == {"unknown user or wrong password"}
    assert all(who.password not in str(body) for body in bodies)


def _wait_for(deadline_s: float, condition: object) -> None:
    """Sleep in small steps until `condition()` is true or the deadline passes."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.2)


def test_five_failed_logins_lock_the_account_until_the_window_passes(api: ApiEnv) -> None:
    who = api.records.operator()
    wrong = {"username": who.username, "password": "not-" + who.password}
    right = {"username": who.username, "password": who.password}
    a, b = api.servers[0].client(), api.servers[1].client()
    with a, b:
        for attempt in range(4):  # failures are counted in the database: alternate processes
            client = a if attempt % 2 else b
            assert_problem(client.post("/v1/auth/login", json=wrong), 401, "invalid-credentials")
        locking = a.post("/v1/auth/login", json=wrong)
        body = assert_problem(locking, 423, "account-locked")
        assert 1 <= int(locking.headers["retry-after"]) <= LOCKOUT_S
        assert body["retry_after"] == int(locking.headers["retry-after"])
        assert datetime.fromisoformat(body["locked_until"]).tzinfo is not None
        # while locked, even the right password is refused, by every process
        still = assert_problem(b.post("/v1/auth/login", json=right), 423, "account-locked")
        assert "try again in" in still["detail"]

        _wait_for(LOCKOUT_S + 5, lambda: a.post("/v1/auth/login", json=right).status_code != 423)
        assert a.post("/v1/auth/login", json=right).status_code == 200
        # the failure count started afresh: one more wrong password is a plain 401
        assert_problem(a.post("/v1/auth/login", json=wrong), 401, "invalid-credentials")


def test_seeded_scrypt_password_signs_in_and_is_rehashed_to_argon2(api: ApiEnv) -> None:
    seeded = hash_secret("demo2011", os.urandom(16), n=2**4)
    who = api.records.operator(password_hash=seeded, password="demo2011")
    with api.client() as client:
        wrong = client.post("/v1/auth/login", json={"username": who.username, "password": "x"})
        assert_problem(wrong, 401, "invalid-credentials")
        assert api.records.password_hash(who.id) == seeded
        token = api.login(client, who)
        assert client.get("/v1/auth/me", headers=bearer(token)).status_code == 200
        assert api.records.password_hash(who.id).startswith("$argon2id$")
        assert api.login(client, who)  # the new hash verifies too


def test_logout_revokes_the_token_at_once_in_another_process(api: ApiEnv) -> None:
    who = api.records.operator()
    a, b = api.servers[0].client(), api.servers[1].client()
    with a, b:
        token = api.login(a, who)
        other = api.login(b, who)
        assert b.get("/v1/auth/me", headers=bearer(token)).status_code == 200
        assert a.post("/v1/auth/logout", headers=bearer(token)).status_code == 204
        refused = assert_problem(b.get("/v1/auth/me", headers=bearer(token)), 401, "invalid-token")
        assert "revoked" in refused["detail"]
        assert_problem(a.post("/v1/auth/logout", headers=bearer(token)), 401, "invalid-token")
        # only that token: the operator's other session goes on
        assert a.get("/v1/auth/me", headers=bearer(other)).status_code == 200


@pytest.mark.parametrize(
    ("headers", "slug"),
    [
        ({}, "unauthenticated"),
        ({"Authorization": "Bearer"}, "invalid-token"),
        ({"Authorization": "Basic dXNlcjpwdw=="}, "invalid-token"),
        ({"Authorization": "Bearer !!not a token!!"}, "invalid-token"),
        ({"Authorization": "Bearer " + "A" * 43}, "invalid-token"),
    ],
    ids=["missing", "empty", "basic", "garbage", "unknown"],
)
def test_bearer_errors_are_problems(sqlite_api: ApiEnv, headers: dict[str, str], slug: str) -> None:
    with sqlite_api.client() as client:
        response = client.get("/v1/auth/me", headers=headers)
    assert_problem(response, 401, slug)
    assert response.headers["www-authenticate"].startswith(BEARER_CHALLENGE)


def test_expired_token_and_disabled_operator_are_refused(api: ApiEnv) -> None:
    who = api.records.operator()
    expired = api.records.token(who.id, expires_in_s=-1)
    with api.client() as client:
        body = assert_problem(client.get("/v1/auth/me", headers=bearer(expired)), 401)
        assert body["type"].endswith("/invalid-token")
        assert "expired" in body["detail"]
        live = api.records.token(who.id, expires_in_s=3600)
        with api.records.session() as session:
            session.execute(update(Operator).where(Operator.id == who.id).values(active=False))
        gone = assert_problem(client.get("/v1/auth/me", headers=bearer(live)), 401)
        assert "disabled" in gone["detail"]


def test_device_login_for_kiosks_and_counter_terminals(api: ApiEnv) -> None:
    kiosk = api.records.device(kind=DeviceKind.KIOSK)
    seeded = hash_secret("device-demo-2011", os.urandom(16), n=2**4)
    counter = api.records.device(
        kind=DeviceKind.COUNTER, credential_hash=seeded, credential="device-demo-2011"
    )
    clerk = api.records.operator()
    with api.client() as client:
        tokens = {}
        for device, kind in ((kiosk, "kiosk"), (counter, "counter")):
            response = client.post(
                "/v1/auth/device-login",
                json={"device_id": device.id, "credential": device.credential},
            )
            assert response.status_code == 200, response.text
            body = response.json()
            assert body["device"]["id"] == device.id
            assert body["device"]["kind"] == kind
            assert body["device"]["site_code"] == SITE_CODE
            assert 24 * 3600 - 60 <= body["expires_in"] <= 24 * 3600
            tokens[kind] = body["access_token"]
        me = client.get("/v1/auth/me", headers=bearer(tokens["kiosk"])).json()
        assert (me["kind"], me["id"], me["device_kind"]) == ("device", kiosk.id, "kiosk")
        assert api.records.credential_hash(counter.id).startswith("$argon2id$")
        # a device may not use an operator's route; an operator may
        forbidden = client.get("/v1/test/operator-only", headers=bearer(tokens["kiosk"]))
        assert_problem(forbidden, 403, "forbidden")
        allowed = client.get("/v1/test/operator-only", headers=api.bearer(clerk))
        assert allowed.json() == {"username": clerk.username}
        for attempt in (
            {"device_id": kiosk.id, "credential": "wrong"},
            {"device_id": 10**9, "credential": kiosk.credential},
        ):
            bad = client.post("/v1/auth/device-login", json=attempt)
            assert assert_problem(bad, 401, "invalid-credentials")["detail"] == (
                "unknown device or wrong credential"
            )


def test_five_failed_device_logins_lock_the_device(sqlite_api: ApiEnv) -> None:
    kiosk = sqlite_api.records.device()
    wrong = {"device_id": kiosk.id, "credential": "wrong"}
    right = {"device_id": kiosk.id, "credential": kiosk.credential}
    # device failures are counted in fixed windows of LOCKOUT_S: start just after a boundary
    time.sleep(LOCKOUT_S - time.time() % LOCKOUT_S + 0.05)
    with sqlite_api.client() as client:
        statuses = [client.post("/v1/auth/device-login", json=wrong).status_code for _ in range(5)]
        locked = client.post("/v1/auth/device-login", json=right)
        assert statuses == [401, 401, 401, 401, 423]
        assert_problem(locked, 423, "account-locked")
        assert 1 <= int(locked.headers["retry-after"]) <= LOCKOUT_S

        def signed_in() -> bool:
            return client.post("/v1/auth/device-login", json=right).status_code == 200

        _wait_for(LOCKOUT_S + 5, signed_in)
        assert client.post("/v1/auth/device-login", json=right).status_code == 200


def test_login_route_refuses_a_get(sqlite_api: ApiEnv) -> None:
    with sqlite_api.client() as client:
        response = client.get("/v1/auth/login")
    assert_problem(response, 405, "method-not-allowed")
    assert "POST" in response.headers["allow"]


def test_tokens_are_not_accepted_as_query_parameters(sqlite_api: ApiEnv) -> None:
    who = sqlite_api.records.operator()
    with httpx.Client(base_url=sqlite_api.server.url, timeout=20) as client:
        token = sqlite_api.login(client, who)
        response = client.get("/v1/auth/me", params={"access_token": token})
    assert_problem(response, 401, "unauthenticated")
