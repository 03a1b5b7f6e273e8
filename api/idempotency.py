"""``Idempotency-Key`` for every write route: store the response, replay it, refuse misuse.

How a route uses it: declare the dependency alias (``IdempotencyKeyDep`` from
:mod:`api.deps`) as a parameter::

    @router.post("/things", status_code=201, responses=problem_responses(404))
    def create_thing(body: ThingIn, idem: IdempotencyKeyDep, actor: ActorDep) -> ThingOut:
        ...  # idem.key can be passed on to the services' own idempotency

That is all: the header becomes a required, documented parameter, and
:class:`IdempotencyMiddleware` (installed by ``create_app``) does the rest.

What happens, per caller (``operator:<id>`` / ``device:<id>``) and key:

1. The dependency fingerprints the request (SHA-256 of method, path, query and
   body; a JSON body is canonicalised first, so key order and spacing do not
   matter) and claims the key: an ``in_progress`` row is inserted and COMMITTED
   before the route's work starts (``INSERT … ON CONFLICT DO NOTHING``).
2. If the key already has a row:
   - completed, same fingerprint → the stored status, headers and body are sent
     again (``Idempotent-Replayed: true``), the route does not run;
   - another fingerprint → 422 ``idempotency-key-reused``;
   - in progress → 409 ``idempotency-request-in-progress`` (Retry-After: 1); an
     in-progress row older than ``idempotency_timeout_s`` (its process died) is
     taken over by replacing its claim token (compare-and-set);
   - completed longer ago than ``idempotency_retention_s`` → the key is free again.
3. The middleware holds the route's response back, stores it with the key when the
   status is below 400, then sends it. A refused or failed request (status ≥ 400,
   or an exception) releases the key: nothing happened, a retry is evaluated
   afresh (as the services do with their own idempotency records).

If a process dies after the work committed but before the response was stored,
the retry (after the timeout) runs the route again; the services' own
idempotency record, written in the same transaction as the effect, then answers
with the first result, so the effect still happens once.

Authentication routes take no key: a sign-in's response holds a secret that must
not be stored, and logging out twice is harmless.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Request
from sqlalchemy import delete, select, update
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.context import ApiContext, get_context
from api.errors import ApiError, IdempotencyInProgress, IdempotencyKeyMismatch
from api.security import Principal, authenticate
from api.sql import upsert_insert
from cardsvc.db.models import HttpIdempotencyRecord, IdempotencyState

logger = logging.getLogger(__name__)

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
KEY_PATTERN = r"^[!-~]{1,128}$"
MAX_KEY_LENGTH = 128

_SLOT_KEY = "cardsvc.idempotency"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
# Response headers not worth storing (they are recomputed, or belong to one exchange).
_UNSTORED_HEADERS = frozenset(
    {"content-length", "date", "server", "connection", "transfer-encoding", "x-request-id"}
)


@dataclass(frozen=True, slots=True)
class StoredResponse:
    status_code: int
    headers: list[tuple[str, str]]
    body: bytes


@dataclass(frozen=True, slots=True)
class IdempotencyKey:
    """What a write route gets: the key, the caller's scope and the request fingerprint."""

    key: str
    scope: str
    request_hash: str
    replay: StoredResponse | None = None
    """Set when the key already holds this request's response: the endpoint wrapper
    (see `_deferring_endpoint`) sends it instead of running the route."""


@dataclass(frozen=True, slots=True)
class _Claim:
    context: ApiContext
    scope: str
    key: str
    token: str


@dataclass
class _Slot:
    """Per-request hand-over from the dependency to the middleware."""

    claim: _Claim | None = None


class IdempotentReplay(ApiError):  # noqa: N818 - a signal, not a failure
    """Not a failure: the request was done before; answer with `stored` (handled below)."""

    def __init__(self, stored: StoredResponse) -> None:
        super().__init__("replay of a stored response")
        self.stored = stored


def fingerprint(method: str, path: str, query: str, body: bytes, card_session: str = "") -> str:
    """SHA-256 over method, path, query, the card session and (canonical JSON, else raw) body.

    The X-Card-Session header is part of it: it changes whom a request is for, so the
    same key under another card session is another request, never a replay.
    """
    canonical = body
    if body:
        try:
            parsed = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            pass
        else:
            canonical = json.dumps(
                parsed, sort_keys=True, separators=(",", ":"), ensure_ascii=False
            ).encode("utf-8")
    digest = hashlib.sha256()
    for part in (method.upper().encode(), path.encode(), query.encode(), card_session.encode()):
        digest.update(len(part).to_bytes(4, "big") + part)
    digest.update(canonical)
    return digest.hexdigest()


# --------------------------------------------------------------------------- database


