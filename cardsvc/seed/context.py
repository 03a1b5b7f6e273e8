"""What every generator shares: the options, rules, history window, id counters, SSNs.

The *history window* is where monthly detail lives: contributions and benefit
payments from January of ``as_of.year - history_years`` (not before 1996, when
personal pension accounts began) up to the month before as_of (contributions) or
as_of's month once its pay day has passed (benefits). Pension account years are
the closed calendar years in the window; the first one opens with the balance
modelled for the years before. Insurance relations and registrations reach back
over the whole working life (registrations from 2008, when they went online).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Final

from cardsvc.rules.config import DEFAULT_CONFIG, RulesConfig
from cardsvc.rules.months import YearMonth
from cardsvc.seed.access import ActorDirectory
from cardsvc.seed.options import SeedOptions
from cardsvc.seed.sites import Layout
from cardsvc.seed.tables import ID_TABLES

PAY_DAY: Final = 10
"""Benefits for a month are paid on this day of the month."""
FIRST_DETAIL_MONTH: Final = YearMonth(1996, 1)
CHINA: Final = timezone(timedelta(hours=8))

SAMPLE_INTEREST_BP: Final[Mapping[int, int]] = {
    2016: 831,
    2017: 712,
    2018: 829,
    2019: 761,
    2020: 604,
    2021: 669,
    2022: 612,
    2023: 397,
    2024: 262,
}
"""*Sample* personal-account interest rates (bp): the nationally announced rates 2016-2024.

Years before 2016 use :data:`SAMPLE_INTEREST_BEFORE_2016_BP`; years after the last
entry repeat it. The rules configuration's own rates win where it has them.
"""
SAMPLE_INTEREST_BEFORE_2016_BP: Final = 300


def interest_rates(config: RulesConfig, through_year: int) -> dict[int, int]:
    """A rate for every year 1996 … `through_year` (config first, then the sample table)."""
    rates: dict[int, int] = {}
    last = SAMPLE_INTEREST_BP[max(SAMPLE_INTEREST_BP)]
    for year in range(FIRST_DETAIL_MONTH.year, through_year + 1):
        if year < 2016:
            rates[year] = SAMPLE_INTEREST_BEFORE_2016_BP
        else:
            rates[year] = SAMPLE_INTEREST_BP.get(year, last)
    rates.update(config.interest_rates())
    return rates


def seed_config(base: RulesConfig, through_year: int) -> RulesConfig:
    """`base` with an interest rate for every year the seed needs."""
    rates = interest_rates(base, through_year)
    return replace(base, pension_interest_bp=tuple(sorted(rates.items())))


def month_index(day: date) -> int:
    """Months since January of year 0 (the same numbering as YearMonth.index)."""
    return day.year * 12 + day.month - 1


def month_day(index: int, day: int) -> date:
    """Day `day` (clamped to the month's end) of the month `index`."""
    year, month0 = divmod(index, 12)
    last = _DAYS_IN_MONTH[month0]
    if month0 == 1 and (year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)):
        last = 29
    return date(year, month0 + 1, min(day, last))


def yyyymm(index: int) -> int:
    year, month0 = divmod(index, 12)
    return year * 100 + month0 + 1


def add_months_fast(day: date, months: int) -> date:
    """cardsvc.rules.months.add_months without building YearMonth objects."""
    return month_day(month_index(day) + months, day.day)


_DAYS_IN_MONTH: Final = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


