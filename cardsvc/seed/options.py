"""What to seed: :class:`SeedOptions` (validated on construction) and :class:`SeedMode`."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Final

from cardsvc.seed.errors import SeedOptionError
from cardsvc.seed.passwords import DEFAULT_N, PasswordHashError, check_cost

DEFAULT_PERSONS: Final = 1000
DEFAULT_SEED: Final = 2011
DEFAULT_HISTORY_YEARS: Final = 3
DEFAULT_CARD_FILES: Final = 3
MAX_PERSONS: Final = 10_000_000
MAX_CARD_FILES: Final = 100
MAX_HISTORY_YEARS: Final = 40
EARLIEST_AS_OF: Final = date(2012, 1, 1)
"""The plan dates from 2011 and the first cards were issued in late 2011."""
LATEST_AS_OF: Final = date(2099, 12, 31)
DEFAULT_BATCH_PERSONS: Final = 2000


class SeedMode(enum.Enum):
    FRESH = "fresh"
    """The database must hold no data (an empty or never-migrated database)."""
    FORCE = "force"
    """Delete every row (but the schema and an empty journal), then seed afresh."""
    APPEND = "append"
    """Add persons (and their employers, records and cards) to an earlier seed."""


@dataclass(frozen=True, slots=True)
class SeedOptions:
    """Everything that decides the seeded content (plus how to write it).

    Same `seed`, `persons`, `as_of`, `history_years`, `demo`, `scrypt_n` and mode on
    the same starting database → the same content, on SQLite and PostgreSQL alike.
    """

    as_of: date
    """The day the data is "as of": nothing happens after it (see cardsvc.seed docs)."""
    persons: int = DEFAULT_PERSONS
    seed: int = DEFAULT_SEED
    history_years: int = DEFAULT_HISTORY_YEARS
    """Calendar years of monthly detail before as_of's year (plus that year to date)."""
    mode: SeedMode = SeedMode.FRESH
    demo: bool = False
    """Set the documented demo passwords; otherwise operators and devices are locked."""
    scrypt_n: int = DEFAULT_N
    """scrypt cost of the demo password hashes (lower it only in tests)."""
    cards_dir: Path | None = None
    card_files: int = 0
    batch_persons: int = DEFAULT_BATCH_PERSONS
    """Persons generated and written per batch (bounds memory; does not change content)."""

    def __post_init__(self) -> None:
        if not 1 <= self.persons <= MAX_PERSONS:
            raise SeedOptionError(
                "--persons",
                f"must be 1 to {MAX_PERSONS:,}, got {self.persons}",
                "e.g. --persons 1000",
            )
        if not 0 <= self.seed < 2**63:
            raise SeedOptionError(
                "--seed", f"must be 0 to 2^63 - 1, got {self.seed}", "e.g. --seed 2011"
            )
        if not EARLIEST_AS_OF <= self.as_of <= LATEST_AS_OF:
            raise SeedOptionError(
                "--as-of",
                f"{self.as_of.isoformat()} is outside {EARLIEST_AS_OF.isoformat()} … "
                f"{LATEST_AS_OF.isoformat()}",
                "give a date in that range as YYYY-MM-DD, e.g. --as-of 2026-06-30",
            )
        if not 1 <= self.history_years <= MAX_HISTORY_YEARS:
            raise SeedOptionError(
                "--history-years",
                f"must be 1 to {MAX_HISTORY_YEARS}, got {self.history_years}",
                "e.g. --history-years 3",
            )
        try:
            check_cost(self.scrypt_n)
        except PasswordHashError as exc:
            raise SeedOptionError("scrypt_n", str(exc), "use a power of two, e.g. 16384") from None
        if self.cards_dir is None and self.card_files:
            raise SeedOptionError(
                "--card-files",
                "needs a directory to write the files to",
                "add --cards-dir DIR",
            )
        if self.cards_dir is not None:
            if not 1 <= self.card_files <= MAX_CARD_FILES:
                raise SeedOptionError(
                    "--card-files",
                    f"must be 1 to {MAX_CARD_FILES}, got {self.card_files}",
                    f"e.g. --card-files {DEFAULT_CARD_FILES}",
                )
            if not self.demo:
                raise SeedOptionError(
                    "--cards-dir",
                    "card files use the demo master keys and list the demo passwords",
                    "add --demo (or set CARDSVC_DEMO=1)",
                )
            if self.cards_dir.exists() and not self.cards_dir.is_dir():
                raise SeedOptionError(
                    "--cards-dir",
                    f"{self.cards_dir} exists and is not a directory",
                    "name a new or existing directory",
                )
        if self.batch_persons < 1:
            raise SeedOptionError(
                "batch_persons", f"must be at least 1, got {self.batch_persons}", "e.g. 2000"
            )
