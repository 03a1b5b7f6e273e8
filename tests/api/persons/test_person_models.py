"""E02's answer is serialised without validating each line (api.routes.person_models.
contributions_json): it must be exactly the JSON ContributionsOut gives for the page."""

from __future__ import annotations

from datetime import date

import pytest

from api.routes.person_models import ContributionsOut, Page, contributions_json
from cardsvc.db.models import EmploymentStatus, Scheme, Sex
from cardsvc.rules.months import YearMonth
from cardsvc.services.items.enquiries import ContributionLine, ContributionPage
from cardsvc.services.views import PersonSummary

CLERK_VIEW = PersonSummary(
    7, "370402199001011238", "张三", Sex.MALE, date(1990, 1, 1), "370402",
    EmploymentStatus.EMPLOYED, "13800001234",
)  # fmt: skip
KIOSK_VIEW = PersonSummary(
    7, "370402********1238", "张三", Sex.MALE, date(1990, 1, 1), "370402",
    EmploymentStatus.UNEMPLOYED, "*******1234",
)  # fmt: skip


def _line(month: int, scheme: Scheme, paid_on: date | None = None) -> ContributionLine:
    return ContributionLine(
        month=YearMonth.from_number(month),
        scheme=scheme,
        base_fen=512_300,
        employer_part_fen=81_968,
        personal_part_fen=40_984,
        employer_name=None if paid_on else '济南某某有限公司 "总部"',
        paid_on=paid_on,
    )


LINES = (
    _line(202412, Scheme.EMPLOYEE_PENSION),
    _line(202412, Scheme.RESIDENT_MEDICAL, paid_on=date(2024, 11, 30)),
    _line(190001, Scheme.UNEMPLOYMENT),
)


def _model_json(page: ContributionPage) -> bytes:
    answer = {
        "person": page.person,
        "scheme": page.scheme,
        "contributions": page.lines,
        "page": Page.of(page.total, page.limit, page.offset, len(page.lines)),
    }
    return (
        ContributionsOut.model_validate(answer, from_attributes=True)
        .model_dump_json(by_alias=True)
        .encode()
    )


@pytest.mark.parametrize(
    "page",
    [
        ContributionPage(CLERK_VIEW, None, LINES, total=3, limit=50, offset=0),
        ContributionPage(KIOSK_VIEW, None, LINES[:2], total=40, limit=2, offset=10),
        ContributionPage(CLERK_VIEW, Scheme.RESIDENT_MEDICAL, LINES[1:2], 1, 50, 0),
        ContributionPage(KIOSK_VIEW, Scheme.WORK_INJURY, (), total=0, limit=50, offset=0),
        ContributionPage(CLERK_VIEW, None, (), total=3, limit=50, offset=100),
    ],
    ids=["clerk", "kiosk-middle-page", "one-scheme", "empty", "past-the-end"],
)
def test_contributions_json_is_the_models_json(page: ContributionPage) -> None:
    assert contributions_json(page) == _model_json(page)
