"""The kiosk program against the real API over a seeded demo city, with a fake station
agent driving a simulated card: the PIN messages, every kiosk item, the receipt (text
and PDF), and the ends of a session (card out, idle time, end of the script)."""

from __future__ import annotations

import datetime as dt
import io
import os
import threading
import time
from pathlib import Path
from typing import Any

from station_harness import (
    PASSWORD,
    PIN,
    City,
    FakeAgent,
    pdf_characters,
    run_counter_script,
    run_kiosk_script,
)

from cardsvc.counter import exits
from cardsvc.counter.lines import ScriptSource
from cardsvc.kiosk import messages
from cardsvc.services.context import CITY_TIMEZONE


def _ended(city: City, session_id: str) -> bool:
    rows = city.query("SELECT ended_at FROM card_sessions WHERE id = :i", i=session_id)
    return bool(rows) and rows[0][0] is not None


def test_a_whole_kiosk_session_with_receipt(city: City, agent: FakeAgent, tmp_path: Path) -> None:
    agent.insert(city.card_file(2))
    profile = agent.profile
    script = "\n".join(
        [
            "pin 000000",  # wrong: tries left
            f"pin {PIN}",
            "E01", "E02", "E03", "E04", "E05", "B01", "B03", "B04",
            "R05 phone=13912340000",
            "C05 old_pin=123456 new_pin=246810",
            "receipt",
            "end",
        ]
    )  # fmt: skip
    run = run_kiosk_script(city, agent, script, receipt_dir=tmp_path)
    out = run.output
    assert run.code == exits.OK, out
    assert messages.wrong_pin(int(profile["pin_tries"]) - 1) in out
    assert messages.PIN_OK in out
    for code in ("E01", "E02", "E03", "E04", "E05", "B01", "B03", "B04", "R05", "C05"):
        assert f"ok: {code} done" in out
    # a kiosk sees the masked ID number only; PINs are never shown
    masked = profile["ssn"][:6] + "********" + profile["ssn"][-4:]
    assert masked in out
    assert profile["ssn"] not in out
    for secret in ("000000", "246810"):
        assert secret not in out
    assert "pin ******" in out
    # the card now takes the new PIN
    agent.verify_pin("246810")
    # the receipt, as text and PDF
    texts = sorted(tmp_path.glob("receipt-*.txt"))
    pdfs = sorted(tmp_path.glob("receipt-*.pdf"))
    assert len(texts) == 1
    assert len(pdfs) == 1
    text = texts[0].read_text(encoding="utf-8")
    assert profile["card_number"] in text
    assert masked in text
    assert profile["name"] in text
    assert "E01 insurance participation" in text
    assert "C05 PIN change" in text
    assert "246810" not in text
    assert profile["ssn"] not in text
    pdf = pdfs[0].read_bytes()
    assert pdf.startswith(b"%PDF-")
    assert set(profile["name"]) <= pdf_characters(pdf)  # the name, in a CJK font
    # card out was not needed: `end` ended the API card session
    assert agent.sessions
    assert _ended(city, agent.sessions[-1])


def test_counter_items_are_refused_at_a_kiosk(city: City, agent: FakeAgent) -> None:
    agent.insert(city.card_file(3))
    run = run_kiosk_script(city, agent, f"pin {PIN}\nR01\nC06\nR05 address=somewhere\nE05\nend\n")
    out = run.output
    assert "refused: R01 employment registration is not offered at a kiosk" in out
    assert "refused: C06 PIN reload / unlock is not offered at a kiosk" in out
    assert "error: R05: at a kiosk only the phone number can be changed" in out
    assert "ok: E05 done" in out
    assert "- R01: not offered at a kiosk" in out  # on the receipt
    assert run.code == exits.USAGE


def test_pin_blocked_sends_the_resident_to_a_counter(city: City, agent: FakeAgent) -> None:
    agent.insert(city.card_file(1))
    tries = int(agent.profile["pin_tries"])
    run = run_kiosk_script(city, agent, "pin 999999\n" * (tries + 1) + "E01\n")
    out = run.output
    assert messages.wrong_pin(1) in out
    assert messages.PIN_BLOCKED in out
    assert "ok: E01 done" not in out
    assert not agent.sessions  # no card session was opened
    assert run.code == exits.REFUSED
    # at a counter the clerk reloads it (C06); the resident can use the kiosk again
    counter = run_counter_script(city, agent, "wait 5\nC06 id_checked=y new_pin=123456\n")
    assert counter.code == exits.OK, counter.output
    again = run_kiosk_script(city, agent, f"pin {PIN}\nE01\nend\n")
    assert "ok: E01 done" in again.output
    assert again.code == exits.OK


