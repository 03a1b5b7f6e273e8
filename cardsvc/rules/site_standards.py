"""The site standards report: each site against the city plan (shared/domain.md section 1).

Standards (Zaozhuang 2011 plan, :data:`ZAOZHUANG_2011`):

* district centre floor area by district: 薛城 370403, 山亭 370406, 峄城 370404,
  台儿庄 370405 → 3000 m²; 市中 370402 → 4000 m²; 滕州 370481 → 5000 m².
* township office, by population served:

  ===================  =============  ============
  population           floor area     archive room
  ===================  =============  ============
  below 60,000         120–200 m²     ≥ 20 m²
  60,000 to 90,000     200–300 m²     ≥ 30 m²
  above 90,000         ≥ 300 m²       ≥ 40 m²
  ===================  =============  ============

  staff 1 per 6,000 served, at least 5; new hires need a college degree (大专) or above.
* station: floor area ≥ 50 m²; staff 1 per 800 served when it serves 1,000 or more,
  else 1.
* city: the plan sets no site standard.

Decisions where the plan's wording leaves room:

* **Band boundaries.** The plan writes "< 60,000", "60,000–90,000" and "> 90,000", so
  exactly 60,000 and exactly 90,000 both fall in the middle band (60,000–90,000
  inclusive). Stations: exactly 1,000 served is "1,000 or more".
* **Staff ratios** are "one per N or part thereof": required staff is
  ``ceil(population / N)`` (a township of 61,000 needs 11, not 10), never fewer than
  the minimum (townships 5, stations 1).
* **Ranges** such as 120–200 m²: below the lower end is a shortfall (``shortfall`` =
  lower end − actual). Above the upper end is not a shortfall — the site has *more*
  room than the plan funds, which serves residents no worse — so it is reported as an
  "over the plan's range" finding (status ``OVER_RANGE``, shortfall 0) for the
  planners to look at, and does not make the site fail the plan.
* A site for which the plan sets no standard (the city, a district code the plan does
  not list) gets verdict ``NO_STANDARD`` and a finding, never a silent pass.

Every check reports the requirement, the actual figure and the shortfall (0 when met).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from cardsvc.rules.errors import RuleInputError

_ZERO = Decimal(0)


class SiteLevel(enum.Enum):
    CITY = "city"
    DISTRICT = "district"
    TOWNSHIP = "township"
    STATION = "station"


CODE_LENGTH: dict[SiteLevel, int] = {
    SiteLevel.CITY: 6,
    SiteLevel.DISTRICT: 6,
    SiteLevel.TOWNSHIP: 9,
    SiteLevel.STATION: 12,
}


class CheckName(enum.Enum):
    FLOOR_AREA = "floor_area"
    ARCHIVE_AREA = "archive_area"
    STAFF = "staff"
    NEW_HIRE_DEGREES = "new_hire_degrees"


class CheckStatus(enum.Enum):
    MET = "met"
    SHORT = "short"
    OVER_RANGE = "over_range"
    """Above the upper end of a range: a finding, not a shortfall."""


class Verdict(enum.Enum):
    MEETS = "meets"
    SHORT = "short"
    NO_STANDARD = "no_standard"


@dataclass(frozen=True, slots=True)
class SiteRow:
    """One site as recorded. Areas in square metres (Decimal), counts as integers."""

    code: str
    level: SiteLevel
    name: str
    population_served: int
    floor_area_m2: Decimal
    archive_area_m2: Decimal
    staff_count: int
    new_hires: int = 0
    """Staff hired since the plan (only checked at township offices)."""
    new_hires_with_degree: int = 0
    """Of those, how many hold a college degree (大专) or above."""

    def __post_init__(self) -> None:
        if not isinstance(self.level, SiteLevel):
            raise RuleInputError("level", f"must be a SiteLevel, got {self.level!r}")
        length = CODE_LENGTH[self.level]
        if not isinstance(self.code, str) or re.fullmatch(rf"[0-9]{{{length}}}", self.code) is None:
            raise RuleInputError(
                "code", f"a {self.level.value} code is {length} digits, got {self.code!r}"
            )
        for name in ("population_served", "staff_count", "new_hires", "new_hires_with_degree"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise RuleInputError(name, f"must be a non-negative integer, got {value!r}")
        for name in ("floor_area_m2", "archive_area_m2"):
            value = getattr(self, name)
            if not isinstance(value, Decimal) or not value.is_finite() or value < 0:
                raise RuleInputError(name, f"must be a non-negative Decimal, got {value!r}")
        if self.new_hires_with_degree > self.new_hires:
            raise RuleInputError(
                "new_hires_with_degree",
                f"{self.new_hires_with_degree} is more than new_hires {self.new_hires}",
            )


@dataclass(frozen=True, slots=True)
class TownshipBand:
    label: str
    population_min: int
    population_max: int | None
    """Inclusive; None for no upper end."""
    floor_min_m2: Decimal
    floor_max_m2: Decimal | None
    archive_min_m2: Decimal

    def contains(self, population: int) -> bool:
        return population >= self.population_min and (
            self.population_max is None or population <= self.population_max
        )


@dataclass(frozen=True, slots=True)
class SiteStandards:
    """A city plan's site standards."""

    name: str
    district_floor_area_m2: tuple[tuple[str, Decimal], ...]
    township_bands: tuple[TownshipBand, ...]
    township_staff_per: int = 6_000
    township_staff_min: int = 5
    station_floor_min_m2: Decimal = field(default_factory=lambda: Decimal(50))
    station_staff_per: int = 800
    station_ratio_from_population: int = 1_000
    station_staff_min: int = 1

    def district_floor_area(self, code: str) -> Decimal | None:
        return dict(self.district_floor_area_m2).get(code)

    def township_band(self, population: int) -> TownshipBand:
        for band in self.township_bands:
            if band.contains(population):
                return band
        raise RuleInputError("population_served", f"no township band covers {population}")


