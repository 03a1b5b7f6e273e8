"""Errors raised by the persistence layer (cardsvc.db)."""

from __future__ import annotations

from cardsvc.errors import CardsvcError


class DatabaseError(CardsvcError):
    """Root of every error cardsvc.db raises on purpose."""


class DurabilityError(DatabaseError):
    """The database is configured so that an acknowledged commit can be lost.

    Carries the offending setting, its current value and how to fix it.
    """

    def __init__(self, setting: str, value: str, fix: str) -> None:
        self.setting = setting
        self.value = value
        self.fix = fix
        super().__init__(
            f"refusing a database that can lose committed transactions: "
            f"{setting} is {value!r}; {fix}"
        )


class MigrationError(DatabaseError):
    """A schema migration could not be applied or the schema is not at the expected revision."""


class JournalError(DatabaseError):
    """A journal entry was refused (for example its detail would store a secret)."""
