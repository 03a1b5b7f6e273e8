"""Result values to JSON and back (for idempotent replays), and canonical request hashes.

Supported field types: ``int``, ``str``, ``bool``, ``None`` unions (``X | None``),
``date``, ``datetime`` (timezone-aware), enums (stored by value), ``tuple[X, ...]``
and nested frozen dataclasses. That is all the write results use; anything else is
a programming error (TypeError), not bad input.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
import types
import typing
from collections.abc import Mapping
from datetime import date, datetime
from functools import cache
from typing import Any, TypeVar

T = TypeVar("T")


def to_jsonable(value: Any) -> Any:
    """A JSON-ready copy of `value` (dataclasses become objects, tuples lists)."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, enum.Enum):
        return to_jsonable(value.value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise TypeError(f"naive datetime {value.isoformat()} cannot be encoded")
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list | tuple | frozenset):
        items = [to_jsonable(item) for item in value]
        return sorted(items, key=repr) if isinstance(value, frozenset) else items
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    raise TypeError(f"cannot encode a {type(value).__name__}")


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def from_jsonable(tp: Any, data: Any) -> Any:
    """Rebuild a value of type `tp` from what :func:`to_jsonable` made of it."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if data is None and type(None) in args:
            return None
        non_none = [a for a in args if a is not type(None)]
        if len(non_none) != 1:
            raise TypeError(f"cannot decode the union {tp!r}")
        return from_jsonable(non_none[0], data)
    if origin is tuple:
        (item_type, *_rest) = typing.get_args(tp)
        return tuple(from_jsonable(item_type, item) for item in data)
    if tp is Any:
        return data
    if isinstance(tp, type):
        if dataclasses.is_dataclass(tp):
            hints = _hints(tp)
            kwargs = {
                f.name: from_jsonable(hints[f.name], data[f.name]) for f in dataclasses.fields(tp)
            }
            return tp(**kwargs)
        if issubclass(tp, enum.Enum):
            return tp(data)
        if tp is datetime:
            return datetime.fromisoformat(data)
        if tp is date:
            return date.fromisoformat(data)
        if tp in (int, str, bool):
            if not isinstance(data, tp):
                raise TypeError(f"expected {tp.__name__}, got {type(data).__name__}")
            return data
    raise TypeError(f"cannot decode type {tp!r}")


def decode(cls: type[T], data: Any) -> T:
    """Typed front of :func:`from_jsonable` for a result class."""
    value = from_jsonable(cls, data)
    if not isinstance(value, cls):  # pragma: no cover - from_jsonable builds cls
        raise TypeError(f"decoded a {type(value).__name__}, expected {cls.__name__}")
    return value


def canonical_hash(payload: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of the sorted-key, whitespace-free JSON of `payload`."""
    text = json.dumps(
        to_jsonable(payload),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
