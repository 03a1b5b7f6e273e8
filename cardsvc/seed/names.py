"""Synthetic Chinese names: surnames by (roughly Shandong) frequency, given names by era.

A small share of names carry a rare character outside the Basic Multilingual Plane
(CJK Extension B-E, four bytes in GB 18030), and a few Uyghur names are long
enough to need the card's name-extension record (more than 30 bytes in GB 18030).
"""

from __future__ import annotations

import random
from typing import Final

from cardsvc.db.models import Sex
from cardsvc.seed.rng import WeightedChoice, chance

_SURNAMES: Final = (
    "王李张刘孙杨赵陈徐马高于吴郭田宋孔褚颜周朱胡何林韩邵魏黄曹范吕任姜董薛袁苏冯孟程杜丁"
    "闫种满邢梁崔史侯石鲍殷贾郑蒋谢曾秦陶庞卢蔡潘岳尹邱付龚钟武邓唐"
)
_COMPOUND_SURNAMES: Final = ("欧阳", "司马", "诸葛", "上官", "东方", "公孙", "端木")

SURNAMES: Final = WeightedChoice(
    tuple(_SURNAMES) + _COMPOUND_SURNAMES,
    tuple(1.0 / (i + 4) ** 0.9 for i in range(len(_SURNAMES))) + (0.004,) * len(_COMPOUND_SURNAMES),
)

# Given-name characters by birth era and sex.
_GIVEN: Final[dict[tuple[int, Sex], str]] = {
    (0, Sex.MALE): "国建军民忠祥福贵山宝庆华德胜利春永志文明金玉成海兴启长树立卫东",
    (0, Sex.FEMALE): "桂秀英兰凤珍翠荣玉芳梅华淑芝云霞琴香爱红莲素萍美娥",
    (1, Sex.MALE): "伟强磊军勇杰涛斌超明刚平辉鹏华飞波宁峰林龙亮成志东海建国利",
    (1, Sex.FEMALE): "丽静敏娟艳霞燕玲红梅莉芳娜英琳慧丹洁萍颖倩雪琴",
    (2, Sex.MALE): "浩宇轩泽晨博然睿铭子梓皓航阳凯鑫豪逸辰俊昊瑞嘉文宸",
    (2, Sex.FEMALE): "欣怡萱涵悦梓彤诗雨佳嘉晶蕾月琪雯婷菲瑶可馨妍淑慧",
}
_BMP_RARE: Final = "䶮堃喆淼犇珺昇彧璟玥翀"

NON_BMP_RARE: Final = (
    "\U00020bb7",  # 𠮷
    "\U0002b5af",  # 𫖯 (赵孟𫖯)
    "\U0002a6a5",  # 𪚥
    "\U0002c62d",  # 𬘭
    "\U0002c1d9",  # 𬇙
    "\U0002c317",  # 𬌗
    "\U0002b137",  # 𫄷
    "\U0002ccf5",  # 𬳵
)
"""Rare characters outside the BMP (CJK Extension B-E) that occur in personal names."""

_UYGHUR_GIVEN: Final = (
    "阿依古丽",
    "古丽娜尔",
    "热依拉",
    "买买提",
    "艾合买提江",
    "阿不都热合曼",
    "努尔买买提",
    "吐尔逊",
    "帕提古丽",
    "阿卜杜克热木",
)
_UYGHUR_FATHER: Final = (
    "吐尔洪巴依",
    "艾合买提江",
    "阿不都拉",
    "买买提明",
    "肉孜",
    "司马义",
    "阿卜杜热西提",
    "依明",
)

NON_BMP_SHARE: Final = 0.004
BMP_RARE_SHARE: Final = 0.01


def _era(birth_year: int) -> int:
    if birth_year < 1966:
        return 0
    if birth_year < 1990:
        return 1
    return 2


def han_name(rng: random.Random, sex: Sex, birth_year: int) -> str:
    """Surname and a one- or two-character given name."""
    surname = SURNAMES.pick(rng)
    pool = _GIVEN[(_era(birth_year), Sex.FEMALE if sex is Sex.FEMALE else Sex.MALE)]
    length = 1 if chance(rng, 0.3) else 2
    given = [pool[int(rng.random() * len(pool))] for _ in range(length)]
    if chance(rng, NON_BMP_SHARE):
        given[-1] = NON_BMP_RARE[int(rng.random() * len(NON_BMP_RARE))]
    elif chance(rng, BMP_RARE_SHARE):
        given[-1] = _BMP_RARE[int(rng.random() * len(_BMP_RARE))]
    return surname + "".join(given)


def uyghur_name(rng: random.Random) -> str:
    """Given name · father's name, sometimes with a grandfather's name (long)."""
    parts = [
        _UYGHUR_GIVEN[int(rng.random() * len(_UYGHUR_GIVEN))],
        _UYGHUR_FATHER[int(rng.random() * len(_UYGHUR_FATHER))],
    ]
    if chance(rng, 0.5):
        parts.append(_UYGHUR_FATHER[int(rng.random() * len(_UYGHUR_FATHER))])
    return "·".join(parts)


def split_for_card(name: str, generation: int) -> tuple[str, str] | None:
    """The card's name (tag 09, ≤ 30 bytes GB 18030) and extension (tag 4E, ≤ 20 bytes).

    Splits on character boundaries. Generation 1 has no extension record. None when
    the name does not fit the card of that generation.
    """
    head: list[str] = []
    used = 0
    rest_at = len(name)
    for i, char in enumerate(name):
        size = len(char.encode("gb18030"))
        if used + size > 30:
            rest_at = i
            break
        head.append(char)
        used += size
    rest = name[rest_at:]
    if not head:
        return None
    if rest and (generation == 1 or len(rest.encode("gb18030")) > 20):
        return None
    return "".join(head), rest