def _claim(
    context: ApiContext, *, scope: str, key: str, method: str, path: str, request_hash: str
) -> _Claim | StoredResponse:
    """Claim (scope, key) for this request, or return the stored response to replay."""
    settings = context.settings
    now = context.now()
    token = secrets.token_hex(16)
    claim = _Claim(context, scope, key, token)
    fresh = {
        "method": method,
        "path": path[:512],
        "request_hash": request_hash,
        "state": IdempotencyState.IN_PROGRESS,
        "claim_token": token,
        "started_at": now,
        "completed_at": None,
        "status_code": None,
        "response_headers": None,
        "response_body": None,
    }
    with context.database.unit_of_work() as uow:
        session = uow.session
        row: HttpIdempotencyRecord | None = None
        for _attempt in range(3):  # the row can vanish between INSERT and SELECT (a release)
            inserted = session.execute(
                upsert_insert(session, HttpIdempotencyRecord)
                .values(scope=scope, key=key, **fresh)
                .on_conflict_do_nothing(
                    index_elements=[HttpIdempotencyRecord.scope, HttpIdempotencyRecord.key]
                )
                .returning(HttpIdempotencyRecord.key)
            ).scalar_one_or_none()
            if inserted is not None:
                return claim
            row = session.execute(
                select(HttpIdempotencyRecord).where(
                    HttpIdempotencyRecord.scope == scope, HttpIdempotencyRecord.key == key
                )
            ).scalar_one_or_none()
            if row is not None:
                break
        if row is None:
            raise IdempotencyInProgress(
                "a request with this key is being settled: retry shortly", retry_after_s=1
            )
        retention = timedelta(seconds=settings.idempotency_retention_s)
        expired = (
            row.state is IdempotencyState.COMPLETED
            and row.completed_at is not None
            and row.completed_at < now - retention
        )
        if not expired and row.request_hash != request_hash:
            raise IdempotencyKeyMismatch(
                f"this {HEADER} was already used for another request (another method, "
                "path or body): use a new key for a new request"
            )
        if row.state is IdempotencyState.COMPLETED and not expired:
            if row.status_code is None:  # pragma: no cover - the CHECK constraint forbids it
                raise IdempotencyInProgress("the stored response is missing", retry_after_s=1)
            return StoredResponse(
                status_code=row.status_code,
                headers=[(str(k), str(v)) for k, v in (row.response_headers or {}).get("h", [])],
                body=row.response_body or b"",
            )
        stale = row.started_at < now - timedelta(seconds=settings.idempotency_timeout_s)
        if row.state is IdempotencyState.IN_PROGRESS and not stale:
            raise IdempotencyInProgress(
                "a request with this key is still running: retry shortly for its response",
                retry_after_s=1,
            )
        taken = session.execute(
            update(HttpIdempotencyRecord)
            .where(
                HttpIdempotencyRecord.scope == scope,
                HttpIdempotencyRecord.key == key,
                HttpIdempotencyRecord.claim_token == row.claim_token,
            )
            .values(**fresh)
            .execution_options(synchronize_session=False)
        )
        if not getattr(taken, "rowcount", 0):
            raise IdempotencyInProgress(
                "a request with this key is still running: retry shortly", retry_after_s=1
            )
        logger.warning("idempotency key of %s taken over (stale or expired record)", scope)
        return claim


def _complete(claim: _Claim, stored: StoredResponse) -> bool:
    context = claim.context
    with context.database.unit_of_work() as uow:
        result = uow.session.execute(
            update(HttpIdempotencyRecord)
            .where(
                HttpIdempotencyRecord.scope == claim.scope,
                HttpIdempotencyRecord.key == claim.key,
                HttpIdempotencyRecord.claim_token == claim.token,
                HttpIdempotencyRecord.state == IdempotencyState.IN_PROGRESS,
            )
            .values(
                state=IdempotencyState.COMPLETED,
                completed_at=context.now(),
                status_code=stored.status_code,
                response_headers={"h": [list(pair) for pair in stored.headers]},
                response_body=stored.body,
            )
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(result, "rowcount", 0))


def _release(claim: _Claim) -> None:
    with claim.context.database.unit_of_work() as uow:
        uow.session.execute(
            delete(HttpIdempotencyRecord).where(
                HttpIdempotencyRecord.scope == claim.scope,
                HttpIdempotencyRecord.key == claim.key,
                HttpIdempotencyRecord.claim_token == claim.token,
                HttpIdempotencyRecord.state == IdempotencyState.IN_PROGRESS,
            )
        )


# --------------------------------------------------------------------------- dependency


