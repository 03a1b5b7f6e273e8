"""Request bodies over the limit get a 413 problem: declared (Content-Length) or streamed."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
from api_harness import MAX_BODY, ApiEnv, assert_problem


def test_a_declared_body_over_the_limit_is_refused(sqlite_api: ApiEnv) -> None:
    body = b'{"username": "x", "password": "' + b"p" * MAX_BODY + b'"}'
    with sqlite_api.client() as client:
        response = client.post(
            "/v1/auth/login", content=body, headers={"Content-Type": "application/json"}
        )
    problem = assert_problem(response, 413, "payload-too-large")
    assert str(MAX_BODY) in problem["detail"]


def test_a_chunked_body_over_the_limit_is_refused(sqlite_api: ApiEnv) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"username": "x", "password": "'
        for _ in range(8):
            yield b"p" * 1024
        yield b'"}'

    with httpx.Client(base_url=sqlite_api.server.url, timeout=20) as client:
        response = client.post(
            "/v1/auth/login", content=chunks(), headers={"Content-Type": "application/json"}
        )
    assert "content-length" not in response.request.headers
    assert response.request.headers["transfer-encoding"] == "chunked"
    assert_problem(response, 413, "payload-too-large")


def test_a_chunked_body_under_the_limit_is_served(sqlite_api: ApiEnv) -> None:
    who = sqlite_api.records.operator()

    def chunks() -> Iterator[bytes]:
        yield b'{"username": "' + who.username.encode()
        yield b'", "password": "' + who.password.encode() + b'"}'

    with httpx.Client(base_url=sqlite_api.server.url, timeout=20) as client:
        response = client.post(
            "/v1/auth/login", content=chunks(), headers={"Content-Type": "application/json"}
        )
    assert response.status_code == 200, response.text