ZAOZHUANG_2011 = SiteStandards(
    name="Zaozhuang 2011 grassroots HR and social security service plan",
    district_floor_area_m2=(
        ("370402", Decimal(4000)),  # 市中区
        ("370403", Decimal(3000)),  # 薛城区
        ("370404", Decimal(3000)),  # 峄城区
        ("370405", Decimal(3000)),  # 台儿庄区
        ("370406", Decimal(3000)),  # 山亭区
        ("370481", Decimal(5000)),  # 滕州市
    ),
    township_bands=(
        TownshipBand("population below 60,000", 0, 59_999, Decimal(120), Decimal(200), Decimal(20)),
        TownshipBand(
            "population 60,000 to 90,000", 60_000, 90_000, Decimal(200), Decimal(300), Decimal(30)
        ),
        TownshipBand("population above 90,000", 90_001, None, Decimal(300), None, Decimal(40)),
    ),
)


@dataclass(frozen=True, slots=True)
class Check:
    """One figure of a site against the plan."""

    name: CheckName
    required: str
    """The requirement as text, e.g. "120–200 m²" or "≥ 11 staff"."""
    required_min: Decimal
    required_max: Decimal | None
    actual: Decimal
    shortfall: Decimal
    """How much is missing (0 when met or over the range)."""
    status: CheckStatus
    note: str


@dataclass(frozen=True, slots=True)
class SiteAssessment:
    code: str
    level: SiteLevel
    name: str
    standard: str
    """Which standard applied (e.g. "township, population 60,000 to 90,000")."""
    checks: tuple[Check, ...]
    verdict: Verdict
    findings: tuple[str, ...]
    """Shortfalls, over-range figures and missing standards, in words."""

    @property
    def meets_plan(self) -> bool:
        return self.verdict is Verdict.MEETS


def _num(value: Decimal) -> str:
    return format(value.normalize(), "f") if value == value.to_integral_value() else str(value)


def _area_check(
    name: CheckName, actual: Decimal, minimum: Decimal, maximum: Decimal | None
) -> Check:
    required = f"≥ {_num(minimum)} m²" if maximum is None else f"{_num(minimum)}–{_num(maximum)} m²"
    if actual < minimum:
        return Check(
            name,
            required,
            minimum,
            maximum,
            actual,
            minimum - actual,
            CheckStatus.SHORT,
            f"{_num(minimum - actual)} m² short of {required}",
        )
    if maximum is not None and actual > maximum:
        return Check(
            name,
            required,
            minimum,
            maximum,
            actual,
            _ZERO,
            CheckStatus.OVER_RANGE,
            f"{_num(actual - maximum)} m² over the plan's range {required} (not a shortfall)",
        )
    return Check(name, required, minimum, maximum, actual, _ZERO, CheckStatus.MET, "meets the plan")


