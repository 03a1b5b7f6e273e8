"""The router every API area uses: :class:`ApiRouter` (FastAPI's APIRouter, plus one rule).

An endpoint that takes an ``Idempotency-Key`` (``IdempotencyKeyDep``) must answer a
replay only after its own parameters were validated: FastAPI resolves dependencies
(where the key is looked up) before it validates the endpoint's path, query, header
and body parameters, and calls the endpoint only when they are valid. So every
endpoint added through an ApiRouter is wrapped (api.idempotency.deferring_endpoint):
when the key holds this request's stored response, the wrapper sends it instead of
running the endpoint.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter

from api.idempotency import deferring_endpoint


class ApiRouter(APIRouter):
    """APIRouter whose endpoints send an idempotent replay only after validation."""

    def add_api_route(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().add_api_route(path, deferring_endpoint(endpoint), **kwargs)
