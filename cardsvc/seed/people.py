"""Residents: birth date and place, a valid citizen ID, name, residence, phone, address.

Births run from 1940 to 2008 with a population pyramid shaped like China's (small
1940s cohorts, the 1962-1975 boom, the late-1980s echo). Most residents were born
in Zaozhuang; some elsewhere in Shandong or in neighbouring provinces, and a few
minority residents (Hui, Manchu, Mongol, Uyghur; Uyghur names are long).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Final

from cardsvc.db.models import Sex
from cardsvc.idcheck import ssn_check_digit
from cardsvc.seed import names
from cardsvc.seed.context import SsnAllocator
from cardsvc.seed.errors import SeedError
from cardsvc.seed.rng import WeightedChoice, between, chance
from cardsvc.seed.sites import DISTRICTS, Layout, SiteSpec

FIRST_BIRTH_YEAR: Final = 1940
LAST_BIRTH_YEAR: Final = 2008


def _cohort_weight(year: int) -> float:
    if year < 1950:
        return 0.35 + 0.04 * (year - 1940)
    if year < 1962:
        return 0.9
    if year < 1976:
        return 1.5
    if year < 1985:
        return 1.1
    if year < 1992:
        return 1.3
    return 0.9


_FIRST_BIRTH: Final = date(FIRST_BIRTH_YEAR, 1, 1)
_LAST_BIRTH: Final = date(LAST_BIRTH_YEAR, 12, 31)
_SHIFTS: Final = (0, *(d * sign for d in range(1, 200) for sign in (1, -1)))

BIRTH_YEARS: Final = WeightedChoice(
    tuple(range(FIRST_BIRTH_YEAR, LAST_BIRTH_YEAR + 1)),
    tuple(_cohort_weight(y) for y in range(FIRST_BIRTH_YEAR, LAST_BIRTH_YEAR + 1)),
)

_ZAOZHUANG: Final = {code: f"山东省枣庄市{name}" for code, name, _, _ in DISTRICTS}
OTHER_REGIONS: Final = {
    "370102": "山东省济南市历下区",
    "370203": "山东省青岛市市北区",
    "370811": "山东省济宁市任城区",
    "370883": "山东省济宁市邹城市",
    "371302": "山东省临沂市兰山区",
    "371324": "山东省临沂市兰陵县",
    "320303": "江苏省徐州市云龙区",
    "320382": "江苏省徐州市邳州市",
    "341302": "安徽省宿州市埇桥区",
    "410105": "河南省郑州市金水区",
    "130102": "河北省石家庄市长安区",
    "640104": "宁夏回族自治区银川市兴庆区",
}
XINJIANG: Final = {"650102": "新疆维吾尔自治区乌鲁木齐市天山区", "653101": "新疆维吾尔自治区喀什市"}
REGION_NAMES: Final = {**_ZAOZHUANG, **OTHER_REGIONS, **XINJIANG}
_OTHER_CODES: Final = tuple(OTHER_REGIONS)

# nationality code (GB 3304), share
_MINORITIES: Final = (("03", 0.006), ("11", 0.001), ("02", 0.0005), ("05", 0.0015))
_MOBILE_PREFIXES: Final = (
    "130",
    "131",
    "132",
    "133",
    "135",
    "136",
    "137",
    "138",
    "139",
    "150",
    "151",
    "152",
    "155",
    "156",
    "157",
    "158",
    "159",
    "177",
    "178",
    "180",
    "182",
    "183",
    "185",
    "186",
    "187",
    "188",
    "189",
    "199",
)


@dataclass(frozen=True, slots=True)
class PersonDraft:
    """A resident before their working life is decided."""

    id: int
    index: int
    ssn: str
    name: str
    sex: Sex
    birth_date: date
    birthplace: str
    nationality: str
    station: SiteSpec
    phone: str | None
    address: str
    household_registration: str

    @property
    def male(self) -> bool:
        return self.sex is Sex.MALE


def _birth_date(rng: random.Random) -> date:
    year = BIRTH_YEARS.pick(rng)
    start = date(year, 1, 1)
    return start + timedelta(days=int(rng.random() * (date(year + 1, 1, 1) - start).days))


def _address(rng: random.Random, station: SiteSpec, township: SiteSpec) -> str:
    place = station.name.removesuffix("服务站").removesuffix("联合").split("、")[0]
    prefix = f"山东省枣庄市{station.district_name}{township.name}{place}"
    if place.endswith("社区"):
        return (
            f"{prefix}{between(rng, 1, 40)}号楼{between(rng, 1, 4)}单元"
            f"{between(rng, 1, 18)}0{between(rng, 1, 4)}室"
        )
    return f"{prefix}{between(rng, 1, 260)}号"


def draft_person(
    rng: random.Random, person_id: int, index: int, layout: Layout, ssns: SsnAllocator
) -> PersonDraft:
    sex = Sex.MALE if chance(rng, 0.51) else Sex.FEMALE
    birth = _birth_date(rng)
    station = layout.residence.pick(rng)
    township = layout.by_code[station.township_code or station.code]

    nationality = "01"
    roll = rng.random()
    for code, share in _MINORITIES:
        if roll < share:
            nationality = code
            break
        roll -= share

    if nationality == "05":
        birthplace = tuple(XINJIANG)[int(rng.random() * len(XINJIANG))]
        name = names.uyghur_name(rng)
    else:
        roll = rng.random()
        if roll < 0.72:
            birthplace = station.district_code
        elif roll < 0.88:
            birthplace = DISTRICTS[int(rng.random() * len(DISTRICTS))][0]
        else:
            birthplace = _OTHER_CODES[int(rng.random() * len(_OTHER_CODES))]
        name = names.han_name(rng, sex, birth.year)

    # A unique sequence number; when a (place, day, sex) is full, try nearby days.
    for shift in _SHIFTS:
        day = birth + timedelta(days=shift)
        if not _FIRST_BIRTH <= day <= _LAST_BIRTH:
            continue
        sequence = ssns.allocate(birthplace, day, sex is Sex.MALE)
        if sequence is not None:
            birth = day
            break
    else:  # pragma: no cover - needs 200,000 people born in one place within 400 days
        raise SeedError(f"no free citizen ID number near {birth} in region {birthplace}")
    body = f"{birthplace}{birth:%Y%m%d}{sequence}"
    ssn = body + ssn_check_digit(body)

    phone: str | None = None
    if not (birth.year < 1955 and chance(rng, 0.3)):
        prefix = _MOBILE_PREFIXES[int(rng.random() * len(_MOBILE_PREFIXES))]
        phone = f"{prefix}{int(rng.random() * 100_000_000):08d}"
    if chance(rng, 0.9):
        household = f"山东省枣庄市{station.district_name}{township.name}"
    else:
        household = REGION_NAMES[birthplace]
    return PersonDraft(
        id=person_id,
        index=index,
        ssn=ssn,
        name=name,
        sex=sex,
        birth_date=birth,
        birthplace=birthplace,
        nationality=nationality,
        station=station,
        phone=phone,
        address=_address(rng, station, township),
        household_registration=household,
    )
