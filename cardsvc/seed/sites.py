"""The site tree of Zaozhuang: city 370400, its 6 districts, 65 townships and their stations.

Districts and townships are the real ones (names and a plausible numbering: streets
``001…``, towns ``100…``). Stations are synthetic: every township has a station
``…001`` (the township seat's community), then communities ``002…`` (streets) or
villages ``201…`` (towns); some stations serve two neighbouring villages.

The tree, its figures and its staff do NOT depend on the seed: site codes (and
the operator usernames built from them) are stable. Some sites are deliberately
short of the plan's standards (floor or archive area, staff, new hires without
a college degree), so the site report has findings. Hire dates depend on as_of
only so that nobody is hired after it.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Final

from cardsvc.db.models import Degree, Sex, SiteLevel
from cardsvc.seed import names
from cardsvc.seed.rng import WeightedChoice, between, chance, stream

CITY_CODE: Final = "370400"
CITY_NAME: Final = "枣庄市"
PLAN_DATE: Final = date(2011, 1, 1)
"""Staff hired after the plan ("new hires") are hired from 2012 on, never in 2011."""
NEW_HIRES_FROM: Final = date(2012, 1, 1)

# code, name, population, floor area of the district centre (m²)
DISTRICTS: Final = (
    ("370402", "市中区", 590_000, 4_300),
    ("370403", "薛城区", 500_000, 3_100),
    ("370404", "峄城区", 380_000, 3_050),
    ("370405", "台儿庄区", 300_000, 2_600),  # short of the plan's 3000 m²
    ("370406", "山亭区", 470_000, 2_800),  # short of the plan's 3000 m²
    ("370481", "滕州市", 1_600_000, 5_200),
)

# district → (3-digit suffix, township name); streets 0xx, towns 1xx. 65 in all.
TOWNSHIPS: Final[Mapping[str, tuple[tuple[str, str], ...]]] = {
    "370402": (
        ("001", "中心街街道"),
        ("002", "垎塔埠街道"),
        ("003", "矿区街道"),
        ("004", "文化路街道"),
        ("005", "龙山路街道"),
        ("006", "光明路街道"),
        ("100", "税郭镇"),
        ("101", "孟庄镇"),
        ("102", "齐村镇"),
        ("103", "永安镇"),
        ("104", "西王庄镇"),
    ),
    "370403": (
        ("001", "临城街道"),
        ("002", "常庄街道"),
        ("003", "巨山街道"),
        ("004", "兴城街道"),
        ("005", "新城街道"),
        ("006", "张范街道"),
        ("100", "邹坞镇"),
        ("101", "沙沟镇"),
        ("102", "周营镇"),
        ("103", "陶庄镇"),
    ),
    "370404": (
        ("001", "坛山街道"),
        ("002", "吴林街道"),
        ("100", "古邵镇"),
        ("101", "阴平镇"),
        ("102", "底阁镇"),
        ("103", "榴园镇"),
        ("104", "峨山镇"),
    ),
    "370405": (
        ("001", "运河街道"),
        ("100", "邳庄镇"),
        ("101", "张山子镇"),
        ("102", "泥沟镇"),
        ("103", "涧头集镇"),
        ("104", "马兰屯镇"),
    ),
    "370406": (
        ("001", "山城街道"),
        ("100", "店子镇"),
        ("101", "西集镇"),
        ("102", "桑村镇"),
        ("103", "北庄镇"),
        ("104", "城头镇"),
        ("105", "徐庄镇"),
        ("106", "水泉镇"),
        ("107", "冯卯镇"),
        ("108", "凫城镇"),
    ),
    "370481": (
        ("001", "荆河街道"),
        ("002", "龙泉街道"),
        ("003", "北辛街道"),
        ("004", "善南街道"),
        ("005", "东沙河街道"),
        ("006", "洪绪街道"),
        ("100", "南沙河镇"),
        ("101", "大坞镇"),
        ("102", "滨湖镇"),
        ("103", "级索镇"),
        ("104", "西岗镇"),
        ("105", "姜屯镇"),
        ("106", "鲍沟镇"),
        ("107", "张汪镇"),
        ("108", "官桥镇"),
        ("109", "柴胡店镇"),
        ("110", "羊庄镇"),
        ("111", "木石镇"),
        ("112", "界河镇"),
        ("113", "龙阳镇"),
        ("114", "东郭镇"),
    ),
}

_COMMUNITY_WORDS: Final = (
    "青年路",
    "建设路",
    "解放路",
    "光明",
    "振兴",
    "新华",
    "胜利",
    "和平",
    "幸福",
    "东湖",
    "西昌",
    "南马道",
    "北马路",
    "文化",
    "龙潭",
    "君山",
    "鑫昌",
    "金河",
    "世纪",
    "红旗",
    "向阳",
    "东关",
    "西关",
    "南关",
    "北关",
    "府前",
    "学院",
    "铁路",
    "矿建",
    "园林",
    "民生",
    "泰山",
    "长江",
    "黄河",
    "华山",
    "湖光",
    "书香",
    "杏坛",
    "运河",
    "古城",
    "新城",
    "安居",
    "福泰",
    "锦绣",
)
_VILLAGE_HEADS: Final = "王李张刘孙赵陈徐马高于褚颜孔种邵魏黄杨田吕薛姜宋"
_VILLAGE_TAILS: Final = (
    "庄",
    "楼",
    "营",
    "集",
    "店",
    "屯",
    "寨",
    "洼",
    "湖",
    "沟",
    "岭",
    "峪",
    "家庄",
    "官庄",
)
_VILLAGE_PREFIXES: Final = ("", "", "", "东", "西", "南", "北", "前", "后", "大", "小")


@dataclass(frozen=True, slots=True)
class SiteSpec:
    """One site of the tree, with its figures (areas in m²)."""

    code: str
    parent_code: str | None
    level: SiteLevel
    name: str
    population: int | None
    floor_area: Decimal | None
    archive_area: Decimal | None
    district_code: str
    """The district (6 digits) the site belongs to; the city code for the city."""
    township_code: str | None

    @property
    def district_name(self) -> str:
        return _DISTRICT_NAMES.get(self.district_code, CITY_NAME)


_DISTRICT_NAMES: Final = {code: name for code, name, _, _ in DISTRICTS}


@dataclass(frozen=True, slots=True)
class StaffSpec:
    site_code: str
    name: str
    degree: Degree
    hired_on: date


@dataclass(frozen=True)
class Layout:
    """The whole site tree, in insertion order (parents before children)."""

    sites: tuple[SiteSpec, ...]
    staff: tuple[StaffSpec, ...]
    by_code: Mapping[str, SiteSpec]
    stations: tuple[SiteSpec, ...]
    residence: WeightedChoice[SiteSpec]
    """Stations weighted by the population they serve (where residents live)."""

    def parent_chain(self, code: str) -> tuple[SiteSpec, ...]:
        """The site and its ancestors, nearest first."""
        chain: list[SiteSpec] = []
        current: str | None = code
        while current is not None:
            site = self.by_code[current]
            chain.append(site)
            current = site.parent_code
        return tuple(chain)


def _area(value: float) -> Decimal:
    return Decimal(f"{value:.2f}")


def _split(total: int, weights: list[float]) -> list[int]:
    scale = sum(weights)
    return [int(total * w / scale) for w in weights]


def _township_figures(rng: random.Random, population: int) -> tuple[Decimal, Decimal]:
    """Floor and archive area; about one in five falls short, a few exceed the range."""
    if population < 60_000:
        low, high, archive_min = 120, 200, 20
    elif population <= 90_000:
        low, high, archive_min = 200, 300, 30
    else:
        low, high, archive_min = 300, 420, 40
    roll = rng.random()
    if roll < 0.15:
        floor = low * (0.6 + 0.35 * rng.random())
    elif roll < 0.2:
        floor = high * (1.05 + 0.3 * rng.random())
    else:
        floor = low + (high - low) * rng.random()
    archive = (
        archive_min * (0.5 + 0.45 * rng.random())
        if chance(rng, 0.15)
        else archive_min * (1.0 + 0.8 * rng.random())
    )
    return _area(floor), _area(archive)


def _station_names(rng: random.Random, township: str, count: int) -> list[str]:
    seat = township.removesuffix("街道").removesuffix("镇")
    is_town = township.endswith("镇")
    used = {seat}
    result = [f"{seat}社区服务站"]
    while len(result) < count:
        if is_town:
            word = (
                _VILLAGE_PREFIXES[int(rng.random() * len(_VILLAGE_PREFIXES))]
                + _VILLAGE_HEADS[int(rng.random() * len(_VILLAGE_HEADS))]
                + _VILLAGE_TAILS[int(rng.random() * len(_VILLAGE_TAILS))]
            )
        else:
            word = _COMMUNITY_WORDS[int(rng.random() * len(_COMMUNITY_WORDS))]
        if word in used:
            continue
        used.add(word)
        if not is_town:
            result.append(f"{word}社区服务站")
        elif chance(rng, 0.12):
            other = _VILLAGE_HEADS[int(rng.random() * len(_VILLAGE_HEADS))] + "庄"
            if other in used:
                continue
            used.add(other)
            result.append(f"{word}村、{other}村联合服务站")
        else:
            result.append(f"{word}村服务站")
    return result


def _degree(rng: random.Random, *, new_hire: bool) -> Degree:
    roll = rng.random()
    if new_hire:
        if roll < 0.35:
            return Degree.COLLEGE
        return Degree.BACHELOR if roll < 0.9 else Degree.MASTER
    if roll < 0.4:
        return Degree.BELOW_COLLEGE
    return Degree.COLLEGE if roll < 0.75 else Degree.BACHELOR


def _hire_date(rng: random.Random, as_of: date, *, new_hire: bool) -> date:
    if new_hire:
        start, end = NEW_HIRES_FROM, as_of
    else:
        start, end = date(1988, 1, 1), date(2010, 12, 31)
    return start + timedelta(days=int(rng.random() * ((end - start).days + 1)))


def _staff(
    rng: random.Random,
    site_code: str,
    count: int,
    as_of: date,
    *,
    township: bool,
    degree_violation: bool = False,
) -> list[StaffSpec]:
    people: list[StaffSpec] = []
    for i in range(count):
        new_hire = chance(rng, 0.45)
        degree = _degree(rng, new_hire=new_hire)
        if township and degree_violation and i == count - 1:
            new_hire, degree = True, Degree.BELOW_COLLEGE  # the plan's degree rule broken
        sex = Sex.MALE if chance(rng, 0.5) else Sex.FEMALE
        name = names.han_name(rng, sex, 1965 + int(rng.random() * 35))
        people.append(StaffSpec(site_code, name, degree, _hire_date(rng, as_of, new_hire=new_hire)))
    return people


def build_layout(as_of: date) -> Layout:
    """The site tree and staff (independent of the seed; hire dates never after as_of)."""
    rng = stream(0, "layout")
    sites: list[SiteSpec] = [
        SiteSpec(
            CITY_CODE,
            None,
            SiteLevel.CITY,
            CITY_NAME,
            sum(d[2] for d in DISTRICTS),
            None,
            None,
            CITY_CODE,
            None,
        )
    ]
    staff: list[StaffSpec] = _staff(rng, CITY_CODE, 15, as_of, township=False)
    townships: list[SiteSpec] = []
    stations: list[SiteSpec] = []
    for district_code, district_name, population, floor in DISTRICTS:
        sites.append(
            SiteSpec(
                district_code,
                CITY_CODE,
                SiteLevel.DISTRICT,
                district_name,
                population,
                _area(floor),
                _area(floor * 0.06),
                district_code,
                None,
            )
        )
        staff.extend(_staff(rng, district_code, between(rng, 25, 60), as_of, township=False))
        entries = TOWNSHIPS[district_code]
        weights = [
            (1.5 if name.endswith("街道") else 1.0) * (0.6 + 0.8 * rng.random())
            for _, name in entries
        ]
        for (suffix, name), pop in zip(entries, _split(population, weights), strict=True):
            code = district_code + suffix
            floor_area, archive_area = _township_figures(rng, pop)
            township = SiteSpec(
                code,
                district_code,
                SiteLevel.TOWNSHIP,
                name,
                pop,
                floor_area,
                archive_area,
                district_code,
                code,
            )
            townships.append(township)
            required = max(5, math.ceil(pop / 6000))
            count = (
                max(1, required - between(rng, 1, 3))
                if chance(rng, 0.25)
                else required + between(rng, 0, 2)
            )
            staff.extend(
                _staff(rng, code, count, as_of, township=True, degree_violation=chance(rng, 0.12))
            )
            is_town = name.endswith("镇")
            station_names = _station_names(
                rng, name, between(rng, 5, 9) if is_town else between(rng, 4, 8)
            )
            for index, station_name in enumerate(station_names):
                if index == 0:
                    suffix3 = "001"
                elif is_town:
                    suffix3 = f"{200 + index:03d}"
                else:
                    suffix3 = f"{1 + index:03d}"
                if station_name.endswith("社区服务站"):
                    served = between(rng, 2_000, 9_000)
                else:
                    served = between(rng, 600, 3_200)
                roll = rng.random()
                station_floor = (
                    _area(30 + 19 * rng.random()) if roll < 0.15 else _area(50 + 100 * rng.random())
                )
                station = SiteSpec(
                    code + suffix3,
                    code,
                    SiteLevel.STATION,
                    station_name,
                    served,
                    station_floor,
                    None,
                    district_code,
                    code,
                )
                stations.append(station)
                needed = 1 if served < 1000 else math.ceil(served / 800)
                count = max(0, needed - between(rng, 1, 2)) if chance(rng, 0.2) else needed
                staff.extend(_staff(rng, station.code, count, as_of, township=False))
    ordered = (*sites, *townships, *stations)
    return Layout(
        sites=ordered,
        staff=tuple(staff),
        by_code={site.code: site for site in ordered},
        stations=tuple(stations),
        residence=WeightedChoice(stations, [float(s.population or 0) for s in stations]),
    )
