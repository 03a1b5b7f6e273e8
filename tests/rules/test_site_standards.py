"""Site standards report: each level against the plan, shortfalls, over-range, boundaries."""

from decimal import Decimal

import pytest

from cardsvc.rules.errors import RuleInputError
from cardsvc.rules.site_standards import (
    CheckName,
    CheckStatus,
    SiteLevel,
    SiteRow,
    Verdict,
    assess_site,
    assess_sites,
)

D = Decimal


def township(
    population: int,
    floor: int | str,
    archive: int | str,
    staff: int,
    hires: int = 0,
    degrees: int = 0,
) -> SiteRow:
    return SiteRow(
        code="370402001",
        level=SiteLevel.TOWNSHIP,
        name="township",
        population_served=population,
        floor_area_m2=D(floor),
        archive_area_m2=D(archive),
        staff_count=staff,
        new_hires=hires,
        new_hires_with_degree=degrees,
    )


def station(population: int, floor: int | str, staff: int) -> SiteRow:
    return SiteRow("370402001001", SiteLevel.STATION, "station", population, D(floor), D(0), staff)


def check(assessment: object, name: CheckName) -> object:
    return next(c for c in assessment.checks if c.name is name)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("code", "floor"),
    [
        ("370403", 3000),
        ("370406", 3000),
        ("370404", 3000),
        ("370405", 3000),
        ("370402", 4000),
        ("370481", 5000),
    ],
)
def test_district_floor_area(code: str, floor: int) -> None:
    met = assess_site(SiteRow(code, SiteLevel.DISTRICT, "centre", 0, D(floor), D(0), 0))
    assert met.verdict is Verdict.MEETS
    c = met.checks[0]
    assert (c.required_min, c.actual, c.shortfall, c.status) == (
        D(floor),
        D(floor),
        D(0),
        CheckStatus.MET,
    )
    short = assess_site(SiteRow(code, SiteLevel.DISTRICT, "centre", 0, D(floor - 1), D(0), 0))
    assert short.verdict is Verdict.SHORT
    assert short.checks[0].shortfall == D(1)


def test_unknown_district_and_city_have_no_standard() -> None:
    unknown = assess_site(SiteRow("370499", SiteLevel.DISTRICT, "x", 0, D(10), D(0), 0))
    assert unknown.verdict is Verdict.NO_STANDARD
    assert not unknown.meets_plan
    assert "370499" in unknown.findings[0]
    city = assess_site(SiteRow("370400", SiteLevel.CITY, "city", 0, D(0), D(0), 0))
    assert city.verdict is Verdict.NO_STANDARD
    assert city.checks == ()


@pytest.mark.parametrize(
    ("population", "floor_min", "floor_max", "archive_min"),
    [
        (0, 120, 200, 20),
        (59_999, 120, 200, 20),
        (60_000, 200, 300, 30),
        (90_000, 200, 300, 30),
        (90_001, 300, None, 40),
        (250_000, 300, None, 40),
    ],
)
def test_township_bands_and_boundaries(
    population: int, floor_min: int, floor_max: int | None, archive_min: int
) -> None:
    a = assess_site(township(population, floor_min, archive_min, 100))
    floor = check(a, CheckName.FLOOR_AREA)
    archive = check(a, CheckName.ARCHIVE_AREA)
    assert floor.required_min == D(floor_min)  # type: ignore[attr-defined]
    assert floor.required_max == (None if floor_max is None else D(floor_max))  # type: ignore[attr-defined]
    assert archive.required_min == D(archive_min)  # type: ignore[attr-defined]
    assert a.verdict is Verdict.MEETS


