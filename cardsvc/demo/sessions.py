"""The scripted counter and kiosk sessions, done by the demo itself as the terminal.

Used only where the station agents cannot start (the runner says why); otherwise
the real programs run (`programs`). Each
step prints what was asked and what the service answered; a failed step is
marked FAILED and the session goes on where it can.

Counter (clerk.370402 at a counter with a PSAM): the resident's card in → the
authenticated read through the PSAM and the card session; the enquiries
E01-E05, the eligibility answers B01, B03, B04 with their rules, a phone number
change (R05), a PIN reload with the card present (C06); then a hotlisted card
(blocked on the card, nothing served) and a card whose loss was cancelled while
it was blocked (unblocked, served).

Kiosk (kiosk.370402, the API's key service, no PSAM): a pensioner's card in, a
wrong PIN (tries left), the right PIN, the kiosk's enquiries with the masked ID
number, the pension certification (B02), and card out ends the session.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any, Final

from cardsvc.card.errors import InvalidPin, PinBlocked
from cardsvc.card.reader_string import reader_string
from cardsvc.client import ApiClient, ApiProblem
from cardsvc.demo.card_story import DEVICE_SERIAL, psam_session
from cardsvc.demo.city import CLERK, KIOSK_DEVICE, City, load_card
from cardsvc.demo.errors import DemoError
from cardsvc.demo.output import Printer
from cardsvc.demo.readers import COUNTER, KIOSK, Readers
from cardsvc.demo.terminal import Presentation, present, reload_pin
from cardsvc.errors import CardsvcError
from reader_driver import CardChannel
from reader_driver.errors import ReaderError

NEW_PHONE: Final = "13905320001"
WRONG_PIN: Final = "000000"
STEP_ERRORS: Final = (ApiProblem, CardsvcError, ReaderError, KeyError, TypeError, ValueError)


def yuan(fen: int) -> str:
    return f"{fen / 100:,.2f} yuan"


class _Steps:
    """Runs steps, printing each result; a step that raises is printed as FAILED."""

    def __init__(self, out: Printer) -> None:
        self.out = out
        self.ok = True

    def run(self, title: str, action: Callable[[], str | None], done: str = "done") -> bool:
        try:
            result = action()
        except STEP_ERRORS as exc:
            self.out.step(title, str(exc) or type(exc).__name__, ok=False)
            self.ok = False
            return False
        self.out.step(title, done if result is None else result)
        return True

    def fail(self, title: str, why: str) -> None:
        self.out.step(title, why, ok=False)
        self.ok = False


@contextlib.contextmanager
def _channel(readers: Readers, slot: int) -> Iterator[CardChannel]:
    conn = readers.backend.connect(readers.names[slot])
    try:
        with CardChannel(conn) as channel:
            yield channel
    finally:
        conn.disconnect()


def _presented(p: Presentation) -> str:
    card = p.card
    holder = p.holder or {}
    sent = ", ".join(a.replace("-", " ").upper() for a in p.actions)
    actions = f"; sent {sent} to the card" if p.actions else ""
    if not p.serve:
        why = "; ".join(p.reasons) or "the card is on the hotlist"
        return f"card refused, nothing served ({why}){actions}"
    return (
        f"card {card.get('card_number')} {card.get('state')}, holder {holder.get('name')} "
        f"{holder.get('ssn')} (site {holder.get('residence_site_code')}){actions}"
    )


# --- enquiries, shared by both sessions ----------------------------------------------------


def _enquiries(steps: _Steps, api: ApiClient, ssn: str, session_id: str) -> None:
    base = f"/v1/persons/{ssn}"

    def get(path: str, **params: str) -> Any:
        return api.request("GET", base + path, params=params or None, card_session=session_id)

    def e01() -> str:
        rel = get("/insurance")["relations"]
        active = [r["scheme"] for r in rel if r["status"] == "active"]
        return f"{len(rel)} insurance relations, active: {', '.join(active) or 'none'}"

    def e02() -> str:
        page = get("/contributions", limit="3")
        rows = page["contributions"]
        last = rows[0] if rows else None
        latest = (
            f"; latest {last['month']} {last['scheme']} base {yuan(last['base_fen'])}"
            if last
            else ""
        )
        return f"{page['page']['total']} monthly contributions{latest}"

    def e03() -> str:
        acc = get("/accounts")
        return f"{len(acc['years'])} account years, balance {yuan(acc['balance_fen'])}"

    def e04() -> str:
        page = get("/benefits", limit="3")
        return f"{page['page']['total']} benefit payments, {yuan(page['total_amount_fen'])} in all"

    def e05() -> str:
        emp = get("/employment")
        kinds = [r["kind"] for r in emp["open_registrations"]]
        return f"{emp['employment_status']}, open registrations: {', '.join(kinds) or 'none'}"

    def b01() -> str:
        answer = get("/unemployment-benefit-eligibility")
        verdict = "eligible" if answer["eligible"] else "not eligible"
        return f"{verdict} ({answer['rule']}: {'; '.join(answer['reasons'])})"

    def b03() -> str:
        answer = get("/retirement-eligibility")
        verdict = "eligible" if answer["eligible"] else "not yet eligible"
        return (
            f"{verdict}, statutory age {answer['statutory_age']} ({'; '.join(answer['reasons'])})"
        )

    def b04() -> str:
        answer = get("/medical-insurance-status")
        return ("covered" if answer["covered"] else "not covered") + (
            f" (employee: {answer['employee']['rule']}; resident: {answer['resident']['rule']})"
        )

    for title, action in (
        ("E01 insurance participation", e01),
        ("E02 contribution history", e02),
        ("E03 personal pension account", e03),
        ("E04 benefit payments", e04),
        ("E05 employment status", e05),
        ("B01 unemployment benefit eligibility", b01),
        ("B03 retirement eligibility", b03),
        ("B04 medical insurance status", b04),
    ):
        steps.run(title, action)


# --- the counter -----------------------------------------------------------------------------


def counter_session(api_url: str, readers: Readers, city: City, out: Printer) -> bool:
    """clerk.370402 at the counter; True when every step passed."""
    out.section(f"Scripted counter session: {CLERK} at the counter (card reader + PSAM)")
    steps = _Steps(out)
    with ApiClient(api_url) as api:
        if not steps.run(
            f"sign in as {CLERK}", lambda: api.login(CLERK, city.password), "signed in"
        ):
            return False
        resident = city.card("counter")
        readers.put(COUNTER, load_card(resident.path))
        out.detail(f"inserted {resident.path.name} ({resident.name}, {resident.masked_ssn})")

        def basic_read() -> str:
            with psam_session(readers, COUNTER) as session:
                read = session.basic_read()
                sm = session.security_module
                terminal = sm.terminal_number if sm is not None else None
            text = reader_string(read, terminal, DEVICE_SERIAL)
            return f"verified by the PSAM; reader string {text}"

        steps.run("basic read of the resident's card", basic_read)
        shown: dict[str, Presentation] = {}

        def card_session() -> str:
            with _channel(readers, COUNTER) as channel:
                shown["p"] = present(api, channel)
            return _presented(shown["p"])

        if steps.run("card session with the API (the card proves itself)", card_session):
            session_id = shown["p"].session_id
            assert session_id is not None
            ssn = resident.ssn
            _enquiries(steps, api, ssn, session_id)

            def r05() -> str:
                answer = api.request(
                    "POST",
                    f"/v1/persons/{ssn}/information-changes",
                    json={"phone": NEW_PHONE},
                    card_session=session_id,
                )
                return f"applied: {', '.join(answer['applied'])}"

            steps.run(f"R05 phone number change to {NEW_PHONE}", r05)

            def c06() -> str:
                with _channel(readers, COUNTER) as channel:
                    reload_pin(api, channel, session_id, city.pin)
                answer = api.request(
                    "POST",
                    f"/v1/cards/{resident.card_number}/pin-reload",
                    json={"id_checked": True},
                    card_session=session_id,
                )
                return f"RELOAD PIN sent to the card, recorded: {answer['note']}"

            steps.run("C06 PIN reload with the card present (ID checked)", c06)
            steps.run("card out", lambda: api.end_card_session(session_id), "card session ended")
        readers.pull(COUNTER)
        _special_card(steps, api, readers, city, "hotlisted", blocked_expected=True)
        _special_card(steps, api, readers, city, "unlost", blocked_expected=False)
        api.logout()
    return steps.ok


def _special_card(
    steps: _Steps,
    api: ApiClient,
    readers: Readers,
    city: City,
    role: str,
    *,
    blocked_expected: bool,
) -> None:
    card = city.card(role)
    readers.put(COUNTER, load_card(card.path, city.blocked_numbers))
    what = (
        f"{card.state.value} card"
        if role == "hotlisted"
        else "card whose loss was cancelled while it was blocked"
    )
    steps.out.detail(f"inserted {card.path.name} ({card.name}, {card.masked_ssn}): {what}")

    def check() -> str:
        with _channel(readers, COUNTER) as channel:
            p = present(api, channel)
        if blocked_expected:
            if "application-block" not in p.actions or p.serve:
                raise DemoError(f"expected the card blocked and refused, got: {_presented(p)}")
        elif "application-unblock" not in p.actions or not p.serve:
            raise DemoError(f"expected the card unblocked and served, got: {_presented(p)}")
        if p.session_id is not None:
            api.end_card_session(p.session_id)
        return _presented(p)

    title = "hotlisted card" if blocked_expected else "un-lost card"
    steps.run(title, check)
    readers.pull(COUNTER)


# --- the kiosk -------------------------------------------------------------------------------


def kiosk_session(api_url: str, readers: Readers, city: City, out: Printer) -> bool:
    """kiosk.370402 with a pensioner's card; True when every step passed."""
    out.section(f"Scripted kiosk session: {KIOSK_DEVICE} (card reader, key service, no PSAM)")
    steps = _Steps(out)
    with ApiClient(api_url) as api:
        if not steps.run(
            f"the kiosk signs in as device {KIOSK_DEVICE}",
            lambda: api.device_sign_in(city.device_id(KIOSK_DEVICE), city.device_secret),
            "signed in",
        ):
            return False
        resident = city.card("kiosk")
        readers.put(KIOSK, load_card(resident.path))
        out.detail(f"inserted {resident.path.name} ({resident.name}, {resident.masked_ssn})")

        def wrong_pin() -> str:
            with _channel(readers, KIOSK) as channel:
                try:
                    present(api, channel, pin=WRONG_PIN)
                except InvalidPin as exc:
                    return f"wrong PIN: {exc.tries_left} tries left"
                except PinBlocked:
                    raise DemoError("the PIN is blocked: go to a counter") from None
            raise DemoError("a wrong PIN was accepted")

        steps.run("PIN 000000", wrong_pin)
        shown: dict[str, Presentation] = {}

        def right_pin() -> str:
            with _channel(readers, KIOSK) as channel:
                shown["p"] = present(api, channel, pin=city.pin)
            if not shown["p"].serve:
                raise DemoError(_presented(shown["p"]))
            return "PIN verified; " + _presented(shown["p"])

        if steps.run(f"PIN {city.pin}", right_pin):
            session_id = shown["p"].session_id
            assert session_id is not None
            ssn = resident.ssn
            _enquiries(steps, api, ssn, session_id)

            def b02() -> str:
                answer = api.request(
                    "POST",
                    f"/v1/persons/{ssn}/pension-certifications",
                    json={},
                    card_session=session_id,
                )
                done = answer["certifications"]
                parts = [f"{c['scheme']}: next due {c['next_due']}" for c in done]
                return f"certified on {answer['certified_on']} ({'; '.join(parts)})"

            steps.run("B02 pension qualification certification", b02)
            readers.pull(KIOSK)
            steps.run(
                "card out",
                lambda: api.end_card_session(session_id),
                "the session ends with the card",
            )
        else:
            readers.pull(KIOSK)
        api.logout()
    return steps.ok
