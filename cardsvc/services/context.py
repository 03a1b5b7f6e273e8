"""What every service call needs besides its inputs: the database, the rules' figures,
the server clock and the city's local time zone (for "today" and the daily ledger).

Build one at start-up and pass it to the item functions; tests inject a fixed clock.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo

from cardsvc.db import Database
from cardsvc.db.models import utc_now
from cardsvc.rules.config import DEFAULT_CONFIG, RulesConfig
from cardsvc.services.person_records import PersonRecord

CITY_TIMEZONE: tzinfo = timezone(timedelta(hours=8), "UTC+08")
"""China Standard Time (no daylight saving); a fixed offset needs no tz database."""


@dataclass(frozen=True)
class ServiceContext:
    """The injected dependencies of the services."""

    database: Database
    config: RulesConfig = DEFAULT_CONFIG
    clock: Callable[[], datetime] = utc_now
    """The server clock; must return timezone-aware datetimes."""
    local_tz: tzinfo = CITY_TIMEZONE
    """The city's local time: business days (today, ledgers) are local days."""
    known_persons: Mapping[str, PersonRecord | None] = field(default_factory=dict)
    """Persons already read in this request, by SSN (None: no such person), for an
    enquiry to use instead of reading them again (the API's bearer lookup reads the
    person an enquiry names with the caller). The enquiry's checks still apply."""

    def now(self) -> datetime:
        """The server time, in UTC."""
        return self.clock().astimezone(UTC)

    def today(self) -> date:
        """Today in the city's local time."""
        return self.now().astimezone(self.local_tz).date()
