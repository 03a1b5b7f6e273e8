"""The ONE place where errors become HTTP responses: RFC 9457 ``application/problem+json``.

- :func:`install_problem_handling` registers the exception handlers (the API's own
  :class:`~api.errors.ApiError`, the services' errors, request validation, HTTP
  errors such as unknown routes, an unreachable database) and the outermost
  middleware that gives every request an id (``X-Request-ID``) and turns any
  unexpected exception into a 500 problem with no stack trace (the trace is logged
  server-side with the request id).
- :func:`problem_responses` is what route modules pass as ``responses=`` to declare
  the problems a route can answer; :func:`install_problem_openapi` makes the OpenAPI
  document truthful: problem bodies under ``application/problem+json`` and the
  problems every route can give (401/429 on authenticated routes, 409/422 with an
  ``Idempotency-Key``, 413 with a body, 422 with parameters, 500 and 503) added.

Problem types are listed in :mod:`api.problem_types`. Problem members besides the
RFC's five: ``field`` (the offending field or header), ``errors`` (each invalid
field of a malformed request), ``request_id``, ``retry_after`` (seconds),
``locked_until``, ``current`` (a record's current state), ``change_ids``.
Details never echo a submitted value (a password, a PIN, an ID number).
"""

from __future__ import annotations

import http
import json
import logging
import secrets
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import DataError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import ApiError
from api.problem_types import ABOUT_BLANK, SPECS, ProblemType, types_for_status
from cardsvc.rules.errors import RuleInputError
from cardsvc.services.errors import (
    ApprovalRequired,
    Conflict,
    IdempotencyKeyReused,
    NotFound,
    PermissionDenied,
    ServiceError,
    ValidationFailed,
)

logger = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"
REQUEST_ID_HEADER = "X-Request-ID"
_REQUEST_ID_KEY = "cardsvc.request_id"
_LOCATIONS = frozenset({"body", "query", "path", "header", "cookie"})

Location = Literal["body", "query", "path", "header", "cookie"]


class FieldProblem(BaseModel):
    """One invalid field of a malformed request."""

    field: str = Field(
        description="dotted path inside its location (`items.0.amount`), or the header name"
    )
    location: Location | None = Field(
        default=None, description="where the field is: body, query, path, header or cookie"
    )
    problem: str = Field(description="what is wrong with it (never echoes the value)")


class Problem(BaseModel):
    """An RFC 9457 problem detail; switch on `type`, show `title`/`detail` to people."""

    model_config = ConfigDict(title="Problem")

    type: str = Field(
        description="URI of the problem type: https://cardsvc.invalid/problems/<slug> "
        "(identifiers, not pages) or about:blank",
        examples=["https://cardsvc.invalid/problems/not-found"],
    )
    title: str = Field(description="short summary of the problem type")
    status: int = Field(description="the HTTP status code", ge=100, le=599)
    detail: str | None = Field(default=None, description="this occurrence, for people")
    instance: str | None = Field(
        default=None, description="identifies this occurrence: urn:cardsvc:request:<request_id>"
    )
    field: str | None = Field(default=None, description="the offending field or header")
    errors: list[FieldProblem] | None = Field(
        default=None, description="every invalid field (malformed requests)"
    )
    request_id: str | None = Field(default=None, description="the request's id, as logged")
    retry_after: int | None = Field(
        default=None, description="seconds to wait before retrying (as in Retry-After)"
    )
    locked_until: datetime | None = Field(
        default=None, description="when a locked account unlocks (UTC)"
    )
    current: str | None = Field(default=None, description="the record's current state")
    change_ids: list[int] | None = Field(
        default=None, description="the pending R05 changes that block the item"
    )


class ProblemResponse(JSONResponse):
    media_type = PROBLEM_MEDIA_TYPE


# --------------------------------------------------------------------------- building


def request_id_of(scope: Scope) -> str:
    """The id of the request (set by the middleware; a fresh one if it is missing)."""
    rid = scope.get(_REQUEST_ID_KEY)
    if isinstance(rid, str):
        return rid
    rid = secrets.token_hex(16)
    scope[_REQUEST_ID_KEY] = rid
    return rid