def test_township_range_below_is_shortfall_above_is_finding() -> None:
    below = assess_site(township(50_000, "119.5", 20, 9))
    floor = check(below, CheckName.FLOOR_AREA)
    assert floor.status is CheckStatus.SHORT  # type: ignore[attr-defined]
    assert floor.shortfall == D("0.5")  # type: ignore[attr-defined]
    assert floor.required == "120–200 m²"  # type: ignore[attr-defined]
    assert below.verdict is Verdict.SHORT

    above = assess_site(township(50_000, 250, 20, 9))
    floor = check(above, CheckName.FLOOR_AREA)
    assert floor.status is CheckStatus.OVER_RANGE  # type: ignore[attr-defined]
    assert floor.shortfall == D(0)  # type: ignore[attr-defined]
    assert above.verdict is Verdict.MEETS
    assert any("over the plan's range" in f for f in above.findings)


@pytest.mark.parametrize(
    ("population", "staff_needed"),
    [(0, 5), (30_000, 5), (30_001, 6), (60_000, 10), (61_000, 11), (90_000, 15), (120_000, 20)],
)
def test_township_staff(population: int, staff_needed: int) -> None:
    a = assess_site(township(population, 300, 40, staff_needed - 1))
    staff = check(a, CheckName.STAFF)
    assert staff.required_min == D(staff_needed)  # type: ignore[attr-defined]
    assert staff.shortfall == D(1)  # type: ignore[attr-defined]
    assert a.verdict is Verdict.SHORT
    ok = assess_site(township(population, 300, 40, staff_needed))
    assert check(ok, CheckName.STAFF).shortfall == D(0)  # type: ignore[attr-defined]


def test_township_archive_and_degrees() -> None:
    a = assess_site(township(70_000, 250, 25, 12, hires=4, degrees=3))
    archive = check(a, CheckName.ARCHIVE_AREA)
    assert (archive.required_min, archive.actual, archive.shortfall) == (D(30), D(25), D(5))  # type: ignore[attr-defined]
    degrees = check(a, CheckName.NEW_HIRE_DEGREES)
    assert (degrees.required_min, degrees.actual, degrees.shortfall) == (D(4), D(3), D(1))  # type: ignore[attr-defined]
    assert a.verdict is Verdict.SHORT
    assert len([f for f in a.findings if "short" in f]) == 2


@pytest.mark.parametrize(
    ("population", "staff_needed"),
    [(0, 1), (999, 1), (1_000, 2), (1_600, 2), (1_601, 3), (4_000, 5)],
)
def test_station(population: int, staff_needed: int) -> None:
    a = assess_site(station(population, 50, staff_needed))
    assert a.verdict is Verdict.MEETS
    assert check(a, CheckName.STAFF).required_min == D(staff_needed)  # type: ignore[attr-defined]
    short = assess_site(station(population, 49, staff_needed - 1))
    assert short.verdict is Verdict.SHORT
    assert check(short, CheckName.FLOOR_AREA).shortfall == D(1)  # type: ignore[attr-defined]
    assert check(short, CheckName.STAFF).shortfall == D(1)  # type: ignore[attr-defined]


def test_report_keeps_order_and_refuses_duplicates() -> None:
    rows = [station(500, 60, 1), township(10_000, 150, 20, 5)]
    report = assess_sites(rows)
    assert [a.code for a in report] == ["370402001001", "370402001"]
    with pytest.raises(RuleInputError, match="370402001"):
        assess_sites([*rows, township(5, 150, 20, 5)])


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"code": "37040"}, "code"),
        ({"code": "37040200100A"}, "code"),
        ({"population_served": -1}, "population_served"),
        ({"floor_area_m2": D(-1)}, "floor_area_m2"),
        ({"floor_area_m2": D("NaN")}, "floor_area_m2"),
        ({"staff_count": -2}, "staff_count"),
        ({"new_hires": 1, "new_hires_with_degree": 2}, "new_hires_with_degree"),
    ],
)
def test_row_validation(kwargs: dict[str, object], field: str) -> None:
    base: dict[str, object] = {
        "code": "370402001001",
        "level": SiteLevel.STATION,
        "name": "s",
        "population_served": 10,
        "floor_area_m2": D(50),
        "archive_area_m2": D(0),
        "staff_count": 1,
    }
    base.update(kwargs)
    with pytest.raises(RuleInputError) as info:
        SiteRow(**base)  # type: ignore[arg-type]
    assert info.value.field == field
