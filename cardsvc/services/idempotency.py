"""Idempotency keys of write items.

Every write item takes a client-supplied key. The first completed request stores,
in the same unit of work as its effect, a record under (scope = actor + item, key)
holding a SHA-256 of the canonical request and the result as JSON. A later request
with the same scope and key:

* and the same input gets the stored result back (a replay: no second effect and no
  second journal entry — the first entry already records the transaction);
* and another input is refused with :class:`IdempotencyKeyReused`.

Only completed effects are stored. A refused request (validation, conflict, scope)
leaves the key free: nothing happened, so a retry is evaluated afresh. The request
hash covers the person's surrogate id, not the SSN that was typed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cardsvc.db.models import IdempotencyRecord, ItemCode
from cardsvc.services.actors import Actor, OperatorActor
from cardsvc.services.errors import IdempotencyKeyReused, ValidationFailed

MAX_KEY_LENGTH = 128
STATUS_COMPLETED = 200


def check_key(key: object) -> str:
    """The key if it is 1-128 printable ASCII characters without spaces."""
    if not isinstance(key, str) or not key:
        raise ValidationFailed("idempotency_key", "a write item needs a client-supplied key")
    if len(key) > MAX_KEY_LENGTH:
        raise ValidationFailed(
            "idempotency_key", f"at most {MAX_KEY_LENGTH} characters, got {len(key)}"
        )
    if not all("!" <= c <= "~" for c in key):
        raise ValidationFailed(
            "idempotency_key", "only printable ASCII characters without spaces (e.g. a UUID)"
        )
    return key


def scope_for(actor: Actor, item: ItemCode) -> str:
    """The namespace of a key: one actor, one item."""
    if isinstance(actor, OperatorActor):
        return f"operator:{actor.operator_id}:{item.value}"
    return f"device:{actor.device_id}:{item.value}"


def lookup(session: Session, scope: str, key: str, request_hash: str) -> Any | None:
    """The stored result JSON for (scope, key), or None if the key is unused.

    Raises IdempotencyKeyReused when the key was used with another request.
    """
    record = session.execute(
        select(IdempotencyRecord).where(
            IdempotencyRecord.scope == scope, IdempotencyRecord.key == key
        )
    ).scalar_one_or_none()
    if record is None:
        return None
    if record.request_hash != request_hash:
        raise IdempotencyKeyReused(key)
    return record.response_json


def store(
    session: Session, scope: str, key: str, request_hash: str, response: Any, *, at: datetime
) -> None:
    """Record the result of a completed request (flushed with the effect's transaction)."""
    session.add(
        IdempotencyRecord(
            scope=scope,
            key=key,
            request_hash=request_hash,
            response_json=response,
            status_code=STATUS_COMPLETED,
            created_at=at,
        )
    )