async def require_idempotency_key(
    request: Request,
    key: Annotated[
        str,
        Header(
            alias=HEADER,
            min_length=1,
            max_length=MAX_KEY_LENGTH,
            pattern=KEY_PATTERN,
            description="A new client-chosen key (e.g. a UUID) for each new write; send the "
            "same key with the same body to retry safely. 1-128 printable ASCII characters.",
        ),
    ],
    principal: Annotated[Principal, Depends(authenticate)],
    context: Annotated[ApiContext, Depends(get_context)],
) -> IdempotencyKey:
    """Claim the key for this request, or replay / refuse (see the module docstring)."""
    slot = request.scope.get(_SLOT_KEY)
    if not isinstance(slot, _Slot):
        raise RuntimeError(  # noqa: TRY004 - a wiring mistake, not a bad value
            "IdempotencyMiddleware is not installed (use api.app.create_app)"
        )
    body = await request.body()
    request_hash = fingerprint(
        request.method,
        request.url.path,
        request.url.query,
        body,
        request.headers.get("x-card-session", ""),
    )
    outcome = await run_in_threadpool(
        functools.partial(
            _claim,
            context,
            scope=principal.scope,
            key=key,
            method=request.method,
            path=request.url.path,
            request_hash=request_hash,
        )
    )
    if isinstance(outcome, StoredResponse):
        route = request.scope.get("route")
        if not getattr(getattr(route, "endpoint", None), _DEFERS_REPLAY, False):
            raise IdempotentReplay(outcome)
        # The route's own parameters are validated after its dependencies: its endpoint
        # (wrapped by api.routing.ApiRouter) sends the replay only once they passed, so
        # an invalid request gets its 422 even when key and body match a stored response.
        return IdempotencyKey(
            key=key, scope=principal.scope, request_hash=request_hash, replay=outcome
        )
    slot.claim = outcome
    return IdempotencyKey(key=key, scope=principal.scope, request_hash=request_hash)


def _replay(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, IdempotentReplay)
    stored = exc.stored
    response = Response(content=stored.body, status_code=stored.status_code)
    for name, value in stored.headers:
        if name.lower() != "content-length":
            response.headers.append(name, value)
    response.headers[REPLAYED_HEADER] = "true"
    return response


# --------------------------------------------------------------------------- middleware


class IdempotencyMiddleware:
    """Stores (or releases) the claim the dependency made; see the module docstring.

    Only requests whose route claimed a key are buffered; everything else passes
    straight through.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method", "GET") in _SAFE_METHODS:
            await self.app(scope, receive, send)
            return
        slot = _Slot()
        scope[_SLOT_KEY] = slot
        start: Message | None = None
        chunks: list[bytes] = []

        async def holding_send(message: Message) -> None:
            nonlocal start
            if slot.claim is None:
                await send(message)
            elif message["type"] == "http.response.start":
                start = message
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
            else:
                await send(message)

        try:
            await self.app(scope, receive, holding_send)
        except BaseException:
            if slot.claim is not None:
                await run_in_threadpool(_release, slot.claim)
            raise
        claim = slot.claim
        if claim is None:
            return
        if start is None:  # the route sent nothing: nothing to store
            await run_in_threadpool(_release, claim)
            return
        status = int(start["status"])
        body = b"".join(chunks)
        if status >= 400:
            await run_in_threadpool(_release, claim)
        else:
            headers = [
                (k.decode("latin-1"), v.decode("latin-1"))
                for k, v in start.get("headers", [])
                if k.decode("latin-1").lower() not in _UNSTORED_HEADERS
            ]
            stored = StoredResponse(status, headers, body)
            try:
                kept = await run_in_threadpool(_complete, claim, stored)
            except Exception:
                logger.exception("could not store the response for an idempotency key")
                kept = True
            if not kept:
                logger.warning("idempotency record of %s was taken over meanwhile", claim.scope)
        await send(start)
        await send({"type": "http.response.body", "body": body, "more_body": False})


_DEFERS_REPLAY = "_cardsvc_defers_replay"


def deferring_endpoint(call: Callable[..., Any]) -> Callable[..., Any]:
    """`call`, answering a pending replay instead of running: FastAPI calls an endpoint
    only after every parameter was validated. Idempotent on an already wrapped `call`."""
    if getattr(call, _DEFERS_REPLAY, False):
        return call

    def check(arguments: dict[str, Any]) -> None:
        for value in arguments.values():
            if isinstance(value, IdempotencyKey) and value.replay is not None:
                raise IdempotentReplay(value.replay)

    if inspect.iscoroutinefunction(call):

        @functools.wraps(call)
        async def async_endpoint(*args: Any, **kwargs: Any) -> Any:
            check(kwargs)
            return await call(*args, **kwargs)

        endpoint: Callable[..., Any] = async_endpoint
    else:

        @functools.wraps(call)
        def sync_endpoint(*args: Any, **kwargs: Any) -> Any:
            check(kwargs)
            return call(*args, **kwargs)

        endpoint = sync_endpoint
    setattr(endpoint, _DEFERS_REPLAY, True)
    return endpoint


def install_idempotency(app: FastAPI) -> None:
    """Register the replay handler and the middleware on `app` (``create_app`` does)."""
    app.add_exception_handler(IdempotentReplay, _replay)
    app.add_middleware(IdempotencyMiddleware)
