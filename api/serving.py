"""How ``cardsvc serve`` runs uvicorn; the API benchmark serves its floor app the same way."""

from __future__ import annotations

from typing import Any

from api.nodelay import HTTP_PROTOCOL


def uvicorn_options(*, host: str, port: int, workers: int, log_level: str) -> dict[str, Any]:
    """Keyword arguments for ``uvicorn.run`` (besides the app)."""
    return {
        "host": host,
        "port": port,
        "workers": workers,
        "log_level": log_level,
        "server_header": False,
        "proxy_headers": False,
        # TCP_NODELAY on every connection: with several workers uvicorn leaves Nagle's
        # algorithm on, and each kept-alive request waited ~40 ms (api/nodelay.py)
        "http": HTTP_PROTOCOL,
    }
