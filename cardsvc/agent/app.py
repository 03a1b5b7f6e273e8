"""The agent's local HTTP interface (FastAPI): the card, PIN, caller sessions, events.

Routes (all JSON except the reader string and the event stream; errors problem+json):

- ``GET /v1/health``: pcscd, readers, the card and SAM readers, the API; ok/degraded
- ``GET /v1/card``: the presented card (404 ``no-card``)
- ``GET /v1/card/reader-string``: the section-8 string (text/plain; charset=utf-8)
- ``POST /v1/card/pin/verify`` ``{"pin"}``: ``{"verified": true}`` or ``wrong-pin``
  (``tries_left``), ``pin-blocked``
- ``POST /v1/card/pin/change`` ``{"old_pin", "new_pin"}``
- ``POST /v1/card/pin/reload`` ``{"new_pin", "id_checked"}`` + the clerk's bearer token
- ``POST /v1/card/session`` + the caller's bearer token: the API's VerifiedCardSession
  for that caller (X-Card-Session at the API from then on)
- ``GET /v1/events``: server-sent events card-inserted, card-removed, card-error,
  reader-added, reader-removed, and ``: keep-alive`` comments

The PIN bodies are SecretStr: never logged, never echoed (validation problems name
the field only). No route returns a PIN.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any, Final

from fastapi import FastAPI, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, SecretStr
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import PlainTextResponse, Response, StreamingResponse

from cardsvc.agent.guard import LocalGuard
from cardsvc.agent.problems import problem, station_problem
from cardsvc.station import NoCardPresent, Station, StationError, StationEvent

logger = logging.getLogger(__name__)

DEFAULT_KEEPALIVE_S: Final = 15.0
_PIN = r"^[0-9]{4,12}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PinVerify(_Strict):
    pin: SecretStr = Field(min_length=4, max_length=12, description="4-12 digits")


class PinChange(_Strict):
    old_pin: SecretStr = Field(min_length=4, max_length=12)
    new_pin: SecretStr = Field(min_length=4, max_length=12)


class PinReload(_Strict):
    new_pin: SecretStr = Field(min_length=4, max_length=12)
    id_checked: bool = Field(
        default=False, description="the clerk checked the holder's ID document (the API needs it)"
    )


def _digits(value: SecretStr, field: str) -> str:
    text = value.get_secret_value()
    if not text.isascii() or not text.isdigit():
        raise _FieldError(field, "a PIN is 4 to 12 digits")
    return text


class _FieldError(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def _bearer(authorization: str | None) -> str:
    if authorization is None or not authorization.lower().startswith("bearer "):
        raise StationAuthMissing()
    token = authorization[7:].strip()
    if not token:
        raise StationAuthMissing()
    return token


class StationAuthMissing(Exception):  # noqa: N818 - a problem, not a bug
    pass


def create_agent_app(
    station: Station,
    *,
    allowed_origin: str | None = None,
    keepalive_s: float = DEFAULT_KEEPALIVE_S,
    manage_station: bool = False,
    closing: threading.Event | None = None,
) -> Any:
    """The ASGI app (wrapped in the loopback/Origin guard). `manage_station`: start and
    stop the station with the app's lifespan; `closing` set ends the event streams."""
    closing = closing or threading.Event()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if manage_station:
            await asyncio.to_thread(station.start)
        try:
            yield
        finally:
            closing.set()
            if manage_station:
                await asyncio.to_thread(station.stop)

    app = FastAPI(
        title="cardsvc station agent",
        version="1",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url="/v1/openapi.json",
    )
    _install_errors(app)

    @app.get("/v1/health")
    def health() -> dict[str, Any]:
        return station.health()

    @app.get("/v1/card", responses={404: {"description": "`no-card`"}})
    def card() -> Any:
        current = station.card()
        if current is None:
            raise NoCardPresent("no card in the reader: insert the card")
        return current

    @app.get("/v1/card/reader-string", response_class=PlainTextResponse)
    def card_reader_string() -> PlainTextResponse:
        return PlainTextResponse(station.reader_string(), media_type="text/plain; charset=utf-8")

    @app.post("/v1/card/pin/verify")
    def pin_verify(body: PinVerify) -> dict[str, bool]:
        station.verify_pin(_digits(body.pin, "pin"))
        return {"verified": True}

    @app.post("/v1/card/pin/change")
    def pin_change(body: PinChange) -> dict[str, bool]:
        station.change_pin(_digits(body.old_pin, "old_pin"), _digits(body.new_pin, "new_pin"))
        return {"changed": True}

    @app.post("/v1/card/pin/reload")
    def pin_reload(
        body: PinReload, authorization: Annotated[str | None, Header()] = None
    ) -> dict[str, Any]:
        token = _bearer(authorization)
        new_pin = _digits(body.new_pin, "new_pin")
        return station.reload_pin(new_pin, token, id_checked=body.id_checked)

    @app.post("/v1/card/session")
    def card_session(authorization: Annotated[str | None, Header()] = None) -> dict[str, Any]:
        return station.open_session(_bearer(authorization))

    @app.get("/v1/events")
    async def events(
        ping: Annotated[
            float | None, Query(ge=0.2, le=300, description="keep-alive interval (seconds)")
        ] = None,
    ) -> StreamingResponse:
        interval = ping or keepalive_s
        loop = asyncio.get_running_loop()
        inbox: asyncio.Queue[StationEvent] = asyncio.Queue()

        def deliver(event: StationEvent) -> None:  # on the station's thread
            loop.call_soon_threadsafe(inbox.put_nowait, event)

        station.add_listener(deliver)

        async def stream() -> AsyncIterator[bytes]:
            try:
                yield b"retry: 2000\n: connected\n\n"
                while not closing.is_set():
                    try:
                        event = await asyncio.wait_for(inbox.get(), timeout=interval)
                    except TimeoutError:
                        yield b": keep-alive\n\n"
                        continue
                    data = json.dumps(event.data, ensure_ascii=False, separators=(",", ":"))
                    yield f"event: {event.kind}\ndata: {data}\n\n".encode()
            finally:
                station.remove_listener(deliver)

        return StreamingResponse(
            stream(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    return LocalGuard(app, allowed_origin)


def _install_errors(app: FastAPI) -> None:
    @app.exception_handler(StationError)
    async def station_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StationError)
        return station_problem(exc)

    @app.exception_handler(_FieldError)
    async def field_problem(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, _FieldError)
        return problem(422, "invalid-value", exc.message, field=exc.field)

    @app.exception_handler(StationAuthMissing)
    async def no_token(request: Request, exc: Exception) -> Response:
        return problem(
            401,
            "unauthenticated",
            "send the caller's API token as `Authorization: Bearer <token>`",
            field="Authorization",
            headers={"WWW-Authenticate": "Bearer"},
        )

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        errors = [
            {
                "field": ".".join(str(p) for p in error.get("loc", ())[1:]) or "body",
                "location": str(error.get("loc", ("body",))[0]),
                "problem": str(error.get("msg", "invalid")),
            }
            for error in exc.errors()
        ]  # never the submitted value (a PIN)
        first = errors[0]["field"] if errors else None
        return problem(
            422, "invalid-request", "the request body is malformed", field=first,
            extra={"errors": errors},
        )  # fmt: skip

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        slug = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "invalid-request")
        return problem(exc.status_code, slug, str(exc.detail), headers=exc.headers)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        logger.exception("the agent failed on %s %s", request.method, request.url.path)
        return problem(500, "internal-error", "the station agent failed: see its log")
