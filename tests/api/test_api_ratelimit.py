"""Rate limits per operator and per device, counted in the database across processes."""

from __future__ import annotations

import time

from api_harness import RATE_LIMIT, RATE_WINDOW_S, ApiEnv, assert_problem


def _window() -> int:
    return int(time.time()) // RATE_WINDOW_S


def _spend(env: ApiEnv, headers: dict[str, str], count: int) -> list[int]:
    """`count` authenticated requests, alternating between the two server processes."""
    a, b = env.servers[0].client(), env.servers[1].client()
    with a, b:
        return [
            (a if i % 2 else b).get("/v1/auth/me", headers=headers).status_code
            for i in range(count)
        ]


def test_operator_rate_limit_holds_across_two_processes(pg_pair: ApiEnv) -> None:
    for _attempt in range(2):  # a window boundary in the middle resets the count: once more
        who = pg_pair.records.operator()
        window = _window()
        headers = pg_pair.bearer(who)
        statuses = _spend(pg_pair, headers, RATE_LIMIT)
        with pg_pair.servers[1].client() as client:
            refused = client.get("/v1/auth/me", headers=headers)
        if _window() == window:
            break
    assert statuses == [200] * RATE_LIMIT
    body = assert_problem(refused, 429, "rate-limited")
    retry = int(refused.headers["retry-after"])
    assert 1 <= retry <= RATE_WINDOW_S
    assert body["retry_after"] == retry
    # another operator has a budget of their own
    other = pg_pair.records.operator()
    with pg_pair.server.client() as client:
        assert client.get("/v1/auth/me", headers=pg_pair.bearer(other)).is_success


def test_device_rate_limit(sqlite_api: ApiEnv) -> None:
    for _attempt in range(2):
        kiosk = sqlite_api.records.device()
        window = _window()
        with sqlite_api.server.client() as client:
            response = client.post(
                "/v1/auth/device-login",
                json={"device_id": kiosk.id, "credential": kiosk.credential},
            )
        headers = {"Authorization": f"Bearer {response.json()['access_token']}"}
        statuses = _spend(sqlite_api, headers, RATE_LIMIT + 2)
        if _window() == window:
            break
    assert statuses == [200] * RATE_LIMIT + [429, 429]