def test_idle_time_ends_the_session(city: City, agent: FakeAgent, tmp_path: Path) -> None:
    agent.insert(city.card_file(2))
    read_end, write_end = os.pipe()
    with os.fdopen(read_end, encoding="utf-8") as pipe, os.fdopen(write_end, "w") as feed:
        feed.write(f"pin {PIN}\nE05\n")
        feed.flush()
        started = time.monotonic()
        run = run_kiosk_script(
            city, agent, "", source=ScriptSource(pipe), idle_timeout=0.5, receipt_dir=tmp_path
        )
        waited = time.monotonic() - started
    assert messages.idle(0.5) in run.output
    assert "ok: E05 done" in run.output
    assert waited < 30  # it did not hang
    assert _ended(city, agent.sessions[-1])
    assert "no input for 0.5 s: session ended" in next(tmp_path.glob("*.txt")).read_text(
        encoding="utf-8"
    )


class _Hands:
    """A script that takes the card out when it reaches the line `<remove>`."""

    scripted = True

    def __init__(self, agent: FakeAgent, lines: list[str]) -> None:
        self.agent = agent
        self.lines = lines

    def read(self, prompt: str, *, stop: Any = None, **kw: Any) -> str | None:
        line = self.lines.pop(0) if self.lines else None
        if line == "<remove>":
            self.agent.remove()
            deadline = time.monotonic() + 5
            while stop is not None and not stop() and time.monotonic() < deadline:
                time.sleep(0.05)
            from cardsvc.counter.errors import SessionEnded  # noqa: PLC0415

            reason = stop() if stop is not None else None
            raise SessionEnded(reason or "no removal seen")
        return line


def test_card_out_ends_the_session(city: City, agent: FakeAgent, tmp_path: Path) -> None:
    agent.insert(city.card_file(3))
    source = _Hands(agent, [f"pin {PIN}", "E01", "<remove>", "E02"])
    run = run_kiosk_script(city, agent, "", source=source, receipt_dir=tmp_path)
    out = run.output
    assert messages.CARD_OUT in out
    assert "ok: E01 done" in out
    assert "ok: E02 done" not in out
    assert _ended(city, agent.sessions[-1])
    assert run.code == exits.OK
    receipt = next(tmp_path.glob("*.txt")).read_text(encoding="utf-8")
    assert "E01 insurance participation" in receipt
    assert messages.CARD_OUT in receipt


def test_initial_pin_must_be_changed(city: City, agent: FakeAgent) -> None:
    agent.insert(city.card_file(2))
    agent.initial_pin_signal = True  # the agent signals it (the card contract has no signal)
    run = run_kiosk_script(city, agent, f"pin {PIN} new_pin=112233\nE05\nend\n")
    assert messages.INITIAL_PIN in run.output
    assert "ok: C05 done" in run.output  # the change is recorded
    assert "ok: E05 done" in run.output
    assert run.code == exits.OK, run.output
    agent.verify_pin("112233")


def test_a_hotlisted_card_is_not_served(city: City, agent: FakeAgent) -> None:
    agent.insert(city.card_file(1))
    number = agent.profile["card_number"]
    entry = next(e for e in city.index["cards"] if e["card_number"] == number)
    clerk = "clerk." + entry["residence_site"][:6]  # a clerk of the holder's district
    lost = run_counter_script(city, None, f"C01 card={number}\n", operator=clerk)
    assert lost.code == exits.OK, lost.output
    run = run_kiosk_script(city, agent, f"pin {PIN}\nE01\n")
    assert messages.NOT_SERVED in run.output
    assert "ok: E01 done" not in run.output
    assert run.code == exits.REFUSED
    assert _ended(city, agent.sessions[-1])  # the hotlisted card's session is closed


