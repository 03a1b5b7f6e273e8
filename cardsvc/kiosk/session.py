"""One resident's session at a kiosk, from card in to card out.

1. The card is in the reader; the station agent has authenticated it with the API's key
   service. A hotlisted card is refused (the agent blocks its application).
2. PIN: verified on the card by the agent. Three messages: wrong PIN with the tries
   left (ask again), PIN blocked (go to a counter; the session ends), initial PIN must
   be changed (only if the agent signals it: the card contract has no such signal, so
   today's cards never trigger it).
3. The agent proves the card again for this kiosk (the card session is the kiosk's,
   PIN verified) and the resident runs kiosk items: E01-E05, R02, R05 (phone only),
   B01-B04, C05 (PIN change), C07 (activation).
4. The session ends when the card is taken out, after the idle time without input
   (60 s by default), on ``end``, or at the end of a script; the receipt (text and PDF)
   is printed and written, and the API card session is ended.

The full ID number the person routes need comes from the card itself (the standard
reader-interface string); what is shown is the API's masked form.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

from cardsvc.counter import exits, values
from cardsvc.counter.catalogue import KIOSK_ITEMS, item
from cardsvc.counter.errors import InputError, NoCardSession, SessionEnded
from cardsvc.counter.items import Customer, ItemCalls
from cardsvc.counter.lines import Command, IdleTimeout, LineSource, Prompter, parse_command
from cardsvc.counter.outcome import Outcome, problem_message, run_guarded
from cardsvc.counter.ports import AgentPort, ApiPort, problem_of, wait_for_removal
from cardsvc.counter.render import Screen
from cardsvc.counter.views import view_of
from cardsvc.errors import CardsvcError
from cardsvc.kiosk import messages
from cardsvc.kiosk.receipt import Receipt

logger = logging.getLogger(__name__)

PROMPT: Final = "kiosk> "
REMOVAL_POLL_S: Final = 1.0

HELP: Final = """\
commands:
  CODE [key=value ...]  a kiosk item: E01-E05, R02, R05 phone=..., B01-B04, C05, C07
                        (R02 able=y willing=y [ended=YYYY-MM-DD]: the day your job ended,
                        needed when the service still has you as employed)
  items                 the kiosk items
  receipt               show the receipt so far
  end                   finish: print the receipt (then take your card)
  help                  this text"""


class CardWatch:
    """Watches the agent for the card's removal in a background thread."""

    def __init__(self, agent: AgentPort) -> None:
        self._agent = agent
        self._removed = threading.Event()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="card-watch", daemon=True)

    def start(self) -> CardWatch:
        self._thread.start()
        return self

    def _watch(self) -> None:
        while not self._done.is_set():
            try:
                removed = wait_for_removal(self._agent, REMOVAL_POLL_S)
            except CardsvcError as exc:
                logger.info("watching for the card's removal: %s", exc)
                self._done.wait(REMOVAL_POLL_S)
                continue
            if removed:
                self._removed.set()
                return

    @property
    def removed(self) -> bool:
        return self._removed.is_set()

    def reason(self) -> str | None:
        """For LineSource.read(stop=...): a reason once the card is out."""
        return messages.CARD_OUT if self._removed.is_set() else None

    def stop(self) -> None:
        self._done.set()


