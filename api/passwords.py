"""Operator passwords and device credentials: argon2id, and the seeder's scrypt format.

New hashes are argon2id (argon2-cffi's defaults, the RFC 9106 low-memory profile).
Verification also accepts the stdlib-scrypt format written by the seeder
(``scrypt$<n>$<r>$<p>$<salt hex>$<hash hex>``, see cardsvc.seed.passwords); after
a successful sign-in such a hash (or an argon2 hash with outdated parameters) is
replaced by a fresh argon2id hash (:meth:`PasswordHasher.needs_rehash`).
A stored value that is neither (e.g. ``!``, "locked: no password set") matches
nothing. Comparisons are constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field

import argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_SCRYPT_MAX_N = 2**20
_SCRYPT_SALT_BYTES = 16
_SCRYPT_HASH_BYTES = 32


@dataclass(frozen=True)
class PasswordHasher:
    """Hash with argon2id; verify argon2 and scrypt hashes."""

    argon: argon2.PasswordHasher = field(default_factory=argon2.PasswordHasher)
    _dummy: dict[str, str] = field(default_factory=dict, init=False, repr=False, compare=False)

    def hash(self, secret: str) -> str:
        return self.argon.hash(secret)

    def verify(self, secret: str, stored: str) -> bool:
        """True when `secret` matches `stored` (False for anything malformed)."""
        if stored.startswith("$argon2"):
            try:
                return self.argon.verify(stored, secret)
            except (VerifyMismatchError, VerificationError, InvalidHashError):
                return False
        if stored.startswith("scrypt$"):
            return _verify_scrypt(secret, stored)
        return False

    def needs_rehash(self, stored: str) -> bool:
        """True unless `stored` is an argon2id hash with the current parameters."""
        if not stored.startswith("$argon2id$"):
            return True
        try:
            return self.argon.check_needs_rehash(stored)
        except InvalidHashError:
            return True

    def dummy_verify(self, secret: str) -> None:
        """Spend about as long as a real verification (for unknown users)."""
        dummy = self._dummy.get("hash")
        if dummy is None:
            dummy = self._dummy.setdefault("hash", self.argon.hash(secrets.token_urlsafe(16)))
        self.verify(secret, dummy)


def _verify_scrypt(secret: str, stored: str) -> bool:
    parts = stored.split("$")
    if len(parts) != 6:
        return False
    try:
        n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        salt = bytes.fromhex(parts[4])
        expected = bytes.fromhex(parts[5])
    except ValueError:
        return False
    if not (2 <= n <= _SCRYPT_MAX_N and n & (n - 1) == 0) or r < 1 or p < 1 or r * p > 64:
        return False
    if len(salt) != _SCRYPT_SALT_BYTES or len(expected) != _SCRYPT_HASH_BYTES:
        return False
    try:
        digest = hashlib.scrypt(
            secret.encode("utf-8"),
            salt=salt,
            n=n,
            r=r,
            p=p,
            maxmem=256 * r * n + 2**20,
            dklen=_SCRYPT_HASH_BYTES,
        )
    except (ValueError, MemoryError):
        return False
    return hmac.compare_digest(digest, expected)