def _count_check(name: CheckName, actual: int, minimum: int, how: str) -> Check:
    required = Decimal(minimum)
    if actual < minimum:
        return Check(
            name,
            how,
            required,
            None,
            Decimal(actual),
            Decimal(minimum - actual),
            CheckStatus.SHORT,
            f"{minimum - actual} short of {how}",
        )
    return Check(
        name, how, required, None, Decimal(actual), _ZERO, CheckStatus.MET, "meets the plan"
    )


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def assess_site(row: SiteRow, standards: SiteStandards = ZAOZHUANG_2011) -> SiteAssessment:
    """One site against the plan."""
    checks: list[Check] = []
    findings: list[str] = []
    if row.level is SiteLevel.CITY:
        standard = "city: the plan sets no site standard"
        findings.append("no standard for the city level")
    elif row.level is SiteLevel.DISTRICT:
        floor = standards.district_floor_area(row.code)
        if floor is None:
            standard = f"district centre {row.code}: not in the plan"
            findings.append(f"the plan sets no floor area for district code {row.code}")
        else:
            standard = f"district centre {row.code}"
            checks.append(_area_check(CheckName.FLOOR_AREA, row.floor_area_m2, floor, None))
    elif row.level is SiteLevel.TOWNSHIP:
        band = standards.township_band(row.population_served)
        standard = f"township, {band.label}"
        checks.append(
            _area_check(
                CheckName.FLOOR_AREA, row.floor_area_m2, band.floor_min_m2, band.floor_max_m2
            )
        )
        checks.append(
            _area_check(CheckName.ARCHIVE_AREA, row.archive_area_m2, band.archive_min_m2, None)
        )
        staff = max(
            standards.township_staff_min,
            _ceil_div(row.population_served, standards.township_staff_per),
        )
        checks.append(
            _count_check(
                CheckName.STAFF,
                row.staff_count,
                staff,
                f"≥ {staff} staff (1 per {standards.township_staff_per:,} served, "
                f"at least {standards.township_staff_min})",
            )
        )
        checks.append(
            _count_check(
                CheckName.NEW_HIRE_DEGREES,
                row.new_hires_with_degree,
                row.new_hires,
                f"all {row.new_hires} new hires with a college degree (大专) or above",
            )
        )
    else:
        ratio = row.population_served >= standards.station_ratio_from_population
        standard = (
            f"station, population {standards.station_ratio_from_population:,} or more"
            if ratio
            else f"station, population below {standards.station_ratio_from_population:,}"
        )
        checks.append(
            _area_check(
                CheckName.FLOOR_AREA, row.floor_area_m2, standards.station_floor_min_m2, None
            )
        )
        if ratio:
            staff = max(
                standards.station_staff_min,
                _ceil_div(row.population_served, standards.station_staff_per),
            )
            how = f"≥ {staff} staff (1 per {standards.station_staff_per:,} served)"
        else:
            staff = standards.station_staff_min
            how = f"≥ {staff} staff"
        checks.append(_count_check(CheckName.STAFF, row.staff_count, staff, how))

    for check in checks:
        if check.status is not CheckStatus.MET:
            findings.append(f"{check.name.value}: {check.note}")
    if not checks:
        verdict = Verdict.NO_STANDARD
    elif any(check.status is CheckStatus.SHORT for check in checks):
        verdict = Verdict.SHORT
    else:
        verdict = Verdict.MEETS
    return SiteAssessment(
        code=row.code,
        level=row.level,
        name=row.name,
        standard=standard,
        checks=tuple(checks),
        verdict=verdict,
        findings=tuple(findings),
    )


def assess_sites(
    rows: Iterable[SiteRow], standards: SiteStandards = ZAOZHUANG_2011
) -> tuple[SiteAssessment, ...]:
    """The site standards report: every row against the plan, in the given order.

    A site code that appears twice is refused (:class:`RuleInputError` naming it).
    """
    seen: set[str] = set()
    result: list[SiteAssessment] = []
    for row in rows:
        if row.code in seen:
            raise RuleInputError("code", f"site {row.code} appears more than once")
        seen.add(row.code)
        result.append(assess_site(row, standards))
    return tuple(result)
