"""The station agent answers only this machine and only the configured web origin.

It listens on 127.0.0.1 only (the machine's other addresses get no connection),
answers a browser page of the configured origin with CORS headers, refuses a page
of any other origin (403, problem+json, no CORS headers), and never returns a PIN.
"""

from __future__ import annotations

import socket

import httpx
import pytest
from e2e_harness import COUNTER_ORIGIN, COUNTER_SLOT, E2E, PIN, at_reader


def _outward_address() -> str | None:
    """This machine's address on its default route, if it has one (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: only picks the route
        except OSError:
            return None
        address: str = probe.getsockname()[0]
    return None if address.startswith("127.") else address


def test_the_agent_is_not_reachable_from_other_addresses(e2e: E2E) -> None:
    address = _outward_address()
    if address is None:
        pytest.skip("this machine has no non-loopback address to try")
    port = httpx.URL(e2e.counter.url).port
    assert port is not None
    with pytest.raises(OSError), socket.create_connection((address, port), timeout=3):
        pass


def test_a_page_of_another_origin_is_refused(e2e: E2E) -> None:
    for path in ("/v1/health", "/v1/card"):
        answer = httpx.get(
            e2e.counter.url + path, headers={"Origin": "http://evil.example"}, timeout=10
        )
        assert answer.status_code == 403, answer.text
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert "access-control-allow-origin" not in answer.headers
    preflight = httpx.options(
        e2e.counter.url + "/v1/card/pin/verify",
        headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"},
        timeout=10,
    )
    assert preflight.status_code == 403
    assert "access-control-allow-origin" not in preflight.headers


def test_the_configured_origin_gets_cors_headers(e2e: E2E) -> None:
    answer = httpx.get(
        e2e.counter.url + "/v1/health", headers={"Origin": COUNTER_ORIGIN}, timeout=10
    )
    assert answer.status_code == 200
    assert answer.headers["access-control-allow-origin"] == COUNTER_ORIGIN
    health = answer.json()
    assert health["pcscd"] is True
    assert health["card_reader"] == e2e.reader(COUNTER_SLOT)
    assert health["api"] is True


def test_no_answer_carries_the_pin(desk: E2E) -> None:
    resident = desk.resident("active")
    at_reader(desk, COUNTER_SLOT, resident.card(), resident.card_number)
    verified = httpx.post(
        desk.counter.url + "/v1/card/pin/verify",
        json={"pin": PIN},
        headers={"Origin": COUNTER_ORIGIN},
        timeout=10,
    )
    assert verified.status_code == 200
    assert verified.json() == {"verified": True}
    card = httpx.get(desk.counter.url + "/v1/card", timeout=10)
    assert PIN not in card.text
    assert resident.ssn not in card.text  # masked
