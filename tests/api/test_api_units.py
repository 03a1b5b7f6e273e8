"""In-process checks of the API's building blocks (no server): password hashes, request
fingerprints, rate windows, settings, the OpenAPI helper, the frozen start-up heap."""

from __future__ import annotations

import gc
import os
from datetime import UTC, datetime
from pathlib import Path

import argon2
import pytest
from api_harness import migrated
from fastapi.testclient import TestClient

from api.app import create_app
from api.idempotency import fingerprint
from api.passwords import PasswordHasher
from api.problems import field_problems, problem_responses
from api.ratelimit import WindowCount, window_start
from cardsvc.seed.passwords import hash_secret
from cardsvc.settings import Settings, SettingsError

CHEAP = PasswordHasher(argon2.PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


def test_argon2_hashes_verify_and_wrong_secrets_do_not() -> None:
    stored = CHEAP.hash("correct horse")
    assert stored.startswith("$argon2id$")
    assert CHEAP.verify("correct horse", stored)
    assert not CHEAP.verify("correct horse!", stored)
    assert not CHEAP.needs_rehash(stored)
    assert PasswordHasher().needs_rehash(stored)  # weaker than the defaults


def test_the_seeders_scrypt_hashes_verify_and_need_a_rehash() -> None:
    stored = hash_secret("demo2011", os.urandom(16), n=2**4)
    assert CHEAP.verify("demo2011", stored)
    assert not CHEAP.verify("demo2012", stored)
    assert CHEAP.needs_rehash(stored)


@pytest.mark.parametrize(
    "stored",
    [
        "!",
        "",
        "scrypt$16$8$1$00$00",
        "scrypt$15$8$1$" + "00" * 16 + "$" + "00" * 32,  # n not a power of two
        "scrypt$16$8$1$zz$zz",
        "$argon2id$garbage",
        "plaintext-password",
    ],
)
def test_malformed_or_locked_hashes_match_nothing(stored: str) -> None:
    assert not CHEAP.verify("", stored)
    assert not CHEAP.verify("plaintext-password", stored)


def test_fingerprints_ignore_json_layout_but_not_content() -> None:
    one = fingerprint("POST", "/v1/x", "", b'{"a": 1, "b": [1, 2]}')
    assert one == fingerprint("post", "/v1/x", "", b'{ "b": [1,2], "a": 1 }')
    assert one != fingerprint("POST", "/v1/x", "", b'{"a": 1, "b": [2, 1]}')
    assert one != fingerprint("POST", "/v1/y", "", b'{"a": 1, "b": [1, 2]}')
    assert one != fingerprint("PUT", "/v1/x", "", b'{"a": 1, "b": [1, 2]}')
    assert one != fingerprint("POST", "/v1/x", "q=1", b'{"a": 1, "b": [1, 2]}')
    assert fingerprint("POST", "/p", "", b"\xff raw") != fingerprint("POST", "/p", "", b"raw")
    # the card session changes whom the request is for: never a replay across sessions
    assert one != fingerprint("POST", "/v1/x", "", b'{"a": 1, "b": [1, 2]}', "a" * 32)


def test_fixed_windows() -> None:
    now = datetime(2026, 1, 1, 10, 7, 31, 500000, tzinfo=UTC)
    start = window_start(now, 60)
    assert start == datetime(2026, 1, 1, 10, 7, tzinfo=UTC)
    assert window_start(now, 3600) == datetime(2026, 1, 1, 10, 0, tzinfo=UTC)
    assert WindowCount("s", 3, start, 60).retry_after_s(now) == 29
    assert WindowCount("s", 3, start, 60).retry_after_s(start.replace(second=59)) == 1


def test_api_settings_from_the_environment() -> None:
    settings = Settings.from_env(
        {
            "CARDSVC_DATABASE_URL": "sqlite:///x.db",
            "CARDSVC_TOKEN_TTL": "600",
            "CARDSVC_LOGIN_LOCKOUT": "5",
            "CARDSVC_RATE_LIMIT_DEVICE": "7",
            "CARDSVC_MAX_BODY_BYTES": "1024",
        }
    )
    assert settings.token_ttl_s == 600
    assert settings.login_lockout_s == 5
    assert settings.rate_limit_device == 7
    assert settings.max_body_bytes == 1024
    defaults = Settings(database_url="sqlite:///x.db")
    assert defaults.login_max_failures == 5
    assert defaults.login_lockout_s == 1800


@pytest.mark.parametrize("value", ["0", "-3", "ten", "1.5"])
def test_bad_api_settings_name_the_variable(value: str) -> None:
    with pytest.raises(SettingsError, match="CARDSVC_RATE_WINDOW") as info:
        Settings.from_env({"CARDSVC_RATE_WINDOW": value})
    assert info.value.variable == "CARDSVC_RATE_WINDOW"


def test_settings_refuse_nonsense_values_in_code() -> None:
    with pytest.raises(SettingsError, match="max_body_bytes"):
        Settings(database_url="sqlite:///x.db", max_body_bytes=0)


def test_field_problems_never_copy_the_input() -> None:
    errors = [
        {"loc": ("body", "items", 0, "pin"), "msg": "String too short", "input": "1234"},
        {"loc": ("header", "Idempotency-Key"), "msg": "Field required", "input": None},
    ]
    problems = field_problems(errors)
    assert [(p.field, p.location) for p in problems] == [
        ("items.0.pin", "body"),
        ("Idempotency-Key", "header"),
    ]
    assert "1234" not in str([p.model_dump() for p in problems])


def test_problem_responses_helper() -> None:
    responses = problem_responses(404, s409="the card changed meanwhile")
    assert responses[404]["content"]["application/problem+json"]["schema"] == {
        "$ref": "#/components/schemas/Problem"
    }
    assert "`not-found`" in responses[404]["description"]
    assert responses[409]["description"] == "the card changed meanwhile"
    with pytest.raises(TypeError):
        problem_responses(not_a_status="x")


def test_a_started_app_freezes_its_heap_out_of_full_collections(tmp_path: Path) -> None:
    """api.heap: once the app has started, what exists is in the permanent generation."""
    url = migrated(f"sqlite:///{tmp_path / 'heap.db'}")
    gc.unfreeze()
    try:
        app = create_app(Settings(database_url=url))
        assert gc.get_freeze_count() == 0
        with TestClient(app) as client:
            assert gc.get_freeze_count() > 0
            assert client.get("/healthz").status_code == 200
    finally:
        gc.unfreeze()
