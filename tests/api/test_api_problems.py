"""Errors are RFC 9457 problems: validation names each field, unknown routes, the
catch-all 500 (no stack trace, logged with the request id), and an OpenAPI document
that describes the problem responses."""

from __future__ import annotations

import time
from typing import Any

from api_harness import ApiEnv, assert_problem
from api_test_server import SECRET_DETAIL

PROBLEM_REF = "#/components/schemas/Problem"


def test_validation_errors_name_each_field(sqlite_api: ApiEnv) -> None:
    with sqlite_api.client() as client:
        response = client.post("/v1/auth/login", json={"username": 42, "password": ""})
    body = assert_problem(response, 422, "invalid-request")
    fields = {(e["field"], e["location"]) for e in body["errors"]}
    assert fields == {("username", "body"), ("password", "body")}
    assert body["field"] in {"username", "password"}
    assert "username" in body["detail"]
    assert "password" in body["detail"]


def test_invalid_json_is_a_problem_about_the_body(sqlite_api: ApiEnv) -> None:
    with sqlite_api.client() as client:
        response = client.post(
            "/v1/auth/login", content=b'{"username": ', headers={"Content-Type": "application/json"}
        )
    body = assert_problem(response, 422, "invalid-request")
    assert body["field"] == "body"
    assert "JSON" in body["errors"][0]["problem"]


def test_submitted_values_are_never_echoed(sqlite_api: ApiEnv) -> None:
    secret = "370402199001011238-secret"
    with sqlite_api.client() as client:
        response = client.post("/v1/auth/login", json={"username": "x" * 65, "password": secret})
    body = assert_problem(response, 422, "invalid-request")
    assert secret not in response.text
    assert "x" * 65 not in response.text
    assert body["errors"][0]["field"] == "username"


def test_unknown_route_is_a_404_problem(sqlite_api: ApiEnv) -> None:
    with sqlite_api.client() as client:
        response = client.get("/v1/no/such/route")
    body = assert_problem(response, 404, "not-found")
    assert "/v1/no/such/route" not in body["detail"]


def test_an_unexpected_error_is_a_500_problem_without_a_trace(sqlite_api: ApiEnv) -> None:
    server = sqlite_api.server
    with server.client() as client:
        response = client.get("/v1/test/boom")
    body = assert_problem(response, 500, "internal-error")
    assert SECRET_DETAIL not in response.text
    assert "Traceback" not in response.text
    assert "RuntimeError" not in response.text
    # ... but the server logged it, with the request id and the trace
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and body["request_id"] not in server.log():
        time.sleep(0.05)
    log = server.log()
    assert body["request_id"] in log
    assert SECRET_DETAIL in log
    assert "Traceback" in log


def _operations(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (path, method): operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
    }


def test_openapi_lists_every_area_in_reading_order(sqlite_api: ApiEnv) -> None:
    """Routes match persons first (api.app.V1_AREAS); the document's tags keep the order
    a reader needs: sign in, card sessions, cards, then the person's items."""
    with sqlite_api.client() as client:
        document = client.get("/openapi.json").json()
    declared = [tag["name"] for tag in document["tags"]]
    assert declared[:4] == ["auth", "card sessions", "cards", "persons"]
    used = {tag for operation in _operations(document).values() for tag in operation["tags"]}
    # every operation's area is declared, and no other (the test server adds "test" routes)
    assert used - {"test"} == set(declared)
    assert all(tag.get("description") for tag in document["tags"])


def test_openapi_describes_problem_responses(sqlite_api: ApiEnv) -> None:
    with sqlite_api.client() as client:
        document = client.get("/openapi.json").json()
    operations = _operations(document)
    schemas = document["components"]["schemas"]
    assert "Problem" in schemas
    assert "HTTPValidationError" not in schemas
    for (path, method), operation in operations.items():
        for status, response in operation["responses"].items():
            if status.startswith(("4", "5")):
                content = response["content"]
                assert list(content) == ["application/problem+json"], (path, method, status)
                assert content["application/problem+json"]["schema"]["$ref"] == PROBLEM_REF
        assert "500" in operation["responses"], (path, method)
    me = operations[("/v1/auth/me", "get")]
    assert {"401", "429", "503"} <= set(me["responses"])
    assert me["security"] == [{"bearer": []}]
    echo = operations[("/v1/test/echo", "post")]
    header = next(p for p in echo["parameters"] if p["name"] == "Idempotency-Key")
    assert header["in"] == "header"
    assert header["required"] is True
    assert {"401", "409", "413", "422", "429"} <= set(echo["responses"])
    assert "idempotency-key-reused" in echo["responses"]["422"]["description"]
    login = operations[("/v1/auth/login", "post")]
    assert {"401", "413", "422", "423"} <= set(login["responses"])
    assert "409" not in login["responses"]
    assert "Retry-After" in login["responses"]["423"]["headers"]
    assert "503" not in operations[("/healthz", "get")]["responses"]


def test_an_undecodable_body_is_a_problem_about_the_body(sqlite_api: ApiEnv) -> None:
    with sqlite_api.client() as client:
        response = client.post(
            "/v1/auth/login",
            content=b"\xff\xfe\x00garbage",
            headers={"Content-Type": "application/json"},
        )
    body = assert_problem(response, 422, "invalid-request")
    assert body["field"] == "body"


def test_values_the_database_would_refuse_are_refused_first(api: ApiEnv) -> None:
    with api.client() as client:
        nul = client.post("/v1/auth/login", json={"username": "a\u0000b", "password": "x"})
        huge = client.post("/v1/auth/device-login", json={"device_id": 10**30, "credential": "x"})
    assert assert_problem(nul, 422, "invalid-request")["field"] == "username"
    assert assert_problem(huge, 422, "invalid-request")["field"] == "device_id"


def test_405_allow_lists_every_route_of_the_path(sqlite_api: ApiEnv) -> None:
    """POST and DELETE on one path are two routes: Allow names both, whichever matched."""
    path = "/v1/cards/A00000011/loss-reports"
    with sqlite_api.client() as client:
        for method in ("OPTIONS", "PUT", "GET"):
            response = client.request(method, path)
            assert_problem(response, 405, None)
            assert response.headers["allow"] == "DELETE, POST"
        single = client.request("OPTIONS", "/v1/hotlist")
    assert single.headers["allow"] == "GET"
