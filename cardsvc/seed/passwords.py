"""Password and device-secret hashes: scrypt from the standard library.

Stored format (one string, at most 255 characters)::

    scrypt$<n>$<r>$<p>$<salt hex>$<hash hex>

``n``, ``r``, ``p`` are the scrypt cost parameters (defaults n = 2^14, r = 8, p = 1:
16 MiB and about 0.1 s here per hash), the salt is 16 bytes, the hash 32 bytes.
A stored value of :data:`LOCKED` (``"!"``) matches no secret: the account exists
but cannot sign in until an administrator sets a password.

argon2id (argon2-cffi) is the better choice once it is a dependency; the format
names its algorithm, so verification can accept both during a switch.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Final

from cardsvc.seed.errors import SeedError

SCHEME: Final = "scrypt"
LOCKED: Final = "!"
DEFAULT_N: Final = 2**14
DEFAULT_R: Final = 8
DEFAULT_P: Final = 1
SALT_BYTES: Final = 16
HASH_BYTES: Final = 32
_MAX_N: Final = 2**20


class PasswordHashError(SeedError, ValueError):
    """Unusable hashing parameters."""


def _scrypt(secret: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        secret.encode("utf-8"),
        salt=salt,
        n=n,
        r=r,
        p=p,
        maxmem=256 * r * n + 2**20,
        dklen=HASH_BYTES,
    )


def check_cost(n: int, r: int = DEFAULT_R, p: int = DEFAULT_P) -> None:
    """Refuse parameters scrypt cannot use (n a power of two from 2 to 2^20; r, p ≥ 1)."""
    if not (2 <= n <= _MAX_N and n & (n - 1) == 0):
        raise PasswordHashError(f"scrypt n must be a power of two from 2 to 2^20, got {n}")
    if r < 1 or p < 1:
        raise PasswordHashError(f"scrypt r and p must be at least 1, got r={r} p={p}")


def hash_secret(
    secret: str, salt: bytes, *, n: int = DEFAULT_N, r: int = DEFAULT_R, p: int = DEFAULT_P
) -> str:
    """The stored form of `secret` with `salt` (16 bytes; pass `os.urandom(16)` in services)."""
    check_cost(n, r, p)
    if len(salt) != SALT_BYTES:
        raise PasswordHashError(f"salt must be {SALT_BYTES} bytes, got {len(salt)}")
    digest = _scrypt(secret, salt, n, r, p)
    return f"{SCHEME}${n}${r}${p}${salt.hex()}${digest.hex()}"


def verify_secret(secret: str, stored: str) -> bool:
    """True when `secret` matches `stored`; False for LOCKED or any malformed value."""
    parts = stored.split("$")
    if len(parts) != 6 or parts[0] != SCHEME:
        return False
    try:
        n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        salt = bytes.fromhex(parts[4])
        expected = bytes.fromhex(parts[5])
        check_cost(n, r, p)
    except (ValueError, PasswordHashError):
        return False
    if len(salt) != SALT_BYTES or len(expected) != HASH_BYTES:
        return False
    return hmac.compare_digest(_scrypt(secret, salt, n, r, p), expected)
