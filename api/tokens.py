"""Bearer tokens: random strings handed out once, stored only as SHA-256 hashes.

A token is ``secrets.token_urlsafe(32)`` (256 bits). The ``api_tokens`` row holds
its hex SHA-256 (a fast hash is right for a high-entropy secret: it cannot be
guessed, only looked up), the operator or device, the expiry and the revocation
time. Every request looks its token up, so a revocation (logout) is effective at
once in every API process.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.orm import Session

from cardsvc.db.models import ApiToken

TOKEN_BYTES = 32
_PLAUSIBLE = re.compile(r"[A-Za-z0-9_-]{16,256}")


def digest(token: str) -> str:
    """Hex SHA-256 of a token: what the database stores."""
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def plausible(token: str) -> bool:
    """False for strings that cannot be one of our tokens (no database lookup needed)."""
    return _PLAUSIBLE.fullmatch(token) is not None


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A new token: `token` is shown to the caller once and never stored."""

    token: str
    token_id: int
    expires_at: datetime


def issue(
    session: Session,
    *,
    now: datetime,
    ttl_s: int,
    operator_id: int | None = None,
    device_id: int | None = None,
) -> IssuedToken:
    """Create a token for an operator or a device (flushed with the caller's transaction)."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    row = ApiToken(
        token_hash=digest(token),
        operator_id=operator_id,
        device_id=device_id,
        issued_at=now,
        expires_at=now + timedelta(seconds=ttl_s),
    )
    session.add(row)
    session.flush()
    return IssuedToken(token=token, token_id=row.id, expires_at=row.expires_at)


def revoke(session: Session, token_id: int, *, now: datetime) -> bool:
    """Revoke a token; False if it was already revoked."""
    result = session.execute(
        update(ApiToken)
        .where(ApiToken.id == token_id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))
