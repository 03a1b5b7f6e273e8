"""Synthetic employers: name, township, unified social credit code, work-injury rate.

The credit code's organisation number is the employer's id, so codes never repeat,
whatever the seed or however often persons are appended.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from cardsvc.seed.credit_code import make_credit_code
from cardsvc.seed.rng import WeightedChoice, between, stream
from cardsvc.seed.sites import Layout, SiteSpec
from cardsvc.seed.tables import Row

PERSONS_PER_EMPLOYER: Final = 25
MIN_EMPLOYERS: Final = 20

_BRANDS: Final = (
    "鑫源",
    "华宇",
    "恒达",
    "金正",
    "鲁南",
    "兴润",
    "东方",
    "宏发",
    "瑞丰",
    "中兴",
    "泰和",
    "永昌",
    "德信",
    "汇通",
    "新远",
    "腾达",
    "盛世",
    "利民",
    "福瑞",
    "万通",
    "信诚",
    "益康",
    "荣盛",
    "恒信",
    "龙腾",
    "奥德",
    "凯盛",
    "联润",
    "嘉禾",
    "正泰",
)
# (name suffix, work-injury rate range in bp: industry risk class)
_INDUSTRIES: Final = (
    ("煤业有限公司", 150, 190),
    ("机械制造有限公司", 80, 120),
    ("化工有限公司", 100, 160),
    ("建筑工程有限公司", 120, 170),
    ("纺织有限公司", 50, 80),
    ("食品有限公司", 40, 70),
    ("商贸有限公司", 20, 40),
    ("物流有限公司", 60, 90),
    ("电子科技有限公司", 20, 40),
    ("水泥有限公司", 100, 140),
    ("医药有限公司", 30, 60),
    ("餐饮管理有限公司", 30, 50),
    ("物业服务有限公司", 20, 40),
    ("农业科技有限公司", 40, 80),
)


@dataclass(frozen=True, slots=True)
class EmployerSpec:
    id: int
    credit_code: str
    name: str
    site_code: str
    district_code: str
    work_injury_bp: int

    def row(self) -> Row:
        return (self.id, self.credit_code, self.name, self.site_code)


def employer_count(persons: int) -> int:
    return max(MIN_EMPLOYERS, persons // PERSONS_PER_EMPLOYER)


def make_employers(seed: int, first_id: int, count: int, layout: Layout) -> list[EmployerSpec]:
    """`count` employers with ids from `first_id`, each in a township (weighted by people)."""
    townships = [s for s in layout.sites if s.township_code == s.code]
    choose = WeightedChoice(townships, [float(s.population or 0) for s in townships])
    result: list[EmployerSpec] = []
    for employer_id in range(first_id, first_id + count):
        rng = stream(seed, "employer", employer_id)
        site = choose.pick(rng)
        suffix, low, high = _INDUSTRIES[int(rng.random() * len(_INDUSTRIES))]
        prefix = (
            "滕州市"
            if site.district_code == "370481"
            else ("枣庄市" if rng.random() < 0.8 else "山东")
        )
        name = prefix + _BRANDS[int(rng.random() * len(_BRANDS))] + suffix
        result.append(
            EmployerSpec(
                id=employer_id,
                credit_code=make_credit_code(site.district_code, employer_id),
                name=name,
                site_code=site.code,
                district_code=site.district_code,
                work_injury_bp=between(rng, low, high),
            )
        )
    return result


class EmployerPool:
    """Employers to pick from: mostly in the person's own district."""

    def __init__(self, employers: Sequence[EmployerSpec]) -> None:
        if not employers:
            raise ValueError("an employer pool needs employers")
        self.all: tuple[EmployerSpec, ...] = tuple(employers)
        by_district: dict[str, list[EmployerSpec]] = {}
        for employer in employers:
            by_district.setdefault(employer.district_code, []).append(employer)
        self.by_district: Mapping[str, tuple[EmployerSpec, ...]] = {
            k: tuple(v) for k, v in by_district.items()
        }

    def pick(self, rng_value: float, district_code: str, local: bool) -> EmployerSpec:
        pool = self.by_district.get(district_code) if local else None
        options = pool or self.all
        return options[int(rng_value * len(options))]


def township_of(layout: Layout, site: SiteSpec) -> SiteSpec:
    return layout.by_code[site.township_code or site.code]