@dataclass(frozen=True, slots=True)
class Window:
    as_of: date
    first: YearMonth
    last_paid: YearMonth
    """Last month contributions are paid for (the month before as_of)."""
    last_benefit: YearMonth
    """Last month benefits are paid for (as_of's month once its pay day has passed)."""

    @classmethod
    def for_options(cls, as_of: date, history_years: int) -> Window:
        first = max(YearMonth(as_of.year - history_years, 1), FIRST_DETAIL_MONTH)
        current = YearMonth.of(as_of)
        return cls(
            as_of=as_of,
            first=first,
            last_paid=current - 1,
            last_benefit=current if as_of.day >= PAY_DAY else current - 1,
        )

    @property
    def first_index(self) -> int:
        return self.first.index

    @property
    def last_paid_index(self) -> int:
        return self.last_paid.index

    @property
    def last_benefit_index(self) -> int:
        return self.last_benefit.index

    def months(self, first: int, last: int) -> range:
        """Month indexes `first`…`last` clipped to the window's first…last_paid."""
        return range(max(first, self.first.index), min(last, self.last_paid.index) + 1)


def at_office(day: date, minute_of_day: int) -> datetime:
    """`day` at a Beijing office time (minutes after midnight), as a UTC datetime."""
    local = datetime.combine(day, time(minute_of_day // 60, minute_of_day % 60), tzinfo=CHINA)
    return local.astimezone(UTC)


class IdCounters:
    """The next id of each table (continuing after existing rows when appending)."""

    def __init__(self, last_ids: Mapping[str, int] | None = None) -> None:
        last = last_ids or {}
        self._counters: dict[str, Iterator[int]] = {
            table: itertools.count(last.get(table, 0) + 1) for table in ID_TABLES
        }

    def counter(self, table: str) -> Iterator[int]:
        return self._counters[table]

    def next(self, table: str) -> int:
        return next(self._counters[table])


class SsnAllocator:
    """Unique citizen-ID sequence numbers per (region, birth date, sex).

    The three-digit sequence is ``2k + male`` scrambled per key (so the 17th digit is
    odd for men, even for women); k counts up from 0 for each key, so two persons
    never get the same number. When appending, existing numbers are observed first.
    """

    _INVERSE_7: Final = 143  # 7 × 143 ≡ 1 (mod 500)

    def __init__(self) -> None:
        self._next: dict[int, int] = {}
        self._regions: dict[str, int] = {}

    def _key(self, region: str, birth: date, male: bool) -> int:
        index = self._regions.setdefault(region, len(self._regions))
        return (index << 21) | (birth.toordinal() << 1) | int(male)

    @staticmethod
    def _offset(key: int) -> int:
        return ((key * 2_654_435_761) >> 7) % 500

    def allocate(self, region: str, birth: date, male: bool) -> str | None:
        """The 3-digit sequence for the next person, or None when all 500 are taken."""
        key = self._key(region, birth, male)
        k = self._next.get(key, 0)
        if k >= 500:
            return None
        self._next[key] = k + 1
        return f"{((k * 7 + self._offset(key)) % 500) * 2 + int(male):03d}"

    def observe(self, ssn: str) -> None:
        """Count an existing SSN so that no new one repeats it."""
        try:
            birth = date(int(ssn[6:10]), int(ssn[10:12]), int(ssn[12:14]))
            seq = int(ssn[14:17])
        except ValueError:
            return
        male = seq % 2 == 1
        key = self._key(ssn[:6], birth, male)
        k = ((seq // 2 - self._offset(key)) * self._INVERSE_7) % 500
        self._next[key] = max(self._next.get(key, 0), k + 1)


@dataclass(frozen=True)
class SeedContext:
    """Read-only inputs of every generator."""

    options: SeedOptions
    config: RulesConfig
    window: Window
    layout: Layout
    actors: ActorDirectory
    rates_bp: Mapping[int, int] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        options: SeedOptions,
        layout: Layout,
        actors: ActorDirectory,
        config: RulesConfig = DEFAULT_CONFIG,
    ) -> SeedContext:
        cfg = seed_config(config, options.as_of.year)
        return cls(
            options=options,
            config=cfg,
            window=Window.for_options(options.as_of, options.history_years),
            layout=layout,
            actors=actors,
            rates_bp=cfg.interest_rates(),
        )

    @property
    def as_of(self) -> date:
        return self.options.as_of

    @property
    def seed(self) -> int:
        return self.options.seed
