"""The counter program against the real API over a seeded demo city, with a fake station
agent driving a simulated card: every business item from the counter path, the exit
codes, and what the clerk sees. The tests share the module's city and run in file order
(each uses its own card or resident where it writes)."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from station_harness import PIN, City, FakeAgent, run_counter_script

from cardsvc.counter import exits
from cardsvc.services.context import CITY_TIMEZONE

OPERATOR = "clerk.370402"
IN_SCOPE = "370402%"


def _one(city: City, sql: str, **params: object) -> tuple[object, ...]:
    rows = city.query(sql, **params)
    assert rows, f"the seeded city has no row for: {sql}"
    return tuple(rows[0])


def _card_state(city: City, number: str) -> str:
    return str(_one(city, "SELECT state FROM cards WHERE card_number = :n", n=number)[0])


def _journal_items(city: City, card_number: str) -> list[str]:
    rows = city.query(
        "SELECT item FROM journal_entries WHERE card_number = :n ORDER BY id",
        n=card_number,
    )
    return [str(row[0]) for row in rows]


def test_enquiries_and_eligibility_with_the_card_in_the_reader(
    city: City, agent: FakeAgent
) -> None:
    path = city.card_file(2)
    agent.insert(path)
    holder = agent.profile
    run = run_counter_script(
        city, agent, "wait 5\nE01\nE02 limit=3\nE03\nE04\nE05\nB01\nB03\nB04\nquit\n"
    )
    assert run.code == exits.OK, run.output
    out = run.output
    # the holder summary: name, masked ID number, card state
    assert holder["name"] in out
    assert holder["ssn"] not in out
    assert f"{holder['ssn'][:6]}********{holder['ssn'][-4:]}" in out
    assert f"card {holder['card_number']}" in out
    for code in ("E01", "E02", "E03", "E04", "E05", "B01", "B03", "B04"):
        assert f"ok: {code} done" in out
    # the eligibility answers carry their rule and reasons
    assert "rule: 失业保险条例 arts. 14 and 17" in out
    assert re.search(r"\[(yes|no)\] (eligible to retire|not eligible yet)", out)
    assert "statutory age" in out
    # E02 paginates: three rows of the total, and where the next page starts
    assert re.search(r"rows 1-3 of \d+; more with offset=3", out)
    # the items went through the card session: journaled against this card
    items = _journal_items(city, str(holder["card_number"]))
    assert {"E01", "E02", "E03", "E04", "E05", "B01", "B03", "B04"} <= set(items)
    # the session ended at sign-out
    assert "card session ended (signing out)" in out


def test_registration_and_information_change_with_validation(city: City, agent: FakeAgent) -> None:
    agent.insert(city.card_file(3))
    employer = _one(city, "SELECT credit_code FROM employers WHERE site_code LIKE :s", s=IN_SCOPE)[
        0
    ]
    today = dt.datetime.now(CITY_TIMEZONE).date()  # the service's business day (UTC+8)
    start = (today + dt.timedelta(days=1)).isoformat()
    yesterday = (today - dt.timedelta(days=1)).isoformat()
    script = "\n".join(
        [
            "wait 5",
            "R01 employer=91370402MA3C00000X start=2026-13-01 contract=fixed_term",  # invalid
            f"R02 able=y willing=y ended={yesterday}",
            "R02 able=y willing=y",  # a second open unemployment registration: refused
            f"R01 employer={employer} start={start} contract=open_ended",
            "R05 phone=13912345678 address=枣庄市市中区光明路1号",
            "R05 name=新名字",
            "quit",
        ]
    )
    run = run_counter_script(city, agent, script)
    out = run.output
    # an invalid value is a usage error naming the field, before any API call
    assert "error: employer: not a unified social credit code" in out
    assert run.code == exits.USAGE  # the most serious failure of the session
    assert "ok: R02 done" in out
    assert re.search(r"certificate number\s+\|\s+\S+", out)
    assert "refused:" in out
    assert "[409 conflict]" in out
    assert "ok: R01 done" in out
    assert "changed now" in out
    assert "phone, address" in out
    # a name change waits for a reviewer
    assert re.search(r"waits for a reviewer: name\s+\|\s+change \d+", out)


def test_exit_code_1_when_the_api_refuses(city: City, agent: FakeAgent) -> None:
    agent.insert(city.card_file(3))
    run = run_counter_script(city, agent, "wait 5\nR02 able=y willing=y\nE01\n")
    assert "[409 conflict]" in run.output  # registered by the test above
    assert "ok: E01 done" in run.output  # later commands still ran
    assert run.code == exits.REFUSED


def test_person_without_a_card_and_pension_certification(city: City) -> None:
    ssn, name = _one(
        city,
        "SELECT p.ssn, p.name FROM persons p JOIN pension_entitlements e ON e.person_id = p.id "
        "WHERE p.residence_site_code LIKE :s ORDER BY p.id",
        s=IN_SCOPE,
    )
    run = run_counter_script(city, None, f"person {ssn}\nE04\nB02 id_checked=y\nB02 id_checked=n\n")
    out = run.output
    assert f"serving {name} (no card)" in out
    assert "ok: E04 done" in out
    assert "ok: B02 done" in out
    assert "next certification due" in out
    # without the ID check the clerk is told to check it first
    assert "error: id_checked: check the holder's ID document first" in out
    assert run.code == exits.USAGE


def test_person_outside_the_clerks_sites_is_not_found(city: City) -> None:
    ssn = _one(
        city, "SELECT ssn FROM persons WHERE residence_site_code LIKE '370403%' ORDER BY id"
    )[0]
    run = run_counter_script(city, None, f"person {ssn}\nE01\n")
    assert "[404 not-found]" in run.output
    assert "refused: no customer" in run.output  # E01: nobody is being served
    assert run.code == exits.REFUSED


def test_card_services_loss_cancel_replacement(city: City, agent: FakeAgent) -> None:
    number, ssn = _one(
        city,
        "SELECT c.card_number, p.ssn FROM cards c JOIN persons p ON p.id = c.person_id "
        "WHERE c.state = 'active' AND p.residence_site_code LIKE :s ORDER BY c.id",
        s=IN_SCOPE,
    )
    # temporary loss by phone (no card), cancelled, then formal loss and replacement
    run = run_counter_script(
        city,
        None,
        f"person {ssn}\nC01 card={number}\nC03 card={number} id_checked=y\n"
        f"C02 card={number} id_checked=y\n"
        f"C04 card={number} new_card=Z0000001{_check('Z0000001')} "
        "new_code=370402D15600000599AABBCC00000099 id_checked=y\n",
    )
    out = run.output
    assert run.code == exits.OK, out
    assert f"card {number}: active → temporarily_lost" in out
    assert f"card {number}: temporarily_lost → active" in out
    assert f"card {number}: active → lost" in out
    assert f"card {number}: lost → replaced" in out
    assert re.search(r"new card number\s+\|\s+Z0000001", out)
    assert _card_state(city, str(number)) == "replaced"


def _check(body: str) -> str:
    from cardsvc.idcheck import card_number_check_char  # noqa: PLC0415

    return card_number_check_char(body)


def test_pin_reload_with_the_card_present_unblocks_the_pin(city: City, agent: FakeAgent) -> None:
    path = city.card_file(1)
    agent.insert(path)
    tries = int(agent.profile.get("pin_tries", 6))
    for _ in range(tries):  # the holder forgot the PIN: blocked
        with pytest.raises(Exception, match=r"(?i)pin"):
            agent.verify_pin("999999")
    with pytest.raises(Exception, match="blocked"):
        agent.verify_pin(PIN)
    run = run_counter_script(city, agent, "wait 5\nC06 id_checked=y new_pin=24680135\n")
    assert run.code == exits.OK, run.output
    assert "ok: the new PIN was loaded on the card" in run.output
    assert "ok: C06 done" in run.output
    assert "24680135" not in run.output  # never echoed
    assert "new_pin=******" in run.output
    agent.verify_pin("24680135")  # raises unless the card takes it
    assert "C06" in _journal_items(city, str(agent.profile["card_number"]))

    # C05 at the counter: the holder changes the PIN on the card
    run = run_counter_script(city, agent, "wait 5\nC05 old_pin=24680135 new_pin=135790\n")
    assert run.code == exits.OK, run.output
    assert "ok: C05 done" in run.output
    agent.verify_pin("135790")


def test_card_taken_out_ends_the_card_session(city: City, agent: FakeAgent) -> None:
    agent.insert(city.card_file(2))
    script = iter(["wait 5", "E05", "E01"])

    class Source:
        scripted = True

        def read(self, prompt: str, **kw: object) -> str | None:
            line = next(script, None)
            if line == "E01":
                agent.remove()
            return line

    import io  # noqa: PLC0415

    from cardsvc.client import ApiClient  # noqa: PLC0415
    from cardsvc.counter.app import run_counter  # noqa: PLC0415
    from cardsvc.counter.render import Screen  # noqa: PLC0415

    out = io.StringIO()
    with ApiClient(city.url) as api:
        code = run_counter(
            api, agent, Screen(out, plain=True), Source(), username=OPERATOR, password="demo2011"
        )
    text = out.getvalue()
    assert "ok: E05 done" in text
    assert "card session ended (the card was taken out)" in text
    assert "refused: the card was taken out" in text
    assert "ok: E01 done" not in text
    assert code == exits.REFUSED


def test_supervisor_cancels_a_card_and_a_clerk_may_not(city: City) -> None:
    number = _one(
        city,
        "SELECT c.card_number FROM cards c JOIN persons p ON p.id = c.person_id "
        "WHERE c.state = 'active' AND p.residence_site_code LIKE :s ORDER BY c.id DESC",
        s=IN_SCOPE,
    )[0]
    clerk = run_counter_script(city, None, f"C08 card={number} reason=death\n")
    assert "refused: C08 card cancellation needs the supervisor role" in clerk.output
    assert clerk.code == exits.REFUSED
    assert _card_state(city, str(number)) == "active"
    boss = run_counter_script(
        city, None, f"C08 card={number} reason=death\n", operator="supervisor.370402"
    )
    assert boss.code == exits.OK, boss.output
    assert f"card {number}: active → cancelled" in boss.output
    assert _card_state(city, str(number)) == "cancelled"


def test_activation_of_an_issued_card(city: City) -> None:
    rows = city.query(
        "SELECT c.card_number FROM cards c JOIN persons p ON p.id = c.person_id "
        "WHERE c.state = 'issued' AND p.residence_site_code LIKE :s",
        s=IN_SCOPE,
    )
    assert rows, "the seeded city has no issued card in 370402"
    number = rows[0][0]
    run = run_counter_script(city, None, f"C07 card={number}\n")
    assert run.code == exits.OK, run.output
    assert f"card {number}: issued → active" in run.output


def test_unknown_command_and_wrong_password(city: City) -> None:
    run = run_counter_script(city, None, "frobnicate\n")
    assert "error: unknown command 'frobnicate'" in run.output
    assert run.code == exits.USAGE

    import io  # noqa: PLC0415

    from cardsvc.client import ApiClient  # noqa: PLC0415
    from cardsvc.counter.app import run_counter  # noqa: PLC0415
    from cardsvc.counter.lines import ScriptSource  # noqa: PLC0415
    from cardsvc.counter.render import Screen  # noqa: PLC0415

    out = io.StringIO()
    with ApiClient(city.url) as api:
        code = run_counter(
            api, None, Screen(out, plain=True), ScriptSource(io.StringIO("E01\n")),
            username=OPERATOR, password="wrong-password",
        )  # fmt: skip
    assert code == exits.SIGN_IN
    assert "error: signing in as clerk.370402" in out.getvalue()
    assert "wrong-password" not in out.getvalue()


def test_unreachable_api_is_exit_4() -> None:
    import io  # noqa: PLC0415

    from station_harness import free_port  # noqa: PLC0415

    from cardsvc.client import ApiClient  # noqa: PLC0415
    from cardsvc.counter.app import run_counter  # noqa: PLC0415
    from cardsvc.counter.lines import ScriptSource  # noqa: PLC0415
    from cardsvc.counter.render import Screen  # noqa: PLC0415

    out = io.StringIO()
    with ApiClient(f"http://127.0.0.1:{free_port()}", timeout=2) as api:
        code = run_counter(
            api, None, Screen(out, plain=True), ScriptSource(io.StringIO("E01\n")),
            username=OPERATOR, password="x",
        )  # fmt: skip
    assert code == exits.UNREACHABLE
    assert "cannot be reached" in out.getvalue()


def test_a_reviewer_decides_a_name_change(city: City) -> None:
    ssn = _one(
        city,
        "SELECT ssn FROM persons WHERE residence_site_code LIKE :s ORDER BY id DESC",
        s=IN_SCOPE,
    )[0]
    entered = run_counter_script(city, None, f"person {ssn}\nR05 name=王审核\napprove 1\n")
    assert "refused: deciding on R05 changes needs the reviewer role" in entered.output
    found = re.search(r"waits for a reviewer: name\s+\|\s+change (\d+)", entered.output)
    assert found, entered.output
    change = found.group(1)
    review = run_counter_script(
        city, None, f"approve {change}\napprove {change}\n", operator="reviewer.370402"
    )
    assert f"ok: change {change} approved" in review.output
    assert re.search(r"decision\s+\|\s+approved", review.output)
    assert "[409 conflict]" in review.output  # decided already
    assert review.code == exits.REFUSED
    assert _one(city, "SELECT name FROM persons WHERE ssn = :s", s=ssn)[0] == "王审核"