def test_wrong_device_credential_is_exit_3(city: City, agent: FakeAgent) -> None:
    from cardsvc.client import ApiClient  # noqa: PLC0415
    from cardsvc.counter.render import Screen  # noqa: PLC0415
    from cardsvc.kiosk.app import run_kiosk  # noqa: PLC0415

    out = io.StringIO()
    with ApiClient(city.url) as api:
        code = run_kiosk(
            api, agent, Screen(out, plain=True), ScriptSource(io.StringIO("")),
            device=str(city.device_id("kiosk.370402")), credential=PASSWORD,
            idle_timeout=1, receipt_dir=None, card_wait=1,
        )  # fmt: skip
    assert code == exits.SIGN_IN
    assert "signing in as device" in out.getvalue()
    assert "index.json" in out.getvalue()  # where the device's id is found
    by_name = io.StringIO()
    with ApiClient(city.url) as api:
        code = run_kiosk(
            api, agent, Screen(by_name, plain=True), ScriptSource(io.StringIO("")),
            device="kiosk.370402", credential=PASSWORD,
            idle_timeout=1, receipt_dir=None, card_wait=1,
        )  # fmt: skip
    assert code == exits.USAGE  # a name, not an id: refused before anything is sent
    assert "not its name" in by_name.getvalue()
    assert messages.DEVICE_ID_WHERE in by_name.getvalue()
    assert threading.active_count() < 20  # no watcher threads left behind


def _employed_resident(city: City) -> Path:
    """A card file (not one the tests above use) of a working-age resident recorded as
    employed, with no unemployment registration: R02 then needs employment_ended_on."""
    import sqlalchemy as sa  # noqa: PLC0415

    first = {city.card_file(g).name for g in (1, 2, 3)}
    today = dt.datetime.now(CITY_TIMEZONE).date()  # the service's business day
    engine = sa.create_engine(city.database)
    try:
        with engine.begin() as conn:
            for entry in city.index["cards"]:
                row = conn.execute(
                    sa.text(
                        "SELECT p.id, p.birth_date FROM cards c JOIN persons p "
                        "ON p.id = c.person_id WHERE c.card_number = :n"
                    ),
                    {"n": entry["card_number"]},
                ).one()
                born = dt.date.fromisoformat(str(row[1]))
                if entry["file"] in first or not 20 <= (today - born).days // 366 <= 50:
                    continue
                conn.execute(
                    sa.text("UPDATE persons SET employment_status = 'employed' WHERE id = :i"),
                    {"i": row[0]},
                )
                return city.cards_dir / entry["file"]
    finally:
        engine.dispose()
    raise AssertionError("no seeded card file of a working-age resident")


class _Person:
    """Someone at the kiosk's keyboard (not a script): answers each prompt in turn."""

    scripted = False

    def __init__(self, answers: list[str]) -> None:
        self.answers = answers
        self.prompts: list[str] = []

    def read(self, prompt: str, **kw: Any) -> str | None:
        self.prompts.append(prompt)
        return self.answers.pop(0) if self.answers else None

    def more(self) -> bool:
        return bool(self.answers)  # the person leaves after the last answer


def test_r02_of_an_employed_resident_asks_when_the_employment_ended(
    city: City, agent: FakeAgent
) -> None:
    card = _employed_resident(city)
    today = dt.datetime.now(CITY_TIMEZONE).date()  # the service's business day (UTC+8)
    tomorrow = (today + dt.timedelta(days=1)).isoformat()
    yesterday = (today - dt.timedelta(days=1)).isoformat()
    agent.insert(card)
    # script mode: the date is an argument, checked before anything is sent
    script = "\n".join(
        [
            f"pin {PIN}",
            "R02 able=y willing=y",  # no date: the API refuses (employed)
            "R02 able=y willing=y ended=2026-02-30",  # not a date
            f"R02 able=y willing=y ended={tomorrow}",  # the API: lies in the future
            "end",
        ]
    )
    run = run_kiosk_script(city, agent, script)
    out = run.output
    assert "give the day the employment ended (employment_ended_on)" in out
    assert "error: ended: a date as YYYY-MM-DD" in out
    assert "lies in the future" in out
    assert "ok: R02 done" not in out
    assert run.code == exits.USAGE
    # at the keyboard: asked for, asked again until it is a date, then registered
    person = _Person([PIN, "R02", "y", "y", "31.12.2025", yesterday, "end"])
    agent.remove()
    agent.insert(card)
    run = run_kiosk_script(city, agent, "", source=person)
    out = run.output
    asked = [p for p in person.prompts if p.startswith("employment ended on")]
    assert len(asked) == 2, person.prompts
    assert "(Enter to skip)" in asked[0]
    assert "ended: a date as YYYY-MM-DD" in out
    assert "ok: R02 done" in out
    assert run.code == exits.OK, out
    rows = city.query(
        "SELECT r.kind, r.status FROM registrations r JOIN cards c ON c.person_id = r.person_id "
        "WHERE c.card_number = :n",
        n=agent.profile["card_number"],
    )
    assert ("unemployment", "open") in [tuple(r) for r in rows]