class KioskSession:
    """The kiosk between card in and card out."""

    def __init__(
        self,
        api: ApiPort,
        agent: AgentPort,
        screen: Screen,
        source: LineSource,
        *,
        kiosk: str,
        site_code: str,
        idle_timeout: float,
        receipt_dir: Path | None,
        outcome: Outcome,
        now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.api = api
        self.agent = agent
        self.screen = screen
        self.source = source
        self.prompter = Prompter(source, screen.error)
        self.kiosk = kiosk
        self.site_code = site_code
        self.idle_timeout = idle_timeout
        self.receipt_dir = receipt_dir
        self.outcome = outcome
        self.now = now
        self.calls = ItemCalls(api)
        self.customer: Customer | None = None
        self.receipt: Receipt | None = None
        self.quit = False
        self.watch: CardWatch | None = None
        self._initial_pin_changed = False

    # ------------------------------------------------------------------ the session

    def serve(self, card: dict[str, Any]) -> str:
        """Serve the card now in the reader; the reason the session ended."""
        self.watch = CardWatch(self.agent).start()
        try:
            self._begin(card)
            self._commands()
        except SessionEnded as ended:
            reason = ended.reason
        except IdleTimeout:
            reason = messages.idle(self.idle_timeout)
        except KeyboardInterrupt:
            self.watch.stop()
            self._finish("interrupted")
            raise
        else:
            reason = "finished"
        finally:
            self.watch.stop()
        self._finish(reason)
        return reason

    def _read(self, prompt: str, *, secret: bool = False) -> str | None:
        stop = self.watch.reason if self.watch is not None else None
        return self.source.read(prompt, secret=secret, timeout=self.idle_timeout, stop=stop)

    def _begin(self, card: dict[str, Any]) -> None:
        number = str(card.get("card_number", ""))
        self.screen.info(f"card {number} inserted")
        error = card.get("error")
        if isinstance(error, dict) and error:
            self.screen.refused(messages.card_error(str(error.get("message") or error)))
            self.outcome.record(exits.REFUSED)
            raise SessionEnded("the card could not be checked")
        if card.get("serve") is False:
            self.screen.refused(messages.NOT_SERVED)
            self.outcome.record(exits.REFUSED)
            raise SessionEnded("card not served")
        if not self._pin():
            raise SessionEnded("PIN not verified")
        token = self.api.token
        if token is None:
            raise SessionEnded("the kiosk is signed out")
        try:
            session = self.agent.open_session(token)
            ssn = _ssn_from_reader_string(self.agent.reader_string())
        except CardsvcError as exc:
            self._problem("card", exc)
            raise SessionEnded("the card could not be authenticated") from None
        terminal = session.get("terminal") or {}
        holder = session.get("holder") or {}
        if not terminal.get("serve", True) or not holder:
            self._end_api_session(str(session.get("session_id") or ""))
            self.screen.refused(messages.NOT_SERVED)
            self.outcome.record(exits.REFUSED)
            raise SessionEnded("hotlisted card")
        shown = str(holder.get("ssn", ""))
        if len(shown) == len(ssn) and (shown[:6], shown[-4:]) != (ssn[:6], ssn[-4:]):
            self._end_api_session(str(session.get("session_id") or ""))
            raise SessionEnded("the card in the reader changed: please insert it again")
        self.customer = Customer(
            ssn=ssn,
            card_number=str((session.get("card") or {}).get("card_number", number)),
            card_session=str(session["session_id"]),
            name=str(holder.get("name", "")),
        )
        self.receipt = Receipt(
            kiosk=self.kiosk,
            site_code=self.site_code,
            card_number=self.customer.card_number or number,
            holder_name=self.customer.name,
            holder_ssn=str(holder.get("ssn", "")),
            started_at=self.now(),
        )
        self.screen.ok(f"{self.customer.name} ({holder.get('ssn', '')}): welcome")
        if not self.source.scripted:
            self.screen.items(KIOSK_ITEMS, title="kiosk items (help: commands)")
        if self._initial_pin_changed:
            self._record_initial_change()

    def _pin(self) -> bool:
        """Ask for the PIN until the card accepts it; False when it is blocked or abandoned."""
        while True:
            line = self._read(f"{messages.ENTER_PIN}: ", secret=not self.source.scripted)
            if line is None:
                raise SessionEnded("end of input")
            pin_text = line.strip()
            command = Command("pin")
            if not self.source.scripted and pin_text.lower() in {"", "end", "quit"}:
                return False  # the resident gave up: take the card
            if self.source.scripted:
                command = parse_command(pin_text)
                if command.word in {"end", "quit"}:
                    self.quit = command.word == "quit"
                    return False
                if command.word != "pin" or not command.positional:
                    self.screen.error("the card needs its PIN first: pin NNNNNN")
                    self.outcome.record(exits.USAGE)
                    continue
                pin_text = command.positional[0]
            try:
                pin = values.pin(pin_text)
            except InputError as exc:
                self.screen.error(exc.problem)
                continue
            try:
                self.agent.verify_pin(pin)
            except CardsvcError as exc:
                problem = problem_of(exc)
                if problem is None:
                    raise
                if problem.slug == "wrong-pin":
                    self.screen.refused(messages.wrong_pin(problem.extra.get("tries_left")))
                    continue
                if problem.slug == "pin-blocked":
                    self.screen.refused(messages.PIN_BLOCKED)
                    self.outcome.record(exits.REFUSED)
                    return False
                if problem.slug == "initial-pin":
                    self.screen.note(messages.INITIAL_PIN)
                    return self._change_initial_pin(pin, command)
                self._problem("PIN", exc)
                return False
            self.screen.ok(messages.PIN_OK)
            return True

    def _change_initial_pin(self, initial: str, command: Command) -> bool:
        try:
            new_pin = self._ask_new_pin(command)
        except InputError as exc:
            self.screen.error(f"{exc.field}: {exc.problem}")
            self.outcome.record(exits.USAGE)
            return False
        try:
            self.agent.change_pin(initial, new_pin)
            self.agent.verify_pin(new_pin)
        except CardsvcError as exc:
            self._problem("PIN change", exc)
            return False
        self.screen.ok("新密码已生效 / your new PIN is set")
        self._initial_pin_changed = True
        return True

    def _record_initial_change(self) -> None:
        run_guarded(self.screen, self.outcome, lambda: self._done("C05", self._c05_record()))

    def _c05_record(self) -> dict[str, Any]:
        return self.calls.c05_record_pin_change(self._who())

    def _commands(self) -> None:
        while True:
            line = self._read(PROMPT)
            if line is None:
                raise SessionEnded("end of input")
            try:
                command = parse_command(line)
            except InputError as exc:
                self.screen.error(exc.problem)
                self.outcome.record(exits.USAGE)
                continue
            if command.word in {"end", "quit", "exit"}:
                self.quit = command.word != "end"
                return
            self._run(command)

    def _run(self, command: Command) -> None:
        word = command.word
        if word in {"help", "?"}:
            self.screen.info(HELP)
            return
        if word == "items":
            self.screen.items(KIOSK_ITEMS, title="kiosk items")
            return
        if word == "receipt":
            if self.receipt is not None:
                self.screen.info(self.receipt.text())
            return
        entry = item(word)
        if entry is None:
            self.screen.error(f"unknown command {word!r}: type help")
            self.outcome.record(exits.USAGE)
            return
        if not entry.kiosk:
            self.screen.refused(
                f"{entry.code} {entry.title} is not offered at a kiosk: please go to a counter"
            )
            self._refuse(entry.code, "not offered at a kiosk")
            self.outcome.record(exits.REFUSED)
            return
        failures = self.outcome.failures
        run_guarded(self.screen, self.outcome, lambda: self._item(entry.code, command))
        if self.outcome.failures > failures:
            self._refuse(entry.code, "refused (see the screen)")

    def _refuse(self, code: str, message: str) -> None:
        if self.receipt is not None:
            self.receipt.refuse(code, message)

    def _who(self) -> Customer:
        if self.customer is None:
            raise NoCardSession("no card session")
        return self.customer

    def _done(self, code: str, data: dict[str, Any]) -> None:
        view = view_of(code, data)
        self.screen.view(view)
        self.screen.ok(f"{code} done")
        if self.receipt is not None:
            self.receipt.add(view)

    def _item(self, code: str, command: Command) -> None:
        who = self._who()
        calls = self.calls
        p = self.prompter
        if code == "E01":
            data = calls.e01_insurance(who)
        elif code == "E02":
            data = calls.e02_contributions(who)
        elif code == "E03":
            data = calls.e03_account(who)
        elif code == "E04":
            data = calls.e04_benefits(who)
        elif code == "E05":
            data = calls.e05_employment(who)
        elif code == "R02":
            able = p.required(
                command, "able", "able to work? (y/n)", lambda t: values.yes_no(t, "able")
            )
            willing = p.required(
                command, "willing", "willing to work? (y/n)", lambda t: values.yes_no(t, "willing")
            )
            ended = p.value(
                command, "ended", "employment ended on (YYYY-MM-DD; if you were employed)",
                lambda t: values.date(t, "ended"), optional=True,
            )  # fmt: skip
            data = calls.r02_unemployment(
                who, able_to_work=able, willing_to_work=willing, employment_ended_on=ended
            )
        elif code == "R05":
            if set(command.options) - {"phone"}:
                raise InputError("R05", "at a kiosk only the phone number can be changed")
            new_phone = p.required(command, "phone", "new phone number", values.phone)
            data = calls.r05_change(who, {"phone": new_phone})
        elif code == "B01":
            data = calls.b01_unemployment_benefit(who)
        elif code == "B02":
            data = calls.b02_certify_pension(who, id_checked=False)
        elif code == "B03":
            data = calls.b03_retirement(who)
        elif code == "B04":
            data = calls.b04_medical(who)
        elif code == "C05":
            old_pin = p.required(
                command, "old_pin", "current PIN", lambda t: values.pin(t, "old_pin"), secret=True
            )
            new_pin = self._ask_new_pin(command)
            self.agent.change_pin(old_pin, new_pin)
            self.screen.ok("新密码已生效 / your new PIN is set")
            data = calls.c05_record_pin_change(who)
        elif code == "C07":
            data = calls.c07_activate(who)
        else:  # pragma: no cover - KIOSK_ITEMS is the list above
            raise InputError(code, "not a kiosk item")
        self._done(code, data)

    def _ask_new_pin(self, command: Command) -> str:
        p = self.prompter
        new_pin = p.required(
            command, "new_pin", "new PIN", lambda t: values.pin(t, "new_pin"), secret=True
        )
        if not self.source.scripted and "new_pin" not in command.options:
            again = p.required(
                command, "again", "new PIN again", lambda t: values.pin(t, "new_pin"), secret=True
            )
            if again != new_pin:
                raise InputError("new_pin", "the two entries differ: start again")
        return new_pin

    def _problem(self, what: str, exc: CardsvcError) -> None:
        problem = problem_of(exc)
        if problem is None:
            self.screen.refused(f"{what}: {exc}")
            self.outcome.record(exits.REFUSED)
            return
        self.screen.refused(f"{what}: {problem_message(problem)}")
        self.outcome.record(exits.UNREACHABLE if problem.unreachable else exits.REFUSED)

    # ------------------------------------------------------------------ the end

    def _end_api_session(self, session_id: str) -> None:
        if not session_id:
            return
        try:
            self.calls.end_card_session(session_id)
        except CardsvcError as exc:
            logger.info("ending the card session: %s", exc)

    def _finish(self, reason: str) -> None:
        customer, self.customer = self.customer, None
        if customer is not None and customer.card_session is not None:
            self._end_api_session(customer.card_session)
        if reason not in {"finished", "end of input"}:
            self.screen.note(reason)
        receipt = self.receipt
        self.receipt = None
        if receipt is not None:
            receipt.ended_at = self.now()
            receipt.end_reason = reason
            if not receipt.empty:
                self.screen.info(receipt.text())
                if self.receipt_dir is not None:
                    try:
                        text_path, pdf_path = receipt.write(self.receipt_dir)
                    except OSError as exc:
                        self.screen.error(f"writing the receipt to {self.receipt_dir}: {exc}")
                        self.outcome.record(exits.REFUSED)
                    else:
                        self.screen.ok(f"receipt: {text_path} and {pdf_path}")
        self.screen.info(messages.GOODBYE)


def _ssn_from_reader_string(text: str) -> str:
    """The ID number (second field) of the section-8 reader-interface string."""
    fields = text.split("|")
    if len(fields) < 3:
        raise NoCardSession("the card's reader-interface string has no ID number")
    return values.ssn(fields[1])
