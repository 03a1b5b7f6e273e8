"""Serving the agent with uvicorn on 127.0.0.1: in the foreground (`cardsvc agent`) or on
a thread (`AgentServer`, for the demo and tests)."""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Final

import uvicorn

from cardsvc.agent.app import DEFAULT_KEEPALIVE_S, create_agent_app
from cardsvc.errors import CardsvcError
from cardsvc.station import Station

HOST: Final = "127.0.0.1"
DEFAULT_PORT: Final = 7443
GRACEFUL_S: Final = 3
_START_WAIT_S: Final = 30.0


class AgentServerError(CardsvcError):
    """The agent's HTTP server could not start (the message says why)."""


def _config(
    station: Station,
    *,
    port: int,
    allowed_origin: str | None,
    keepalive_s: float,
    closing: threading.Event,
    log_level: str,
    manage_station: bool = True,
) -> uvicorn.Config:
    app = create_agent_app(
        station,
        allowed_origin=allowed_origin,
        keepalive_s=keepalive_s,
        manage_station=manage_station,
        closing=closing,
    )
    return uvicorn.Config(
        app,
        host=HOST,
        port=port,
        log_level=log_level,
        access_log=False,
        timeout_graceful_shutdown=GRACEFUL_S,
        lifespan="on",
    )


class AgentServer:
    """The agent app served on a thread; `start()` returns once it answers."""

    def __init__(
        self,
        station: Station,
        *,
        port: int = 0,
        allowed_origin: str | None = None,
        keepalive_s: float = DEFAULT_KEEPALIVE_S,
        log_level: str = "warning",
        manage_station: bool = True,
    ) -> None:
        """`manage_station`: start the station with the server and stop it with it."""
        self._closing = threading.Event()
        config = _config(
            station,
            port=port,
            allowed_origin=allowed_origin,
            keepalive_s=keepalive_s,
            closing=self._closing,
            log_level=log_level,
            manage_station=manage_station,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="agent http", daemon=True)
        self.port = port

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self) -> None:
        self._thread.start()
        deadline = time.monotonic() + _START_WAIT_S
        while not self._server.started:
            if not self._thread.is_alive():
                raise AgentServerError(
                    f"the station agent could not listen on {HOST}:{self.port} (port in use?)"
                )
            if time.monotonic() > deadline:
                raise AgentServerError("the station agent did not start within 30 s")
            time.sleep(0.02)
        with contextlib.suppress(AttributeError, IndexError):
            self.port = int(self._server.servers[0].sockets[0].getsockname()[1])

    def stop(self) -> None:
        self._closing.set()
        self._server.should_exit = True
        self._thread.join(GRACEFUL_S + 10)

    def __enter__(self) -> AgentServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve_forever(
    station: Station,
    *,
    port: int = DEFAULT_PORT,
    allowed_origin: str | None = None,
    log_level: str = "warning",
) -> bool:
    """Serve in the foreground until SIGINT/SIGTERM; False when the server could not start."""
    closing = threading.Event()
    config = _config(
        station,
        port=port,
        allowed_origin=allowed_origin,
        keepalive_s=DEFAULT_KEEPALIVE_S,
        closing=closing,
        log_level=log_level,
    )
    server = uvicorn.Server(config)
    server.run()
    closing.set()
    return bool(server.started)