def make_problem(
    kind: ProblemType | int,
    detail: str | None,
    *,
    request_id: str,
    field: str | None = None,
    errors: Sequence[FieldProblem] | None = None,
    extensions: Mapping[str, Any] | None = None,
) -> Problem:
    """A Problem for a known type, or for a bare HTTP status (type about:blank)."""
    if isinstance(kind, ProblemType):
        type_uri, title, status = kind.uri, SPECS[kind].title, SPECS[kind].status
    else:
        type_uri, status = ABOUT_BLANK, kind
        try:
            title = http.HTTPStatus(kind).phrase
        except ValueError:
            title = "HTTP error"
    return Problem(
        type=type_uri,
        title=title,
        status=status,
        detail=detail,
        instance=f"urn:cardsvc:request:{request_id}",
        field=field,
        errors=list(errors) if errors is not None else None,
        request_id=request_id,
        **dict(extensions or {}),
    )


def render(problem: Problem, headers: Mapping[str, str] | None = None) -> Response:
    """The HTTP response carrying `problem`."""
    body = problem.model_dump(mode="json", exclude_none=True)
    return ProblemResponse(body, status_code=problem.status, headers=dict(headers or {}))


def problem_response(
    kind: ProblemType | int,
    detail: str | None,
    *,
    scope: Scope,
    field: str | None = None,
    headers: Mapping[str, str] | None = None,
    extensions: Mapping[str, Any] | None = None,
) -> Response:
    """Shortcut for middleware: build and render a problem for the request in `scope`."""
    problem = make_problem(
        kind, detail, request_id=request_id_of(scope), field=field, extensions=extensions
    )
    return render(problem, headers)


# --------------------------------------------------------------------------- mapping


def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    problem = make_problem(
        exc.kind,
        exc.detail,
        request_id=request_id_of(request.scope),
        field=exc.field,
        extensions=exc.extensions,
    )
    logger.info("%s %s: %s (%s)", request.method, request.url.path, exc.kind.value, exc.detail)
    return render(problem, exc.headers)


def _service_kind(exc: ServiceError) -> tuple[ProblemType, dict[str, Any], str | None]:
    if isinstance(exc, NotFound):
        return ProblemType.NOT_FOUND, {}, None
    if isinstance(exc, PermissionDenied):
        return ProblemType.FORBIDDEN, {}, None
    if isinstance(exc, ValidationFailed):
        return ProblemType.INVALID_VALUE, {}, exc.field
    if isinstance(exc, IdempotencyKeyReused):
        return ProblemType.IDEMPOTENCY_KEY_REUSED, {}, "Idempotency-Key"
    if isinstance(exc, ApprovalRequired):
        return ProblemType.APPROVAL_REQUIRED, {"change_ids": list(exc.change_ids)}, None
    if isinstance(exc, Conflict):
        return ProblemType.CONFLICT, {"current": exc.current}, None
    return ProblemType.CONFLICT, {}, None


def _service_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ServiceError)
    kind, extensions, field = _service_kind(exc)
    problem = make_problem(
        kind, str(exc), request_id=request_id_of(request.scope), field=field, extensions=extensions
    )
    logger.info("%s %s: %s (%s)", request.method, request.url.path, kind.value, exc)
    return render(problem)


def _rule_input_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RuleInputError)
    problem = make_problem(
        ProblemType.INVALID_VALUE,
        str(exc),
        request_id=request_id_of(request.scope),
        field=exc.field,
    )
    return render(problem)


def field_problems(errors: Sequence[Any]) -> list[FieldProblem]:
    """pydantic/FastAPI error dicts → FieldProblem (the submitted input is never copied)."""
    result: list[FieldProblem] = []
    for error in errors:
        loc = tuple(error.get("loc", ()))
        location: Location | None = None
        if loc and loc[0] in _LOCATIONS:
            location = loc[0]
            loc = loc[1:]
        parts = [str(part) for part in loc]
        if location == "body" and len(parts) == 1 and error.get("type") == "json_invalid":
            name = "body"
            problem = f"not valid JSON (at character {parts[0]})"
        else:
            name = ".".join(parts) if parts else (location or "request")
            problem = str(error.get("msg", "invalid"))
        result.append(FieldProblem(field=name, location=location, problem=problem))
    return result


def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    problems = field_problems(exc.errors())
    shown = "; ".join(f"{p.field}: {p.problem}" for p in problems[:5])
    more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
    count = "1 invalid field" if len(problems) == 1 else f"{len(problems)} invalid fields"
    problem = make_problem(
        ProblemType.INVALID_REQUEST,
        f"{count}: {shown}{more}",
        request_id=request_id_of(request.scope),
        field=problems[0].field if problems else None,
        errors=problems,
    )
    return render(problem)


_HTTP_KINDS: dict[int, ProblemType] = {
    401: ProblemType.UNAUTHENTICATED,
    404: ProblemType.NOT_FOUND,
    405: ProblemType.METHOD_NOT_ALLOWED,
    413: ProblemType.PAYLOAD_TOO_LARGE,
    429: ProblemType.RATE_LIMITED,
}


