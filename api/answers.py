"""Answers already validated: send a response model's JSON as is.

A route whose return annotation is a model makes FastAPI validate the returned
object against that model again and serialise it; for a ``def`` route that
validation is one more hand-off to the thread pool. A route that builds its
answer model itself (pydantic validated it when it was built) declares the
model with ``response_model=`` (so the OpenAPI document describes it exactly as
before) and returns :func:`json_answer`, which FastAPI sends untouched.
"""

from __future__ import annotations

from fastapi import Response
from pydantic import BaseModel

JSON = "application/json"


def json_answer(model: BaseModel, *, status_code: int = 200) -> Response:
    """`model` as the JSON FastAPI would have sent for it (by alias, computed fields too)."""
    return Response(
        content=model.model_dump_json(by_alias=True), media_type=JSON, status_code=status_code
    )
