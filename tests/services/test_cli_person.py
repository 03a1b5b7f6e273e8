"""`cardsvc person SSN`: tables through the services, clear one-line failures."""

from __future__ import annotations

from datetime import date

import pytest
from services_city import EMPLOYER_CODE, City, make_ssn

from cardsvc.cli.main import main
from cardsvc.db.models import ContractType, ItemCode, Outcome, SeparationReason
from cardsvc.idcheck import mask_ssn
from cardsvc.services.items import registrations


def _url(city: City) -> str:
    return city.db.engine.url.render_as_string(hide_password=False)


def test_person_prints_summary_and_e01_to_e05(
    city: City, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["person", city.ssns["zhang"], "--database", _url(city), "--rows", "3"])
    out = capsys.readouterr().out
    assert code == 0
    assert "张三" in out
    assert mask_ssn(city.ssns["zhang"]) in out
    assert city.ssns["zhang"] not in out  # masked
    titles = (
        "E01 insurance participation",
        "E02 contribution history (3 of 72",
        "E03 personal pension account (balance 9,899.79 yuan",
        "E04 benefit payments (0 of 0",
        "E05 employment status: not_working",
    )
    for title in titles:
        assert title in out
    assert "employee_pension" in out
    assert "202412" in out
    # each enquiry was journaled under the default operator: the city's supervisor
    entries = city.journal()[-5:]
    assert [e.item for e in entries] == [
        ItemCode.E01,
        ItemCode.E02,
        ItemCode.E03,
        ItemCode.E04,
        ItemCode.E05,
    ]
    assert {e.operator_id for e in entries} == {city.ops["sup_city"].operator_id}


def test_person_bad_ssn_exits_2_with_the_fix(
    city: City, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["person", "370402199001011230", "--database", _url(city)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1
    assert "not a valid ID number" in err
    assert "check the number" in err


def test_person_missing_or_out_of_scope_exits_1(
    city: City, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = make_ssn("37040219991231000")
    assert main(["person", missing, "--database", _url(city)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert mask_ssn(missing) in err
    assert missing not in err
    assert "--as" in err
    code = main(["person", city.ssns["zhang"], "--database", _url(city), "--as", "clerk_x"])
    assert code == 1
    assert "acting as clerk_x" in capsys.readouterr().err
    assert city.journal()[-1].outcome is Outcome.DENIED
    code = main(["person", city.ssns["zhang"], "--database", _url(city), "--as", "nobody"])
    assert code == 1
    assert "no active operator 'nobody'" in capsys.readouterr().err


def test_person_shows_why_the_last_employment_ended(
    city: City, capsys: pytest.CaptureFixture[str]
) -> None:
    clerk = city.ops["clerk_s1"]
    today = city.ctx.today()
    registrations.register_employment(
        city.ctx,
        clerk,
        city.ssns["zhang"],
        employer_credit_code=EMPLOYER_CODE,
        start_date=date(2023, 1, 1),
        contract_type=ContractType.FIXED_TERM,
        idempotency_key="r01",
    )
    registrations.register_unemployment(
        city.ctx,
        clerk,
        city.ssns["zhang"],
        able_to_work=True,
        willing_to_work=True,
        employment_ended_on=today,
        separation_reason=SeparationReason.EMPLOYER_CLOSED,
        idempotency_key="r02",
    )
    code = main(["person", city.ssns["zhang"], "--database", _url(city)])
    out = capsys.readouterr().out
    assert code == 0
    section = out[out.index("E05 last ended employment") :]
    assert "枣庄机械厂" in section
    assert "2023-01-01" in section
    assert today.isoformat() in section
    assert "employer_closed" in section
