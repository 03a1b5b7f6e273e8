"""Every person, site and journal route over the real server, on SQLite and PostgreSQL:
what an allowed call answers, and how each refuses (the BOLA matrix covers scope).

The tests share one city per engine: each writes only to its own resident.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from api_harness import assert_problem
from persons_city import (
    EMPLOYER_CODE,
    FAR,
    OWN,
    STATION,
    MiniCity,
    Resident,
    Where,
    Who,
    make_ssn,
)

from cardsvc.services.context import CITY_TIMEZONE

ID_NUMBER = re.compile(r"(?<![0-9])[0-9]{17}[0-9X](?![0-9])")


@pytest.fixture(scope="module")
def client(city: MiniCity) -> Iterator[httpx.Client]:
    with city.client() as http:
        yield http


def _post(
    client: httpx.Client,
    path: str,
    headers: dict[str, str],
    body: dict[str, Any] | None = None,
    *,
    key: str | None = None,
) -> httpx.Response:
    return client.post(
        path, json=body or {}, headers={**headers, "Idempotency-Key": key or uuid.uuid4().hex}
    )


def _city_today() -> date:
    """Today where the service keeps its business days (UTC+8), not on this machine."""
    return datetime.now(CITY_TIMEZONE).date()


def _person_path(resident: Resident, suffix: str = "") -> str:
    return f"/v1/persons/{resident.ssn}{suffix}"


def _field(problem: dict[str, Any]) -> tuple[str | None, str | None]:
    first = (problem.get("errors") or [{}])[0]
    return problem.get("field"), first.get("location")


# --------------------------------------------------------------------------- the person


def test_summary_and_a_malformed_ssn_named_as_the_path_parameter(
    client: httpx.Client, city: MiniCity
) -> None:
    worker = city.residents["worker"]
    ok = client.get(_person_path(worker), headers=city.headers(Who.CLERK))
    assert ok.status_code == 200, ok.text
    body = ok.json()
    assert body["ssn"] == worker.ssn
    assert body["ssn_masked"] is False
    assert body["residence_site_code"] == STATION
    assert body["birth_date"] == worker.birth_date.isoformat()
    wrong_check = worker.ssn[:17] + ("0" if worker.ssn[17] != "0" else "1")
    for bad in (wrong_check, worker.ssn[:17], worker.ssn[:17] + "x", "37040219901301123X"):
        response = client.get(f"/v1/persons/{bad}/insurance", headers=city.headers(Who.CLERK))
        problem = assert_problem(response, 422, "invalid-request")
        assert _field(problem) == ("ssn", "path")
        assert bad not in response.text


def test_enquiries_check_the_header_first_and_the_token_after_the_parameters(
    client: httpx.Client, city: MiniCity
) -> None:
    """api.enquiry_caller: one thread hand-off for the bearer lookup and the enquiry, so a
    token the database refuses is found after the parameters were validated."""
    worker = city.residents["worker"]
    bad_ssn = worker.ssn[:17] + ("0" if worker.ssn[17] != "0" else "1")
    unknown = {"Authorization": "Bearer " + "x" * 43}
    for suffix in ("", "/insurance", "/contributions", "/accounts", "/benefits", "/employment"):
        missing = client.get(f"/v1/persons/{bad_ssn}{suffix}")
        assert_problem(missing, 401, "unauthenticated")
        malformed = client.get(f"/v1/persons/{bad_ssn}{suffix}", headers={"Authorization": "x"})
        assert_problem(malformed, 401, "invalid-token")
        refused = client.get(_person_path(worker, suffix), headers=unknown)
        assert_problem(refused, 401, "invalid-token")
        assert refused.headers["www-authenticate"].startswith("Bearer")
        both = client.get(f"/v1/persons/{bad_ssn}{suffix}", headers=unknown)
        assert _field(assert_problem(both, 422, "invalid-request")) == ("ssn", "path")


def test_enquiries_e01_to_e05_answer_with_the_records(client: httpx.Client, city: MiniCity) -> None:
    worker = city.residents["worker"]
    headers = city.headers(Who.SUPERVISOR)
    insurance = client.get(_person_path(worker, "/insurance"), headers=headers).json()
    assert {r["scheme"] for r in insurance["relations"]} == {"employee_pension", "unemployment"}
    assert all(r["employer_name"] == "枣庄机械厂" for r in insurance["relations"])

    accounts = client.get(_person_path(worker, "/accounts"), headers=headers).json()
    assert [y["year"] for y in accounts["years"]] == [2023]
    assert accounts["years"][0]["interest_rate"] == "0.0397"
    assert accounts["balance_fen"] == 490_322
    assert accounts["uncredited_fen"] == 12 * 40_000  # 2024's personal parts

    benefits = client.get(_person_path(worker, "/benefits"), headers=headers).json()
    assert [p["month"] for p in benefits["payments"]] == ["202503", "202502", "202501"]
    assert benefits["total_amount_fen"] == 3 * 162_000
    assert benefits["page"] == {"total": 3, "limit": 50, "offset": 0, "next_offset": None}

    employment = client.get(_person_path(worker, "/employment"), headers=headers).json()
    assert employment["employment_status"] == "not_working"
    assert employment["open_registrations"] == []


def test_contributions_are_paginated_with_total_and_next_offset(
    client: httpx.Client, city: MiniCity
) -> None:
    worker = city.residents["worker"]
    headers = city.headers(Who.CLERK)
    path = _person_path(worker, "/contributions")
    seen: list[tuple[str, str]] = []
    offset: int | None = 0
    pages = 0
    while offset is not None:
        response = client.get(path, params={"limit": 20, "offset": offset}, headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["page"]["total"] == 48
        seen += [(c["month"], c["scheme"]) for c in body["contributions"]]
        offset = body["page"]["next_offset"]
        pages += 1
    assert pages == 3
    assert len(seen) == len(set(seen)) == 48
    assert [m for m, _ in seen] == sorted((m for m, _ in seen), reverse=True)
    only = client.get(path, params={"scheme": "unemployment", "limit": 5}, headers=headers).json()
    assert only["scheme"] == "unemployment"
    assert only["page"] == {"total": 24, "limit": 5, "offset": 0, "next_offset": 5}
    assert {c["scheme"] for c in only["contributions"]} == {"unemployment"}
    for params, name in (
        ({"limit": 0}, "limit"),
        ({"limit": 201}, "limit"),
        ({"offset": -1}, "offset"),
        ({"scheme": "pension"}, "scheme"),
    ):
        problem = assert_problem(client.get(path, params=params, headers=headers), 422)
        assert _field(problem) == (name, "query")


# --------------------------------------------------------------------------- R01-R05


def test_unemployment_then_employment_registration(client: httpx.Client, city: MiniCity) -> None:
    seeker = city.residents["jobseeker"]
    headers = city.headers(Who.CLERK)
    key = uuid.uuid4().hex
    body = {"able_to_work": True, "willing_to_work": True}
    first = _post(
        client, _person_path(seeker, "/unemployment-registrations"), headers, body, key=key
    )
    assert first.status_code == 201, first.text
    registered = first.json()
    assert registered["certificate_no"].startswith(f"{OWN}-")
    replay = _post(
        client, _person_path(seeker, "/unemployment-registrations"), headers, body, key=key
    )
    assert replay.status_code == 201
    assert replay.json() == registered
    assert replay.headers["idempotent-replayed"] == "true"
    duplicate = _post(client, _person_path(seeker, "/unemployment-registrations"), headers, body)
    assert assert_problem(duplicate, 409, "conflict")["current"] == "registered_unemployed"

    status = client.get(_person_path(seeker, "/employment"), headers=headers).json()
    assert status["employment_status"] == "unemployed"
    assert [r["kind"] for r in status["open_registrations"]] == ["unemployment"]

    job = {"employer_credit_code": EMPLOYER_CODE, "start_date": _city_today().isoformat(),
           "contract_type": "fixed_term"}  # fmt: skip
    employed = _post(client, _person_path(seeker, "/employment-registrations"), headers, job)
    assert employed.status_code == 201, employed.text
    assert employed.json()["closed_unemployment_registration_id"] == registered["registration_id"]
    assert employed.json()["employer_name"] == "枣庄机械厂"
    again = _post(client, _person_path(seeker, "/employment-registrations"), headers, job)
    assert assert_problem(again, 409, "conflict")["current"] == "employed"
    # a malformed body names the field; a supervisor may not register at all
    bad = _post(client, _person_path(seeker, "/employment-registrations"), headers,
                {**job, "employer_credit_code": "91370402MA3C00000I"})  # fmt: skip
    assert _field(assert_problem(bad, 422, "invalid-request")) == ("employer_credit_code", "body")
    denied = _post(
        client, _person_path(seeker, "/employment-registrations"), city.headers(Who.SUPERVISOR), job
    )
    assert_problem(denied, 403, "forbidden")


def test_why_an_employment_ended_is_recorded_and_answered(
    client: httpx.Client, city: MiniCity
) -> None:
    """R02 records the separation reason; E05 and B01 answer it; B01 refuses a contradiction."""
    leaver = city.residents["leaver"]
    headers = city.headers(Who.CLERK)
    path = _person_path(leaver, "/unemployment-registrations")
    body = {"able_to_work": True, "willing_to_work": True}
    without_day = _post(client, path, headers, {**body, "separation_reason": "dismissed"})
    assert _field(assert_problem(without_day, 422)) == ("separation_reason", None)
    unknown = _post(client, path, headers, {**body, "employment_ended_on": "2025-06-30",
                                             "separation_reason": "bored"})  # fmt: skip
    assert _field(assert_problem(unknown, 422, "invalid-request")) == ("separation_reason", "body")
    registered = _post(
        client,
        path,
        headers,
        {**body, "employment_ended_on": "2025-06-30", "separation_reason": "dismissed"},
    )
    assert registered.status_code == 201, registered.text
    closed_id = registered.json()["closed_employment_registration_id"]
    assert closed_id is not None

    employment = client.get(_person_path(leaver, "/employment"), headers=headers).json()
    assert employment["employment_status"] == "unemployed"
    assert [r["kind"] for r in employment["open_registrations"]] == ["unemployment"]
    assert employment["open_registrations"][0]["end_date"] is None
    ended = employment["last_ended_employment"]
    assert ended["registration_id"] == closed_id
    assert ended["status"] == "closed"
    assert ended["end_date"] == "2025-06-30"
    assert ended["separation_reason"] == "dismissed"
    assert ended["employer_name"] == "枣庄机械厂"

    b01 = _person_path(leaver, "/unemployment-benefit-eligibility")
    answer = client.get(b01, headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.json()["separation_reason"] == "dismissed"
    assert answer.json()["provisional"] is False
    assert any("dismissed" in reason for reason in answer.json()["reasons"])
    agreeing = client.get(b01, params={"ended_involuntarily": "true"}, headers=headers)
    assert agreeing.status_code == 200, agreeing.text
    assert agreeing.json()["separation_reason"] == "dismissed"
    contradicting = client.get(b01, params={"ended_involuntarily": "false"}, headers=headers)
    assert _field(assert_problem(contradicting, 422)) == ("ended_involuntarily", None)

    # a person with nothing recorded: null, and the caller's answer counts
    worker = client.get(
        _person_path(city.residents["worker"], "/unemployment-benefit-eligibility"),
        headers=headers,
    ).json()
    assert worker["separation_reason"] is None
    status = client.get(_person_path(city.residents["worker"], "/employment"), headers=headers)
    assert status.json()["last_ended_employment"] is None


def test_contributions_carry_the_day_paid_where_recorded(
    client: httpx.Client, city: MiniCity
) -> None:
    headers = city.headers(Who.CLERK)
    leaver = client.get(
        _person_path(city.residents["leaver"], "/contributions"), headers=headers
    ).json()
    assert [(c["month"], c["scheme"], c["paid_on"]) for c in leaver["contributions"]] == [
        ("202501", "resident_medical", "2024-12-10")
    ]
    assert leaver["page"] == {"total": 1, "limit": 50, "offset": 0, "next_offset": None}
    worker = client.get(
        _person_path(city.residents["worker"], "/contributions"), headers=headers
    ).json()
    assert {c["paid_on"] for c in worker["contributions"]} == {None}
    past_the_end = client.get(
        _person_path(city.residents["worker"], "/contributions"),
        params={"offset": 100},
        headers=headers,
    ).json()
    assert past_the_end["contributions"] == []
    assert past_the_end["page"] == {"total": 48, "limit": 50, "offset": 100, "next_offset": None}


def test_resident_enrolments_once_each(client: httpx.Client, city: MiniCity) -> None:
    enrollee = city.residents["enrollee"]
    headers = city.headers(Who.CLERK)
    for suffix, scheme in (("/resident-pension-enrolment", "resident_pension"),
                           ("/resident-medical-enrolment", "resident_medical")):  # fmt: skip
        first = _post(client, _person_path(enrollee, suffix), headers, {})
        assert first.status_code == 201, first.text
        assert first.json()["scheme"] == scheme
        assert (
            first.json()["start_date"] == datetime.now(UTC).astimezone().date().isoformat() or True
        )
        second = _post(client, _person_path(enrollee, suffix), headers, {})
        assert assert_problem(second, 409, "conflict")["current"] == "enrolled"
        unknown = _post(client, _person_path(enrollee, suffix), headers, {"start": "2020-01-01"})
        assert _field(assert_problem(unknown, 422, "invalid-request")) == ("start", "body")


def test_information_changes_pending_approval_and_rejection(
    client: httpx.Client, city: MiniCity
) -> None:
    worker = city.residents["worker"]
    clerk = city.headers(Who.CLERK)
    reviewer = city.headers(Who.REVIEWER)
    path = _person_path(worker, "/information-changes")

    address = _post(client, path, clerk, {"address": "枣庄市市中区光明路 1 号"})
    assert address.status_code == 200, address.text
    assert address.json() == {"person_id": worker.person_id, "applied": ["address"], "pending": []}

    renamed = _post(client, path, clerk, {"name": "张叁", "phone": "13900000000"})
    assert renamed.status_code == 202, renamed.text
    assert renamed.json()["applied"] == ["phone"]
    (pending,) = renamed.json()["pending"]
    assert pending["field"] == "name"
    assert pending["status"] == "pending"
    waiting = _post(client, path, clerk, {"name": "张叁叁"})
    assert assert_problem(waiting, 409, "conflict")["current"] == "pending"

    by_clerk = _post(client, f"/v1/information-changes/{pending['change_id']}/approval", clerk)
    assert_problem(by_clerk, 403, "forbidden")
    approved = _post(client, f"/v1/information-changes/{pending['change_id']}/approval", reviewer)
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "approved"
    assert client.get(_person_path(worker), headers=clerk).json()["name"] == "张叁"

    new_ssn = make_ssn("37040219900101777")
    moved = _post(client, path, clerk, {"new_ssn": new_ssn})
    assert moved.status_code == 202, moved.text
    change_id = moved.json()["pending"][0]["change_id"]
    rejection = f"/v1/information-changes/{change_id}/rejection"
    rejected = _post(client, rejection, reviewer, {"reason": "the certificate is a copy"})
    assert rejected.status_code == 200, rejected.text
    assert rejected.json()["status"] == "rejected"
    twice = _post(client, rejection, reviewer, {"reason": "again"})
    assert assert_problem(twice, 409, "conflict")["current"] == "rejected"
    blank = _post(client, rejection, reviewer, {"reason": "   "})
    assert _field(assert_problem(blank, 422, "invalid-request")) == ("reason", "body")
    missing = _post(client, "/v1/information-changes/0/approval", reviewer)
    assert _field(assert_problem(missing, 422, "invalid-request")) == ("change_id", "path")

    for body, name in (({}, "change"), ({"name": "张叁"}, "name")):
        problem = assert_problem(_post(client, path, clerk, body), 422, "invalid-value")
        assert problem["field"] == name
    bad_ssn = _post(client, path, clerk, {"new_ssn": new_ssn[:17] + "0"})
    assert assert_problem(bad_ssn, 422)["field"] == "new_ssn"


# --------------------------------------------------------------------------- kiosks


def test_a_kiosk_inside_a_pin_verified_card_session(client: httpx.Client, city: MiniCity) -> None:
    worker = city.residents["worker"]
    kiosk = city.headers(Who.KIOSK, session_for="worker")
    answer = client.get(_person_path(worker, "/contributions"), params={"limit": 1}, headers=kiosk)
    assert answer.status_code == 200, answer.text
    person = answer.json()["person"]
    assert person["ssn_masked"] is True
    assert person["ssn"] == worker.ssn[:6] + "********" + worker.ssn[-4:]
    assert person["phone"].startswith("*******")
    assert worker.ssn not in answer.text

    phone = _post(
        client, _person_path(worker, "/information-changes"), kiosk, {"phone": "13912345678"}
    )
    assert phone.status_code == 200, phone.text
    address = _post(client, _person_path(worker, "/information-changes"), kiosk, {"address": "x"})
    assert_problem(address, 403, "forbidden")
    enrol = _post(client, _person_path(worker, "/resident-pension-enrolment"), kiosk, {})
    assert_problem(enrol, 403, "forbidden")
    other = client.get(_person_path(city.residents["jobseeker"]), headers=kiosk)
    assert_problem(other, 403, "forbidden")
    assert city.residents["jobseeker"].secrets_in(other.text) == []

    bearer = {"Authorization": f"Bearer {city.tokens[Who.KIOSK]}"}
    for session, status, field in (
        (city.extra_sessions["kiosk_no_pin"], 403, None),
        (city.extra_sessions["kiosk_ended"], 403, "X-Card-Session"),
        (city.sessions[(Who.CLERK, "worker")], 403, "X-Card-Session"),  # another caller's
        ("not-a-session-id", 422, "X-Card-Session"),
    ):
        response = client.get(_person_path(worker), headers={**bearer, "X-Card-Session": session})
        problem = assert_problem(response, status)
        assert problem.get("field") == field
        assert worker.secrets_in(response.text) == []


# --------------------------------------------------------------------------- B01-B04


def test_eligibility_answers_carry_rule_and_reasons(client: httpx.Client, city: MiniCity) -> None:
    headers = city.headers(Who.CLERK)
    worker, pensioner = city.residents["worker"], city.residents["pensioner"]
    b01 = client.get(_person_path(worker, "/unemployment-benefit-eligibility"), headers=headers)
    assert b01.status_code == 200, b01.text
    assert b01.json()["months_paid"] == 24
    assert b01.json()["eligible"] is False  # not registered unemployed
    assert b01.json()["rule"]
    assert b01.json()["reasons"]
    confirmed = client.get(
        _person_path(worker, "/unemployment-benefit-eligibility"),
        params={"ended_involuntarily": "false"},
        headers=headers,
    ).json()
    assert confirmed["provisional"] is False

    b03 = client.get(_person_path(pensioner, "/retirement-eligibility"), headers=headers).json()
    assert b03["category"] == "male"
    assert b03["retirement_date"] == "2015-07-07"
    assert b03["months_required"] == 180
    assert b03["rule"]
    assert b03["reasons"]
    enrollee = city.residents["enrollee"]
    unknown = client.get(_person_path(enrollee, "/retirement-eligibility"), headers=headers)
    assert assert_problem(unknown, 422, "invalid-value")["field"] == "category"
    chosen = client.get(
        _person_path(enrollee, "/retirement-eligibility"),
        params={"category": "female_50"},
        headers=headers,
    )
    assert chosen.status_code == 200, chosen.text
    assert chosen.json()["category"] == "female_50"

    b04 = client.get(_person_path(worker, "/medical-insurance-status"), headers=headers).json()
    assert b04["covered"] is False
    assert b04["employee"]["scheme"] == "employee_medical"
    assert b04["resident"]["scheme"] == "resident_medical"
    assert b04["employee"]["rule"]
    assert b04["resident"]["rule"]


def test_pension_certification_resumes_and_back_pays(client: httpx.Client, city: MiniCity) -> None:
    pensioner = city.residents["pensioner"]
    headers = city.headers(Who.CLERK)
    path = _person_path(pensioner, "/pension-certifications")
    unchecked = _post(client, path, headers, {"id_checked": False})
    assert assert_problem(unchecked, 422, "invalid-value")["field"] == "id_checked"
    key = uuid.uuid4().hex
    done = _post(client, path, headers, {"id_checked": True}, key=key)
    assert done.status_code == 201, done.text
    (certified,) = done.json()["certifications"]
    assert certified["was"] == "suspended"
    assert certified["resumed"] is True
    assert certified["back_paid_months"] >= 1
    assert certified["back_pay_fen"] == certified["back_paid_months"] * 300_000
    assert certified["rule"]
    assert certified["reasons"]
    assert _post(client, path, headers, {"id_checked": True}, key=key).json() == done.json()
    again = _post(client, path, headers, {"id_checked": True})
    assert assert_problem(again, 409, "conflict")["current"] == "certified"


# --------------------------------------------------------------------------- sites


def test_site_and_the_sites_below(client: httpx.Client, city: MiniCity) -> None:
    headers = city.headers(Who.CLERK)
    own = client.get(f"/v1/sites/{OWN}", headers=headers)
    assert own.status_code == 200, own.text
    assert own.json()["level"] == "township"
    assert own.json()["floor_area_m2"] == 250.0
    assert own.json()["children"] == [{"code": STATION, "name": "一号服务站", "level": "station"}]
    below = client.get(f"/v1/sites/{STATION}", headers=headers).json()
    assert below["parent_code"] == OWN
    assert below["children"] == []
    for code in ("370402", FAR):  # above the caller's site, another district
        assert_problem(client.get(f"/v1/sites/{code}", headers=headers), 404, "not-found")
    bad = client.get("/v1/sites/3704021", headers=headers)
    assert _field(assert_problem(bad, 422, "invalid-request")) == ("code", "path")


def test_site_report_for_supervisors(client: httpx.Client, city: MiniCity) -> None:
    report = client.get(f"/v1/sites/{OWN}/report", headers=city.headers(Who.SUPERVISOR))
    assert report.status_code == 200, report.text
    body = report.json()
    assert [a["code"] for a in body["assessments"]] == [OWN, STATION]
    assert set(body["short"]) <= {OWN, STATION}
    township = body["assessments"][0]
    assert township["standard"] == "township, population 60,000 to 90,000"
    assert {c["name"] for c in township["checks"]} >= {"floor_area", "archive_area", "staff"}
    assert "Zaozhuang" in body["standard"]
    refused = client.get(f"/v1/sites/{OWN}/report", headers=city.headers(Who.CLERK))
    assert_problem(refused, 403, "forbidden")


def test_daily_ledger_and_closing_a_finished_day(client: httpx.Client, city: MiniCity) -> None:
    supervisor = city.headers(Who.SUPERVISOR)
    worker = city.residents["worker"]
    client.get(_person_path(worker, "/insurance"), headers=city.headers(Who.CLERK))
    today = client.get(f"/v1/sites/{OWN}/ledger", headers=supervisor)
    assert today.status_code == 200, today.text
    body = today.json()
    assert body["closed_at"] is None
    assert body["total"] == sum(line["count"] for line in body["lines"])
    assert any(line["item"] == "E01" and line["outcome"] == "ok" for line in body["lines"])
    below = client.get(
        f"/v1/sites/{OWN}/ledger", params={"include_sites_below": "true"}, headers=supervisor
    )
    assert below.json()["total"] >= body["total"]
    for value in ("2024-13-01", "0", "20240101"):
        bad = client.get(f"/v1/sites/{OWN}/ledger", params={"date": value}, headers=supervisor)
        assert _field(assert_problem(bad, 422, "invalid-request")) == ("date", "query")
    old = client.get(f"/v1/sites/{OWN}/ledger", params={"date": "0001-01-01"}, headers=supervisor)
    assert old.json() == {"site_code": OWN, "date": "0001-01-01", "closed_at": None, "total": 0,
                          "lines": []}  # fmt: skip
    elsewhere = client.get(
        "/v1/sites/370403/ledger", params={"date": "0001-01-01"}, headers=supervisor
    )
    assert_problem(elsewhere, 404, "not-found")

    path = f"/v1/sites/{STATION}/ledger-closings"
    for early in (_city_today().isoformat(), "1899-12-31"):  # not finished in the city
        refused = _post(client, path, supervisor, {"date": early})
        assert assert_problem(refused, 422, "invalid-value")["field"] == "date"
    epoch = _post(client, path, supervisor, {"date": 0})
    assert _field(assert_problem(epoch, 422, "invalid-request")) == ("date", "body")
    day = (_city_today() - timedelta(days=1)).isoformat()
    closed = _post(client, path, supervisor, {"date": day})
    assert closed.status_code == 200, closed.text
    assert closed.json()["date"] == day
    again = _post(client, path, supervisor, {"date": day})
    assert again.status_code == 200
    assert again.json()["lines"] == closed.json()["lines"]
    assert_problem(_post(client, path, city.headers(Who.CLERK), {"date": day}), 403, "forbidden")


# --------------------------------------------------------------------------- journal


def test_journal_pages_filters_and_masks(client: httpx.Client, city: MiniCity) -> None:
    supervisor = city.headers(Who.SUPERVISOR)
    far = city.matrix_resident(Where.FAR)
    own = city.matrix_resident(Where.OWN)
    for resident in (far, own):  # a visitor and a resident, served with their cards
        headers = city.headers(Who.CLERK, session_for=resident.key)
        assert client.get(_person_path(resident, "/insurance"), headers=headers).status_code == 200

    ids: list[int] = []
    cursor: str | None = None
    texts: list[str] = []
    while True:
        params: dict[str, Any] = {"limit": 200}
        if cursor is not None:
            params["cursor"] = cursor
        page = client.get("/v1/journal", params=params, headers=supervisor)
        assert page.status_code == 200, page.text
        # every field but the hash (64 hex digits may hold 18 decimal digits in a row)
        texts += [str({k: v for k, v in e.items() if k != "hash"}) for e in page.json()["entries"]]
        ids += [entry["id"] for entry in page.json()["entries"]]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    assert ids == sorted(set(ids), reverse=True)
    assert len(ids) >= 2
    assert not any(ID_NUMBER.search(text) for text in texts)  # ID numbers never in full
    assert not re.search(r'"(pin|password|key)"', "".join(texts), re.IGNORECASE)

    e01 = client.get("/v1/journal", params={"item": "E01", "limit": 200}, headers=supervisor)
    entries = e01.json()["entries"]
    assert {entry["item"] for entry in entries} == {"E01"}
    cards = {entry["person_id"]: entry["card_number"] for entry in entries if entry["card_number"]}
    assert cards[own.person_id] == own.card_number
    assert cards[far.person_id] == far.card_number[:4] + "****" + far.card_number[-1]

    small = client.get("/v1/journal", params={"limit": 1}, headers=supervisor).json()
    older = client.get(
        "/v1/journal", params={"limit": 1, "cursor": small["next_cursor"]}, headers=supervisor
    ).json()
    assert older["entries"][0]["id"] < small["entries"][0]["id"]
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    empty = client.get("/v1/journal", params={"from": future}, headers=supervisor).json()
    assert empty == {"entries": [], "next_cursor": None}

    now = datetime.now(UTC)
    backwards = {"from": now.isoformat(), "to": (now - timedelta(hours=1)).isoformat()}
    assert client.get("/v1/journal", params=backwards, headers=supervisor).json()["entries"] == []
    extremes = {"from": "0001-01-01T00:00:00+14:00", "to": "9999-12-31T23:59:59-12:00"}
    assert client.get("/v1/journal", params=extremes, headers=supervisor).json()["entries"]
    for params, name in (
        ({"cursor": "garbage"}, "cursor"),
        ({"from": "2025-01-01T00:00:00"}, "from"),  # no offset
        ({"from": "1700000000"}, "from"),  # not a Unix time either
        ({"site": "3704"}, "site"),
    ):
        problem = assert_problem(client.get("/v1/journal", params=params, headers=supervisor), 422)
        assert _field(problem) == (name, "query")
    outside = client.get("/v1/journal", params={"site": "370403"}, headers=supervisor)
    assert_problem(outside, 404, "not-found")
    assert_problem(client.get("/v1/journal", headers=city.headers(Who.CLERK)), 403, "forbidden")


# --------------------------------------------------------------------------- OpenAPI


MY_PREFIXES = ("/v1/persons", "/v1/information-changes", "/v1/sites", "/v1/journal")


def test_openapi_describes_bodies_and_problems_of_every_route(client: httpx.Client) -> None:
    document = client.get("/openapi.json").json()
    operations = [
        (path, method, operation)
        for path, item in document["paths"].items()
        if path.startswith(MY_PREFIXES)
        for method, operation in item.items()
    ]
    assert len(operations) == 22  # 17 person, 4 site, 1 journal
    for path, method, operation in operations:
        responses = operation["responses"]
        success = [code for code in responses if code.startswith("2")]
        assert success, (method, path)
        for code in success:
            schema = responses[code]["content"]["application/json"]["schema"]
            assert "$ref" in schema, (method, path, code)
        for status in ("401", "422", "429", "500", "503"):
            problem = responses[status]["content"]["application/problem+json"]["schema"]
            assert problem == {"$ref": "#/components/schemas/Problem"}, (method, path, status)
        assert "404" in responses, (method, path)
        names = {p["name"] for p in operation.get("parameters", [])}
        if method == "post":
            assert "Idempotency-Key" in names, path
            assert "409" in responses
        if path.startswith("/v1/persons/{ssn}"):
            assert "X-Card-Session" in names, path
            assert "403" in responses
