"""`cardsvc person SSN`: tables through the services, clear one-line failures."""

from __future__ import annotations

import pytest
from services_city import City, make_ssn

from cardsvc.cli.main import main
from cardsvc.db.models import ItemCode, Outcome
from cardsvc.services.views import mask_ssn


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