def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    if status == 400:
        # FastAPI/Starlette: a body that cannot be decoded at all (not UTF-8, broken form):
        # the same problem as any other malformed request.
        body = FieldProblem(
            field="body", location="body", problem="cannot be parsed (is it UTF-8 JSON?)"
        )
        problem = make_problem(
            ProblemType.INVALID_REQUEST,
            f"1 invalid field: body: {body.problem}",
            request_id=request_id_of(request.scope),
            field="body",
            errors=[body],
        )
        return render(problem, exc.headers)
    kind: ProblemType | int = _HTTP_KINDS.get(status, status)
    phrase = _phrase(status)
    detail = exc.detail if isinstance(exc.detail, str) and exc.detail != phrase else None
    if detail is None:
        detail = {
            404: "there is no resource at this path",
            405: f"{request.method} is not allowed on this path",
            413: "the request body is larger than the server accepts",
        }.get(status, phrase)
    problem = make_problem(kind, detail, request_id=request_id_of(request.scope))
    headers = dict(exc.headers or {})
    if status == 405:
        allowed = allowed_methods(request)
        if allowed:
            headers["Allow"] = ", ".join(allowed)
    return render(problem, headers)


_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")


def allowed_methods(request: Request) -> list[str]:
    """Every method some route of the app serves at this request's path.

    Starlette answers 405 with the methods of the first route whose path matched;
    a path served by several routes (e.g. POST and DELETE on one path, two
    functions) needs the union: each method is tried against the app's routes.
    """
    routes = request.app.router.routes
    allowed = []
    for method in _METHODS:
        scope = {**request.scope, "method": method}
        if any(route.matches(scope)[0] is Match.FULL for route in routes):
            allowed.append(method)
    return allowed


def _database_unavailable(request: Request, exc: Exception) -> Response:
    rid = request_id_of(request.scope)
    logger.warning("request %s: database error: %s", rid, _first_line(exc))
    problem = make_problem(
        ProblemType.SERVICE_UNAVAILABLE,
        "the database is not available: retry later",
        request_id=rid,
        extensions={"retry_after": 5},
    )
    return render(problem, {"Retry-After": "5"})


def _data_error(request: Request, exc: Exception) -> Response:
    """The database refused a value that passed validation (a route's bounds are too loose)."""
    rid = request_id_of(request.scope)
    logger.warning("request %s: the database refused a value: %s", rid, _first_line(exc))
    problem = make_problem(
        ProblemType.INVALID_VALUE,
        "a value in the request cannot be stored (out of range, or characters the "
        "database refuses)",
        request_id=rid,
    )
    return render(problem)


