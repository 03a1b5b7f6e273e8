"""TCP_NODELAY on the API's connections (api.nodelay), also on a socket handed down as
uvicorn's supervisor hands it to its workers (``proto`` 0)."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

import pytest
import uvicorn
import uvicorn.supervisors
from api_harness import free_port, migrated
from uvicorn.config import Config
from uvicorn.importer import import_from_string
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

from api.nodelay import HTTP_PROTOCOL, NoDelayH11Protocol
from cardsvc.cli.main import main


async def _app(scope: Any, receive: Any, send: Any) -> None:  # never called here
    raise AssertionError("no request is sent")


async def _nodelay_of_served_connection(protocol: type[H11Protocol]) -> int:
    config = Config(app=_app, log_level="warning")
    config.load()
    state = ServerState()
    # What uvicorn's bind_socket() makes for its workers: proto left at 0.
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    assert listener.proto == 0
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: protocol(config=config, server_state=state, app_state={}), sock=listener
    )
    try:
        _reader, writer = await asyncio.open_connection(*listener.getsockname())
        for _ in range(200):
            if state.connections:
                break
            await asyncio.sleep(0.01)
        (served,) = state.connections
        served_socket = served.transport.get_extra_info("socket")
        option = int(served_socket.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        writer.close()
        return option
    finally:
        server.close()
        await server.wait_closed()


def test_the_protocol_turns_nagle_off_on_a_handed_down_socket() -> None:
    assert asyncio.run(_nodelay_of_served_connection(NoDelayH11Protocol)) == 1


def test_without_it_such_a_socket_keeps_nagle_on() -> None:
    # The reason for api.nodelay: asyncio sets TCP_NODELAY only for sockets that say
    # IPPROTO_TCP. (If this starts failing, asyncio or uvicorn changed: re-check the need.)
    assert asyncio.run(_nodelay_of_served_connection(H11Protocol)) == 0


def test_serve_gives_uvicorn_the_protocol(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = migrated(f"sqlite:///{tmp_path / 'served.db'}")
    monkeypatch.setenv("CARDSVC_DATABASE_URL", url)  # serve sets it; restored after the test
    seen: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda *_args, **kwargs: seen.update(kwargs))
    assert main(["serve", "--database", url, "--port", str(free_port())]) == 0
    assert seen["http"] == HTTP_PROTOCOL  # one worker: uvicorn.run

    class Supervisor:  # several workers: uvicorn's supervisor, with api.serving's sockets
        def __init__(self, config: uvicorn.Config, sockets: list[Any]) -> None:
            seen["config"], seen["sockets"] = config, sockets

        def run(self) -> None:
            pass

    monkeypatch.setattr(uvicorn.supervisors, "Multiprocess", Supervisor)
    assert main(["serve", "--database", url, "--port", str(free_port()), "--workers", "2"]) == 0
    assert seen["config"].http == HTTP_PROTOCOL
    assert seen["config"].workers == 2
    assert [type(sock).__name__ for sock in seen["sockets"]] == ["ReusePortListener"]
    assert import_from_string(HTTP_PROTOCOL) is NoDelayH11Protocol  # what the workers load
