"""Idempotency-Key on writes, over HTTP on both engines and across two processes.

The test route POST /v1/test/echo answers 201 with a fresh `run_id` each time it
actually runs, so a replay (same run_id) is told apart from a second run.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from api_harness import ApiEnv, assert_problem

from api.idempotency import fingerprint
from cardsvc.db.models import HttpIdempotencyRecord, IdempotencyState

ECHO = "/v1/test/echo"


@pytest.fixture
def auth(api: ApiEnv) -> dict[str, str]:
    return api.bearer(api.records.operator())


def _post(client: httpx.Client, auth: dict[str, str], key: str | None, body: Any) -> httpx.Response:
    headers = dict(auth)
    if key is not None:
        headers["Idempotency-Key"] = key
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post(
        ECHO, content=content, headers={**headers, "Content-Type": "application/json"}
    )


def test_same_key_same_body_replays_the_first_response(api: ApiEnv, auth: dict[str, str]) -> None:
    key = secrets.token_hex(8)
    a, b = api.servers[0].client(), api.servers[1].client()
    with a, b:
        first = _post(a, auth, key, {"text": "hello", "delay_s": 0})
        again = _post(b, auth, key, {"text": "hello", "delay_s": 0})
        # the same JSON written differently is the same request
        respaced = _post(a, auth, key, b'{ "delay_s": 0,\n "text": "hello" }')
    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers
    for replay in (again, respaced):
        assert replay.status_code == 201
        assert replay.json() == first.json()
        assert replay.headers["idempotent-replayed"] == "true"
        assert replay.headers["content-type"] == first.headers["content-type"]
    assert first.json()["key"] == key


def test_a_replay_comes_only_after_the_other_parameters_are_valid(
    api: ApiEnv, auth: dict[str, str]
) -> None:
    key = secrets.token_hex(8)
    body = {"text": "hello", "delay_s": 0}
    with api.client() as client:
        first = _post(client, auth, key, body)
        assert first.status_code == 201, first.text
        # X-Note is not part of the fingerprint: same key and body, an invalid header
        bad = _post(client, {**auth, "X-Note": "NOT VALID"}, key, body)
        again = _post(client, {**auth, "X-Note": "fine"}, key, body)
    problem = assert_problem(bad, 422, "invalid-request")
    assert "idempotent-replayed" not in bad.headers
    assert "X-Note" in json.dumps(problem)
    assert again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()


def test_same_key_other_body_is_refused(api: ApiEnv, auth: dict[str, str]) -> None:
    key = secrets.token_hex(8)
    with api.client() as client:
        first = _post(client, auth, key, {"text": "one"})
        other = _post(client, auth, key, {"text": "two"})
        again = _post(client, auth, key, {"text": "one"})
    assert first.status_code == 201
    body = assert_problem(other, 422, "idempotency-key-reused")
    assert body["field"] == "Idempotency-Key"
    assert again.json() == first.json()


def test_missing_or_malformed_key_is_a_problem_naming_the_header(
    api: ApiEnv, auth: dict[str, str]
) -> None:
    with api.client() as client:
        missing = _post(client, auth, None, {"text": "x"})
        spaced = _post(client, auth, "has space", {"text": "x"})
        long = _post(client, auth, "k" * 129, {"text": "x"})
    for response in (missing, spaced, long):
        body = assert_problem(response, 422, "invalid-request")
        assert body["field"] == "Idempotency-Key"
        assert body["errors"][0]["location"] == "header"


def test_a_concurrent_duplicate_gets_409_then_the_first_response(
    api: ApiEnv, auth: dict[str, str]
) -> None:
    key = secrets.token_hex(8)
    body = {"text": "slow", "delay_s": 1.5}
    results: dict[str, httpx.Response] = {}

    def first() -> None:
        with api.servers[0].client() as client:
            results["first"] = _post(client, auth, key, body)

    worker = threading.Thread(target=first)
    worker.start()
    with api.servers[1].client() as client:
        # wait until the first request's in-progress row is committed
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not _in_progress(api, key):
            time.sleep(0.02)
        concurrent = _post(client, auth, key, body)
        worker.join(timeout=30)
        assert not worker.is_alive()
        after = _post(client, auth, key, body)
    problem = assert_problem(concurrent, 409, "idempotency-request-in-progress")
    assert concurrent.headers["retry-after"] == "1"
    assert problem["field"] == "Idempotency-Key"
    assert results["first"].status_code == 201
    assert after.status_code == 201
    assert after.json() == results["first"].json()
    assert after.headers["idempotent-replayed"] == "true"


def _in_progress(api: ApiEnv, key: str) -> bool:
    with api.records.session() as session:
        row = session.query(HttpIdempotencyRecord).filter_by(key=key).one_or_none()
        return row is not None and row.state is IdempotencyState.IN_PROGRESS


def _stuck_row(api: ApiEnv, scope: str, key: str, body: dict[str, Any], age_s: int) -> None:
    """An in-progress row as a process that died mid-request would leave it."""
    content = json.dumps(body).encode()
    with api.records.session() as session:
        session.add(
            HttpIdempotencyRecord(
                scope=scope,
                key=key,
                method="POST",
                path=ECHO,
                request_hash=fingerprint("POST", ECHO, "", content),
                state=IdempotencyState.IN_PROGRESS,
                claim_token=secrets.token_hex(16),
                started_at=datetime.now(UTC) - timedelta(seconds=age_s),
            )
        )


def test_a_stale_in_progress_row_is_taken_over_a_fresh_one_is_not(api: ApiEnv) -> None:
    who = api.records.operator()
    with api.client() as client:
        auth = api.bearer(who)
        body = {"text": "orphan"}
        _stuck_row(api, f"operator:{who.id}", "stale-key", body, age_s=3600)
        _stuck_row(api, f"operator:{who.id}", "fresh-key", body, age_s=0)
        taken = _post(client, auth, "stale-key", body)
        busy = _post(client, auth, "fresh-key", body)
    assert taken.status_code == 201, taken.text
    assert_problem(busy, 409, "idempotency-request-in-progress")


def test_a_refused_request_frees_its_key(api: ApiEnv, auth: dict[str, str]) -> None:
    key = secrets.token_hex(8)
    with api.client() as client:
        refused = _post(client, auth, key, {"text": "no", "refuse": True})
        invalid = _post(client, auth, key, {"text": 12})
        done = _post(client, auth, key, {"text": "yes"})
    body = assert_problem(refused, 409, "conflict")
    assert body["current"] == "testing"
    assert_problem(invalid, 422, "invalid-request")
    assert done.status_code == 201


def test_keys_are_scoped_to_the_caller(api: ApiEnv) -> None:
    key = secrets.token_hex(8)
    responses = []
    with api.client() as client:
        for _ in range(2):
            who = api.records.operator()
            auth = api.bearer(who)
            responses.append(_post(client, auth, key, {"text": "same"}))
    assert [r.status_code for r in responses] == [201, 201]
    assert responses[0].json()["run_id"] != responses[1].json()["run_id"]
