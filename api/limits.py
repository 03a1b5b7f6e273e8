"""Request body size limit, as pure ASGI middleware: bodies over the limit get 413.

Two checks: a ``Content-Length`` over the limit is refused before the application
runs (nothing is read); a body without one (``Transfer-Encoding: chunked``) is
counted as it streams in, and the read that crosses the limit raises
:class:`BodyTooLarge`. That exception is a Starlette ``HTTPException`` (413), so
FastAPI lets it through its body parsing and :mod:`api.problems` renders the
``payload-too-large`` problem; if it escapes to this middleware before a response
started, the middleware answers the same problem itself. 413 responses carry
``Connection: close`` so the server stops reading the rest of the body.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.problem_types import ProblemType
from api.problems import problem_response

_CLOSE = {"Connection": "close"}


class BodyTooLarge(HTTPException):
    """The request body crossed the configured limit."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            status_code=413,
            detail=f"the request body is larger than the {limit} bytes the server accepts",
            headers=_CLOSE,
        )
        self.limit = limit


class BodyLimitMiddleware:
    """Refuse request bodies larger than `max_bytes` with a 413 problem."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        if max_bytes < 1:
            raise ValueError(f"max_bytes must be positive, got {max_bytes}")
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and declared.strip().isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return

        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if started:
                raise
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem_response(
            ProblemType.PAYLOAD_TOO_LARGE,
            f"the request body is larger than the {self.max_bytes} bytes the server accepts",
            scope=scope,
            headers=_CLOSE,
        )
        await response(scope, receive, send)
