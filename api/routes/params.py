"""Parameter and field types several route modules share, and the one way to refuse a
value its schema lets through (a 422 ``invalid-request`` naming it, as FastAPI's own
validation does).

The value types are strict where pydantic's lax parsing would accept what the OpenAPI
document says is wrong: a date must be written ``YYYY-MM-DD`` (not ``0``, read as the
Unix epoch), a date-time must be RFC 3339 with an offset (not a bare number), a boolean
must be ``true``/``false`` (not ``1``, ``"yes"`` or ``"on"``).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Annotated, Literal

from fastapi import Path
from fastapi.exceptions import RequestValidationError
from pydantic import AwareDatetime, BeforeValidator

SITE_CODE_PATTERN = r"^[0-9]{6}([0-9]{3}){0,2}$"

EARLIEST_DAY = date(1900, 1, 1)
"""Days before it hold no records (the journal is stamped with the server clock)."""
LATEST_DAY = date(9998, 12, 31)

SiteCodePath = Annotated[
    str,
    Path(
        min_length=6,
        max_length=12,
        pattern=SITE_CODE_PATTERN,
        description="the site's administrative division code: 6 digits (city, district), "
        "9 (township office) or 12 (community/village station)",
        examples=["370402"],
    ),
]

_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?"
    r"([Zz]|[+-][0-9]{2}:[0-9]{2})"
)
_BOOLEANS = {"true": True, "false": False}


def _date_text(value: object) -> object:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str) and _ISO_DATE.fullmatch(value):
        return value
    raise ValueError("must be a date written YYYY-MM-DD")


def _date_time_text(value: object) -> object:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and _RFC3339.fullmatch(value):
        return value
    raise ValueError("must be an RFC 3339 date-time with an offset, e.g. 2025-03-10T08:00:00Z")


def _boolean(value: object) -> object:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value in _BOOLEANS:
        return _BOOLEANS[value]
    raise ValueError("must be true or false")


IsoDate = Annotated[date, BeforeValidator(_date_text)]
"""A date written YYYY-MM-DD (JSON Schema: string, format date)."""
IsoDateTime = Annotated[AwareDatetime, BeforeValidator(_date_time_text)]
"""An RFC 3339 date-time with an offset (JSON Schema: string, format date-time)."""
StrictBoolean = Annotated[bool, BeforeValidator(_boolean)]
"""true or false, nothing else (JSON true/false; in a query, the words)."""

Location = Literal["path", "query", "header", "body"]


def bad_parameter(location: Location, name: str, problem: str) -> RequestValidationError:
    """The error for a parameter value the route cannot use (render: 422, naming it)."""
    return RequestValidationError(
        [{"loc": (location, name), "msg": problem, "type": "value_error"}]
    )


def day_in_range(day: date) -> bool:
    """Whether `day` lies where the service keeps records (and can compute day bounds)."""
    return EARLIEST_DAY <= day <= LATEST_DAY


def utc_clamped(when: datetime) -> datetime:
    """`when` in UTC; a time too close to year 1 or 9999 to convert becomes that end."""
    try:
        return when.astimezone(UTC)
    except OverflowError:
        end = datetime.min if when.year < 5000 else datetime.max  # which end it overflowed
        return end.replace(tzinfo=UTC)
