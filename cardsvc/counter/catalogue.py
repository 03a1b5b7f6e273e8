"""The business items of shared/domain.md section 3 as the terminals see them: the API
route each one uses, who may run it, and whether a kiosk offers it.

The roles mirror cardsvc.services.scope (a test holds the two together): a clerk
does every item but C08; a supervisor the enquiries (E01-E05, B01, B03, B04) and C08;
reviewers and administrators do no business items at a counter. A kiosk offers the
items marked "kiosk" (R05: phone only), inside a PIN-verified card session.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final, Literal

Kind = Literal["enquiry", "write"]

CLERK: Final = "clerk"
SUPERVISOR: Final = "supervisor"


@dataclass(frozen=True, slots=True)
class Item:
    code: str
    title: str
    title_zh: str
    kind: Kind
    route: str
    """The API call(s) the item makes, as `METHOD /v1/path`."""
    kiosk: bool
    roles: frozenset[str]
    card_on_reader: bool = False
    """True when the item needs the card itself in the reader (PIN change, PIN reload)."""

    def allowed_for(self, roles: Iterable[str]) -> bool:
        return not self.roles.isdisjoint(roles)


_C = frozenset({CLERK})
_CS = frozenset({CLERK, SUPERVISOR})
_S = frozenset({SUPERVISOR})
_P = "/v1/persons/{ssn}"
_K = "/v1/cards/{card_number}"

ITEMS: Final[tuple[Item, ...]] = (
    Item(
        "E01",
        "insurance participation",
        "参保信息查询",
        "enquiry",
        f"GET {_P}/insurance",
        True,
        _CS,
    ),
    Item(
        "E02",
        "contribution history",
        "缴费记录查询",
        "enquiry",
        f"GET {_P}/contributions",
        True,
        _CS,
    ),
    Item(
        "E03",
        "personal pension account",
        "个人账户查询",
        "enquiry",
        f"GET {_P}/accounts",
        True,
        _CS,
    ),
    Item("E04", "benefit payments", "待遇发放查询", "enquiry", f"GET {_P}/benefits", True, _CS),
    Item(
        "E05", "employment status", "就业失业状态查询", "enquiry", f"GET {_P}/employment", True, _CS
    ),
    Item(
        "R01",
        "employment registration",
        "就业登记",
        "write",
        f"POST {_P}/employment-registrations",
        False,
        _C,
    ),
    Item(
        "R02",
        "unemployment registration",
        "失业登记",
        "write",
        f"POST {_P}/unemployment-registrations",
        True,
        _C,
    ),
    Item(
        "R03",
        "resident pension enrolment",
        "城乡居民养老参保",
        "write",
        f"POST {_P}/resident-pension-enrolment",
        False,
        _C,
    ),
    Item(
        "R04",
        "resident medical enrolment",
        "城乡居民医保参保",
        "write",
        f"POST {_P}/resident-medical-enrolment",
        False,
        _C,
    ),
    Item(
        "R05",
        "personal information change",
        "个人信息变更",
        "write",
        f"POST {_P}/information-changes",
        True,
        _C,
    ),
    Item(
        "B01",
        "unemployment benefit eligibility",
        "失业保险金资格",
        "enquiry",
        f"GET {_P}/unemployment-benefit-eligibility",
        True,
        _CS,
    ),
    Item(
        "B02",
        "pension qualification certification",
        "养老待遇资格认证",
        "write",
        f"POST {_P}/pension-certifications",
        True,
        _C,
    ),
    Item(
        "B03",
        "retirement eligibility",
        "退休资格",
        "enquiry",
        f"GET {_P}/retirement-eligibility",
        True,
        _CS,
    ),
    Item(
        "B04",
        "medical insurance status",
        "医保状态",
        "enquiry",
        f"GET {_P}/medical-insurance-status",
        True,
        _CS,
    ),
    Item("C01", "temporary loss report", "临时挂失", "write", f"POST {_K}/loss-reports", False, _C),
    Item("C02", "formal loss report", "正式挂失", "write", f"POST {_K}/loss-reports", False, _C),
    Item("C03", "cancel a loss report", "解挂", "write", f"DELETE {_K}/loss-reports", False, _C),
    Item("C04", "card replacement", "补换卡", "write", f"POST {_K}/replacement", False, _C),
    Item(
        "C05",
        "PIN change",
        "修改密码",
        "write",
        f"agent POST /v1/card/pin/change, POST {_K}/pin-change",
        True,
        _C,
        True,
    ),
    Item(
        "C06",
        "PIN reload / unlock",
        "密码重置/解锁",
        "write",
        f"agent POST /v1/card/pin/reload, POST {_K}/pin-reload",
        False,
        _C,
        True,
    ),
    Item("C07", "card activation", "启用", "write", f"POST {_K}/activation", True, _C),
    Item("C08", "card cancellation", "注销", "write", f"POST {_K}/cancellation", False, _S),
)

BY_CODE: Final[dict[str, Item]] = {item.code: item for item in ITEMS}
KIOSK_ITEMS: Final[tuple[Item, ...]] = tuple(item for item in ITEMS if item.kiosk)


def item(code: str) -> Item | None:
    """The item with this code (case-insensitive), or None."""
    return BY_CODE.get(code.strip().upper())


def allowed_items(roles: Iterable[str]) -> tuple[Item, ...]:
    """The items an operator holding `roles` may run at a counter, in table order."""
    held = frozenset(roles)
    return tuple(entry for entry in ITEMS if entry.allowed_for(held))
