"""/healthz and /readyz over HTTP, on both engines; readyz says 503 on an unmigrated DB."""

from __future__ import annotations

from collections.abc import Callable

from api_harness import ApiEnv, ApiServer, assert_problem, migrated

from cardsvc.db import migrate


def test_healthz_and_readyz_on_a_migrated_database(api: ApiEnv) -> None:
    with api.client() as client:
        health = client.get("/healthz")
        ready = client.get("/readyz")
    assert health.status_code == 200
    assert health.json() == {"status": "ok"}
    assert ready.status_code == 200
    body = ready.json()
    assert body["status"] == "ready"
    assert body["database"] == api.engine_name
    assert body["revision"] == migrate.head_revision()


def test_readyz_is_503_until_the_database_is_migrated(
    database_url: str, start_server: Callable[..., ApiServer]
) -> None:
    server = start_server(database_url)
    with server.client() as client:
        assert client.get("/healthz").status_code == 200
        body = assert_problem(client.get("/readyz"), 503, "service-unavailable")
        assert "cardsvc db upgrade" in body["detail"]
        assert "not migrated" in body["detail"]
        migrated(database_url)
        assert client.get("/readyz").status_code == 200
