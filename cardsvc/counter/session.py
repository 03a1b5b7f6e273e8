"""A clerk's session at a counter: the customer (a card in the reader, or an ID number),
the commands, and every business item the clerk's roles allow.

Commands (``help`` lists them): ``wait [SECONDS]`` for a card, then the holder is
shown and later items carry the card session; ``person SSN`` serves someone without a
card (within the clerk's sites); ``items``; ``show``; ``end`` (the customer leaves:
the card session ends); ``quit``; and the items by code with ``key=value`` options,
e.g. ``R01 employer=913704024732787152 start=2026-12-01 contract=fixed_term``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Final

from cardsvc.counter import exits, values
from cardsvc.counter.catalogue import Item, allowed_items, item
from cardsvc.counter.errors import InputError, NoCardSession, NotAllowed
from cardsvc.counter.items import Customer, ItemCalls
from cardsvc.counter.lines import Command, Prompter
from cardsvc.counter.outcome import Outcome, run_guarded
from cardsvc.counter.ports import (
    AgentPort,
    ApiPort,
    current_card,
    problem_of,
    wait_for_card,
)
from cardsvc.counter.render import Screen
from cardsvc.counter.views import (
    View,
    card_session_view,
    change_decision,
    person_fields,
    view_of,
)
from cardsvc.errors import CardsvcError

logger = logging.getLogger(__name__)

DEFAULT_CARD_WAIT_S: Final = 60.0

HELP: Final = """\
commands:
  wait [SECONDS]        wait for a card in the reader (default 60 s), show its holder
  person SSN            serve a person without a card (residents of your sites)
  show                  the customer now
  items                 the business items your roles allow
  CODE [key=value ...]  run an item, e.g. E01, E02 limit=24, R02 able=y willing=y,
                        C02 id_checked=y, C06 id_checked=y new_pin=... (asked when missing)
  approve CHANGE_ID     reviewers: approve a pending name/ID-number change (R05)
  reject CHANGE_ID reason=TEXT   reviewers: reject it, saying why
  end                   the customer leaves: end the card session
  help                  this text
  quit                  end the session and sign out"""

YES_NO: Final = "y/n"
REVIEWER: Final = "reviewer"


class CounterSession:
    """One signed-in clerk (or supervisor) serving customers."""

    def __init__(
        self,
        api: ApiPort,
        agent: AgentPort | None,
        screen: Screen,
        prompter: Prompter,
        *,
        roles: frozenset[str],
        operator: str = "",
        outcome: Outcome | None = None,
    ) -> None:
        self.api = api
        self.agent = agent
        self.screen = screen
        self.prompter = prompter
        self.roles = roles
        self.operator = operator
        self.calls = ItemCalls(api)
        self.customer: Customer | None = None
        self.outcome = outcome or Outcome()
        self._handlers: dict[str, Callable[[Command], View | None]] = {
            "E01": lambda c: view_of("E01", self.calls.e01_insurance(self._who())),
            "E02": self._e02,
            "E03": lambda c: view_of("E03", self.calls.e03_account(self._who())),
            "E04": self._e04,
            "E05": lambda c: view_of("E05", self.calls.e05_employment(self._who())),
            "R01": self._r01,
            "R02": self._r02,
            "R03": lambda c: self._enrol("R03", c),
            "R04": lambda c: self._enrol("R04", c),
            "R05": self._r05,
            "B01": self._b01,
            "B02": self._b02,
            "B03": self._b03,
            "B04": lambda c: view_of("B04", self.calls.b04_medical(self._who())),
            "C01": self._c01,
            "C02": self._c02,
            "C03": self._c03,
            "C04": self._c04,
            "C05": self._c05,
            "C06": self._c06,
            "C07": self._c07,
            "C08": self._c08,
        }

    # ------------------------------------------------------------------ dispatch

    def run(self, command: Command) -> bool:
        """Run one command; False when the clerk quits."""
        word = command.word
        if word in {"quit", "exit", "logout"}:
            return False
        actions: dict[str, Callable[[Command], None]] = {
            "help": lambda c: self.screen.info(HELP),
            "?": lambda c: self.screen.info(HELP),
            "items": lambda c: self.screen.items(allowed_items(self.roles)),
            "wait": self._wait,
            "wait-card": self._wait,
            "person": self._person,
            "show": self._show,
            "end": lambda c: self.end_customer("the customer left"),
            "approve": lambda c: self._decide(c, approve=True),
            "reject": lambda c: self._decide(c, approve=False),
        }
        action = actions.get(word)
        if action is not None:
            run_guarded(self.screen, self.outcome, lambda: action(command))
            return True
        entry = item(word)
        if entry is None:
            self.screen.error(f"unknown command {word!r}: type help")
            self.outcome.record(exits.USAGE)
            return True
        run_guarded(self.screen, self.outcome, lambda: self._item(entry, command))
        return True

    def _item(self, entry: Item, command: Command) -> None:
        if not entry.allowed_for(self.roles):
            needs = " or ".join(sorted(entry.roles))
            raise NotAllowed(f"{entry.code} {entry.title} needs the {needs} role")
        self._check_card_still_in()
        view = self._handlers[entry.code](command)
        if view is not None:
            self.screen.view(view)
            self.screen.ok(f"{entry.code} done")

    def _who(self) -> Customer:
        if self.customer is None:
            raise NoCardSession(
                "no customer: insert a card (wait) or give an ID number (person SSN)"
            )
        return self.customer

    # ------------------------------------------------------------------ the customer

    def _wait(self, command: Command) -> None:
        agent = self._agent()
        timeout = (
            values.count(command.positional[0], "seconds", low=1, high=3600)
            if command.positional
            else DEFAULT_CARD_WAIT_S
        )
        if self.customer is not None:
            self.end_customer("next customer")
        with self.screen.waiting(f"waiting for a card (up to {timeout:g} s) ..."):
            card = wait_for_card(agent, timeout)
        if not card:
            raise NoCardSession(f"no card was inserted within {timeout:g} s")
        token = self.api.token
        if token is None:
            raise NoCardSession("signed out: sign in again")
        session = agent.open_session(token)
        self._serve_card(session)

    def _serve_card(self, session: dict[str, Any]) -> None:
        self.screen.view(card_session_view(session))
        holder = session.get("holder") or {}
        card = session.get("card") or {}
        self.customer = Customer(
            ssn=str(holder.get("ssn", "")),
            card_number=str(card.get("card_number", "")) or None,
            card_session=str(session.get("session_id", "")) or None,
            name=str(holder.get("name", "")),
        )
        terminal = session.get("terminal") or {}
        if terminal.get("serve", True):
            self.screen.ok(f"card {self.customer.card_number} of {self.customer.name}: ready")
        else:
            self.screen.note(
                "this card is hotlisted: its application is blocked; only card services "
                "(C03 cancel the loss, C04 replacement) make sense now"
            )

    def _person(self, command: Command) -> None:
        ssn = self.prompter.required(
            Command(command.word, {"ssn": command.positional[0]} if command.positional else {}),
            "ssn",
            "ID number",
            values.ssn,
        )
        if self.customer is not None:
            self.end_customer("next customer")
        customer = Customer(ssn=ssn)
        person = self.calls.person(customer)
        self.customer = Customer(ssn=ssn, name=str(person.get("name", "")))
        self.screen.view(View("person", (person_fields(person),)))
        self.screen.ok(f"serving {self.customer.name} (no card)")

    def _decide(self, command: Command, *, approve: bool) -> None:
        if REVIEWER not in self.roles:
            raise NotAllowed("deciding on R05 changes needs the reviewer role")
        options = dict(command.options)
        if command.positional:
            options.setdefault("change", command.positional[0])
        command = Command(command.word, options, command.positional)
        change = self.prompter.required(
            command,
            "change",
            "change id",
            lambda t: values.count(t, "change", low=1, high=2**31 - 1),
        )
        if approve:
            data = self.calls.approve_change(change)
        else:
            reason = self.prompter.required(
                command, "reason", "reason", lambda t: values.free_text(t, "reason", max_length=200)
            )
            data = self.calls.reject_change(change, reason)
        self.screen.view(change_decision(data))
        self.screen.ok(f"change {change} {'approved' if approve else 'rejected'}")

    def _show(self, command: Command) -> None:
        who = self._who()
        self.screen.info(
            f"customer {who.name} {who.ssn}"
            + (f", card {who.card_number} (card session)" if who.card_session else ", no card")
        )

    def end_customer(self, why: str) -> None:
        """End the customer's card session (DELETE it at the API)."""
        customer, self.customer = self.customer, None
        if customer is None or customer.card_session is None:
            return
        try:
            self.calls.end_card_session(customer.card_session)
        except CardsvcError as exc:
            problem = problem_of(exc)
            logger.info("ending the card session failed: %s", problem or exc)
        self.screen.info(f"card session ended ({why})")

    def _check_card_still_in(self) -> None:
        """A card-session customer whose card left the reader: end that session first."""
        customer = self.customer
        if customer is None or customer.card_session is None or self.agent is None:
            return
        card = current_card(self.agent) or {}
        if card.get("card_number") != customer.card_number:
            self.end_customer("the card was taken out")
            raise NoCardSession("the card was taken out: insert it again (wait)")

    def _agent(self) -> AgentPort:
        if self.agent is None:
            raise NoCardSession("no station agent: start it, or give --agent URL")
        return self.agent

    # ------------------------------------------------------------------ items

    def _confirm_id(self, command: Command) -> bool:
        checked = self.prompter.required(
            command,
            "id_checked",
            "ID document checked? (y/n)",
            lambda t: values.yes_no(t, "id_checked"),
        )
        if not checked:
            raise InputError("id_checked", "check the holder's ID document first, then answer y")
        return True

    def _card_option(self, command: Command) -> str | None:
        given = command.options.get("card")
        if given:
            return values.card_number(given)
        if self.customer is not None and self.customer.card_number:
            return None  # the card in the reader
        return self.prompter.required(command, "card", "card number", values.card_number)

    def _e02(self, command: Command) -> View:
        scheme = self.prompter.value(
            command, "scheme", "scheme", lambda t: values.choice(t, values.SCHEMES, "scheme"),
            optional=True,
        )  # fmt: skip
        limit = _int_option(command, "limit", 12, 200)
        offset = _int_option(command, "offset", 0, 1_000_000)
        data = self.calls.e02_contributions(self._who(), scheme=scheme, limit=limit, offset=offset)
        return view_of("E02", data)

    def _e04(self, command: Command) -> View:
        benefit = self.prompter.value(
            command, "benefit", "benefit", lambda t: values.choice(t, values.BENEFITS, "benefit"),
            optional=True,
        )  # fmt: skip
        limit = _int_option(command, "limit", 12, 200)
        offset = _int_option(command, "offset", 0, 1_000_000)
        return view_of(
            "E04", self.calls.e04_benefits(self._who(), benefit=benefit, limit=limit, offset=offset)
        )

    def _r01(self, command: Command) -> View:
        who = self._who()
        p = self.prompter
        employer = p.required(command, "employer", "employer's credit code", values.credit_code)
        start = p.required(
            command, "start", "start date (YYYY-MM-DD)", lambda t: values.date(t, "start")
        )
        contract = p.required(
            command, "contract", f"contract ({', '.join(values.CONTRACT_TYPES)})",
            lambda t: values.choice(t, values.CONTRACT_TYPES, "contract"),
        )  # fmt: skip
        data = self.calls.r01_employment(
            who, employer_credit_code=employer, start_date=start, contract_type=contract
        )
        return view_of("R01", data)

    def _r02(self, command: Command) -> View:
        who = self._who()
        p = self.prompter
        able = p.required(
            command, "able", "able to work? (y/n)", lambda t: values.yes_no(t, "able")
        )
        willing = p.required(
            command, "willing", "willing to work? (y/n)", lambda t: values.yes_no(t, "willing")
        )
        ended = p.value(
            command, "ended", "employment ended on (YYYY-MM-DD, if employed)",
            lambda t: values.date(t, "ended"), optional=True,
        )  # fmt: skip
        data = self.calls.r02_unemployment(
            who, able_to_work=able, willing_to_work=willing, employment_ended_on=ended
        )
        return view_of("R02", data)

    def _enrol(self, code: str, command: Command) -> View:
        who = self._who()
        start = self.prompter.value(
            command, "start", "start date (YYYY-MM-DD; default today)",
            lambda t: values.date(t, "start"), optional=True,
        )  # fmt: skip
        call = self.calls.r03_resident_pension if code == "R03" else self.calls.r04_resident_medical
        return view_of(code, call(who, start_date=start))

    def _r05(self, command: Command) -> View:
        who = self._who()
        p = self.prompter
        changes: dict[str, str] = {}
        fields: list[tuple[str, str, Callable[[str], str]]] = [
            ("phone", "new phone", values.phone),
            ("address", "new address", lambda t: values.free_text(t, "address", max_length=200)),
            ("name", "new name (reviewed)", lambda t: values.free_text(t, "name", max_length=100)),
            ("new_ssn", "corrected ID number (reviewed)", lambda t: values.ssn(t, "new_ssn")),
        ]
        for key, question, parse in fields:
            value = p.value(command, key, question, parse, optional=True)
            if value is not None:
                changes[key] = value
        if not changes:
            raise InputError("R05", "give at least one of phone=, address=, name=, new_ssn=")
        return view_of("R05", self.calls.r05_change(who, changes))

    def _b01(self, command: Command) -> View:
        involuntary = self.prompter.value(
            command, "involuntary", "did the employment end involuntarily? (y/n)",
            lambda t: values.yes_no(t, "involuntary"), optional=True,
        )  # fmt: skip
        return view_of(
            "B01", self.calls.b01_unemployment_benefit(self._who(), ended_involuntarily=involuntary)
        )

    def _b02(self, command: Command) -> View:
        who = self._who()
        self._confirm_id(command)
        return view_of("B02", self.calls.b02_certify_pension(who, id_checked=True))

    def _b03(self, command: Command) -> View:
        category = self.prompter.value(
            command, "category", f"retirement category ({', '.join(values.RETIREMENT_CATEGORIES)})",
            lambda t: values.choice(t, values.RETIREMENT_CATEGORIES, "category"), optional=True,
        )  # fmt: skip
        return view_of("B03", self.calls.b03_retirement(self._who(), category=category))

    def _card_customer(self) -> Customer:
        return self.customer or Customer(ssn="")

    def _c01(self, command: Command) -> View:
        number = self._card_option(command)
        return view_of(
            "C01", self.calls.c01_temporary_loss(self._card_customer(), card_number=number)
        )

    def _c02(self, command: Command) -> View:
        number = self._card_option(command)
        self._confirm_id(command)
        data = self.calls.c02_formal_loss(
            self._card_customer(), id_checked=True, card_number=number
        )
        return view_of("C02", data)

    def _c03(self, command: Command) -> View:
        number = self._card_option(command)
        self._confirm_id(command)
        data = self.calls.c03_cancel_loss(
            self._card_customer(), id_checked=True, card_number=number
        )
        return view_of("C03", data)

    def _c04(self, command: Command) -> View:
        number = self._card_option(command)
        p = self.prompter
        new_number = p.required(
            command, "new_card", "new card's number", lambda t: values.card_number(t, "new_card")
        )
        new_code = p.required(
            command, "new_code", "new card's identification code (32 hex digits)",
            lambda t: values.card_id_code(t, "new_code"),
        )  # fmt: skip
        expires = p.value(
            command, "expires", "expires on (YYYY-MM-DD; default in 10 years)",
            lambda t: values.date(t, "expires"), optional=True,
        )  # fmt: skip
        self._confirm_id(command)
        data = self.calls.c04_replace(
            self._card_customer(),
            new_card_number=new_number,
            new_card_id_code=new_code,
            id_checked=True,
            expires_on=expires,
            card_number=number,
        )
        return view_of("C04", data)

    def _card_in_reader(self) -> Customer:
        who = self._who()
        if who.card_session is None or who.card_number is None:
            raise NoCardSession("this item needs the card in the reader: insert it (wait)")
        return who

    def _new_pin(self, command: Command, key: str = "new_pin") -> str:
        p = self.prompter
        new_pin = p.required(command, key, "new PIN", lambda t: values.pin(t, key), secret=True)
        if not p.source.scripted and key not in command.options:
            again = p.required(
                command, "again", "new PIN again", lambda t: values.pin(t, key), secret=True
            )
            if again != new_pin:
                raise InputError(key, "the two entries differ: start again")
        return new_pin

    def _c05(self, command: Command) -> View:
        who = self._card_in_reader()
        old_pin = self.prompter.required(
            command, "old_pin", "current PIN", lambda t: values.pin(t, "old_pin"), secret=True
        )
        new_pin = self._new_pin(command)
        self._agent().change_pin(old_pin, new_pin)
        self.screen.ok("the PIN was changed on the card")
        return view_of("C05", self.calls.c05_record_pin_change(who))

    def _c06(self, command: Command) -> View:
        who = self._card_in_reader()
        self._confirm_id(command)
        new_pin = self._new_pin(command)
        token = self.api.token
        if token is None:
            raise NoCardSession("signed out: sign in again")
        answer = self._agent().reload_pin(new_pin, token)
        self.screen.ok("the new PIN was loaded on the card (tries reset)")
        # the agent reloads inside a card session of the clerk's: record it in that one
        session_id = answer.get("session_id") if isinstance(answer, dict) else None
        if isinstance(session_id, str) and session_id:
            who = Customer(who.ssn, who.card_number, session_id, who.name)
        return view_of("C06", self.calls.c06_record_pin_reload(who, id_checked=True))

    def _c07(self, command: Command) -> View:
        number = self._card_option(command)
        return view_of("C07", self.calls.c07_activate(self._card_customer(), card_number=number))

    def _c08(self, command: Command) -> View:
        number = self._card_option(command)
        reason = self.prompter.required(
            command, "reason", "reason (death, emigration)",
            lambda t: values.choice(t, values.CANCELLATION_REASONS, "reason"),
        )  # fmt: skip
        data = self.calls.c08_cancel_card(self._card_customer(), reason=reason, card_number=number)
        return view_of("C08", data)


def _int_option(command: Command, key: str, default: int, high: int) -> int:
    given = command.options.get(key)
    if given is None:
        return default
    return values.count(given, key, low=0 if key == "offset" else 1, high=high)