def _phrase(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "HTTP error"


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class RequestContextMiddleware:
    """Outermost middleware: a request id for every request, and the catch-all 500.

    The id is a fresh random hex string (client-sent ids are not trusted), sent
    back in ``X-Request-ID`` and put in every problem. An exception that escapes
    the application is logged with its traceback and the request id, and answered
    with a 500 problem that says nothing about its cause.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = secrets.token_hex(16)
        scope[_REQUEST_ID_KEY] = rid
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = list(message.get("headers", []))
                headers.append((REQUEST_ID_HEADER.lower().encode(), rid.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            logger.exception(
                "request %s: unhandled error in %s %s", rid, scope.get("method"), scope.get("path")
            )
            if started:
                return  # too late for a problem: the server closes the connection
            response = problem_response(
                ProblemType.INTERNAL_ERROR,
                "an unexpected error occurred; quote the request id when reporting it",
                scope=scope,
            )
            await response(scope, receive, send_with_id)


def install_problem_handling(app: FastAPI) -> None:
    """Register every error mapping on `app` and the request-id/catch-all middleware.

    Call it before adding other middleware: the catch-all must stay outermost, so
    add it LAST (Starlette wraps later middleware around earlier ones);
    :func:`api.app.create_app` does this in the right order.
    """
    handlers: list[tuple[type[Exception], Callable[[Request, Exception], Response]]] = [
        (ApiError, _api_error),
        (ServiceError, _service_error),
        (RuleInputError, _rule_input_error),
        (RequestValidationError, _validation_error),
        (StarletteHTTPException, _http_error),
        (OperationalError, _database_unavailable),
        (DataError, _data_error),
    ]
    for exc_class, handler in handlers:
        app.add_exception_handler(exc_class, handler)


# --------------------------------------------------------------------------- OpenAPI

_PROBLEM_REF = "#/components/schemas/Problem"
_RETRY_AFTER_STATUSES = frozenset({409, 423, 429, 503})


def _problem_content() -> dict[str, Any]:
    return {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": _PROBLEM_REF}}}


def _describe(status: int, kinds: Sequence[ProblemType] | None = None) -> str:
    if kinds is None:
        kinds = types_for_status(status)
    if not kinds:
        return _phrase(status)
    lines = [f"`{kind.value}`: {SPECS[kind].meaning}" for kind in kinds]
    return f"{_phrase(status)}. Problem types: " + "; ".join(lines) + "."


def _response_spec(
    status: int, description: str | None = None, kinds: Sequence[ProblemType] | None = None
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "description": description or _describe(status, kinds),
        "content": _problem_content(),
    }
    if status in _RETRY_AFTER_STATUSES:
        spec["headers"] = {
            "Retry-After": {
                "description": "seconds to wait before retrying",
                "schema": {"type": "integer"},
            }
        }
    return spec


def problem_responses(*statuses: int, **described: str) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route: the problem statuses it can answer besides the usual.

    ``problem_responses(404, 409)`` declares problem bodies for 404 and 409 with
    descriptions listing their problem types. A route-specific description can be
    given by keyword: ``problem_responses(s404="no such person in your sites")``.
    The statuses every route shares (401, 429, 409/422 for idempotent writes, 413,
    422, 500, 503) are added to the OpenAPI document automatically.
    """
    result: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        result[status] = _response_spec(status)
    for name, description in described.items():
        if not (name.startswith("s") and name[1:].isdigit()):
            raise TypeError(f"problem_responses: keyword must look like s404, got {name!r}")
        status = int(name[1:])
        result[status] = _response_spec(status, description)
    return result


def _operation_problems(operation: dict[str, Any]) -> dict[int, list[ProblemType]]:
    """The problems every operation of this shape can answer, by status."""
    problems: dict[int, list[ProblemType]] = {500: [ProblemType.INTERNAL_ERROR]}
    if operation.pop("x-database", True):
        problems[503] = [ProblemType.SERVICE_UNAVAILABLE]
    params = operation.get("parameters", [])
    if params or "requestBody" in operation:
        problems[422] = [ProblemType.INVALID_REQUEST]
    if "requestBody" in operation:
        problems[413] = [ProblemType.PAYLOAD_TOO_LARGE]
    if operation.get("security"):
        problems[401] = [ProblemType.UNAUTHENTICATED, ProblemType.INVALID_TOKEN]
        problems[429] = [ProblemType.RATE_LIMITED]
    if any(p.get("in") == "header" and p.get("name") == "Idempotency-Key" for p in params):
        problems[409] = [ProblemType.IDEMPOTENCY_IN_PROGRESS]
        problems.setdefault(422, []).append(ProblemType.IDEMPOTENCY_KEY_REUSED)
    return problems


def _fix_operation(operation: dict[str, Any]) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    for code, response in list(responses.items()):
        content = response.get("content", {})
        json_schema = content.get("application/json", {}).get("schema", {})
        ref = json_schema.get("$ref", "")
        if ref.endswith("/HTTPValidationError"):
            del responses[code]
        elif ref == _PROBLEM_REF:
            content.pop("application/json")
            content[PROBLEM_MEDIA_TYPE] = {"schema": json_schema}
    for status, kinds in sorted(_operation_problems(operation).items()):
        responses.setdefault(str(status), _response_spec(status, kinds=kinds))


def _unused_schema(document: dict[str, Any], name: str) -> bool:
    return f'"#/components/schemas/{name}"' not in json.dumps(document)


def install_problem_openapi(app: FastAPI) -> None:
    """Replace ``app.openapi`` by a generator that documents the problem responses."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = get_openapi(
            title=app.title,
            version=app.version,
            openapi_version=app.openapi_version,
            summary=app.summary,
            description=app.description,
            routes=app.routes,
            tags=app.openapi_tags,
            servers=app.servers,
        )
        for item in document.get("paths", {}).values():
            for method, operation in item.items():
                if method in {"get", "put", "post", "delete", "patch", "head", "options"}:
                    _fix_operation(operation)
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        problem_schema = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, schema in problem_schema.pop("$defs", {}).items():
            schemas.setdefault(name, schema)
        schemas["Problem"] = problem_schema
        for name in ("HTTPValidationError", "ValidationError"):
            if name in schemas:
                schema = schemas.pop(name)
                if not _unused_schema(document, name):
                    schemas[name] = schema
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]
