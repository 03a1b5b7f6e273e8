"""How ``cardsvc serve`` runs uvicorn; the API benchmark serves its floor app the same way.

:func:`run_server` is the one entry: uvicorn's options (:func:`uvicorn_options`) and, with
several workers, one ``SO_REUSEPORT`` socket per worker (:class:`ReusePortListener`).
"""

from __future__ import annotations

import socket
import sys
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


def run_server(
    app: str, *, host: str, port: int, workers: int, log_level: str, app_dir: str | None = None
) -> None:
    """Serve the app factory `app` ("module:function") with uvicorn until stopped.

    One worker: ``uvicorn.run``. Several: uvicorn's supervisor (it starts, pings and
    restarts the worker processes), but each worker listens on a socket of its own,
    bound to the same address with ``SO_REUSEPORT``, and the kernel spreads new
    connections over them. With uvicorn's one shared socket, every worker woke for each
    new connection and the first to run accepted all that were waiting: the 32
    keep-alive connections of a burst (a load balancer's, or a room of kiosks after a
    restart) often all went to ONE worker, and the others stayed idle for as long as
    those connections lived. Measured: ``GET /v1/persons/{ssn}/contributions`` with 32
    clients and 2 workers, about 400 answers/s when one worker held every connection,
    about 600/s when they were spread (docs/benchmarks.md).
    """
    import uvicorn  # noqa: PLC0415 - only the serving entry points need the server

    options = uvicorn_options(host=host, port=port, workers=workers, log_level=log_level)
    if workers <= 1:
        uvicorn.run(app, factory=True, app_dir=app_dir, **options)
        return
    from uvicorn.supervisors import Multiprocess  # noqa: PLC0415

    if app_dir is not None:
        sys.path.insert(0, app_dir)  # as uvicorn.run does (the workers inherit sys.path)
    config = uvicorn.Config(app, factory=True, **options)
    with ReusePortListener(host, port) as listener:  # the address, checked and held
        Multiprocess(config, sockets=[listener]).run()  # type: ignore[list-item]


class ReusePortListener:
    """A stand-in for the listening socket uvicorn's supervisor hands each worker.

    The supervisor process binds the address (``SO_REUSEPORT``, not listening: it takes
    no connection) so that a port in use is refused at once, in the parent. The
    supervisor passes its sockets to each worker it spawns by pickling them; this one
    unpickles as a NEW socket bound to the same address (:func:`reuse_port_socket`), so
    each worker has its own.
    """

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        # SO_REUSEPORT would let this join a server already listening there (another
        # `cardsvc serve`, say) and take half its connections: bind without it first.
        family, kind, proto, address = _address(host, port)
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is fine
            probe.bind(address)
        self._held = reuse_port_socket(host, port)

    def __enter__(self) -> ReusePortListener:
        return self

    def __exit__(self, *_: object) -> None:
        self._held.close()

    def __reduce__(self) -> tuple[Any, tuple[str, int]]:
        return reuse_port_socket, (self.host, self.port)


def reuse_port_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to (`host`, `port`) with ``SO_REUSEPORT``, not yet listening."""
    family, kind, proto, address = _address(host, port)
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def _address(host: str, port: int) -> tuple[int, int, int, Any]:
    """(family, type, protocol, address) to listen on `host`:`port` over TCP."""
    family, kind, proto, _name, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    return family, kind, proto, address
