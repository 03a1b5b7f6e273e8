"""The end-to-end stack: a seeded database, the API, the station agents, the readers.

Readers of the suite's pcscd (`pcsc_harness.PcscStack`, six vpcd slots):

- slot 0: the counter's card reader, slot 1: the counter's PSAM (the counter agent);
- slot 2: the kiosk's card reader (the kiosk agent: the API's key service, no PSAM).
  The kiosk agent is given only its `--reader`, so it opens no other reader of the
  shared pcscd and leaves the counter's PSAM alone.

Cards come from the seeded city: `E2E.resident(kind)` picks a seeded resident's
card not used yet in this module (one per call), personalised like the seeder's
card files (demo masters, PIN 123456), with its application blocked on the card
when the database says so.
"""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Final

from agent_process import AgentProcess, launch_agent
from pcsc_harness import PcscStack, wait_card_absent, wait_card_present
from sqlalchemy import Engine, and_, exists, select
from sqlalchemy.orm import Session

from cardsvc.client import ApiClient, ApiProblem
from cardsvc.db.engine import make_engine
from cardsvc.db.models import (
    Card,
    CardState,
    Employer,
    EmploymentStatus,
    InsuranceRelation,
    JournalEntry,
    PensionEntitlement,
    Person,
    RelationStatus,
    Scheme,
)
from cardsvc.demo.api_server import ApiServer
from cardsvc.demo.city import (
    CLERK,
    COUNTER_DEVICE,
    KIOSK_DEVICE,
    City,
    block_application,
    build_city,
)
from cardsvc.idcheck import card_number_check_char
from cardsvc.rules.card_lifecycle import effective_state
from cardsvc.rules.config import DEFAULT_CONFIG
from cardsvc.seed.card_files import personalisation
from simulators.base import SimulatedCard
from simulators.psam import Psam
from simulators.ssc_card import UserCard
from simulators.vpcd import VpcdSlot

COUNTER_SLOT: Final = 0
SAM_SLOT: Final = 1
KIOSK_SLOT: Final = 2
PIN: Final = "123456"
COUNTER_ORIGIN: Final = "http://counter.cardsvc.test"
DISTRICT: Final = "370402"
PERSONS: Final = 300
KINDS: Final = (
    "active",  # active, not blocked, resident of district 370402 (the clerk's)
    "employed",  # ... and recorded as employed
    "pensioner",  # ... and drawing a pension
    "no-pension",  # in no pension scheme, no pension drawn, 16 or older (R03)
    "no-medical",  # in no medical scheme (R04)
    "hotlisted",  # lost / temporarily lost / replaced, not blocked yet (any district)
    "unlost",  # active but its application still blocked (any district)
)


@dataclass
class Resident:
    """A seeded resident's card (not in a reader yet) and who it belongs to."""

    kind: str
    card_number: str
    card_id_code: str
    ssn: str
    name: str
    person_id: int
    generation: int
    profile: dict[str, Any]
    blocked: bool

    def card(self) -> UserCard:
        """A fresh simulated card from the profile (blocked if the holder's card is)."""
        card = UserCard.from_profile(dict(self.profile))
        if self.blocked:
            block_application(card)
        return card

    def replacement(self) -> tuple[str, str, dict[str, Any]]:
        """A new card for C04: (card number, card identification code, profile)."""
        body = "W" + f"{secrets.randbelow(10**7):07d}"
        number = body + card_number_check_char(body)
        serial = secrets.token_hex(4).upper()
        suffix = secrets.token_hex(4).upper()
        profile = dict(self.profile)
        today = datetime.now(UTC).date()
        profile.update(
            card_number=number,
            chip_serial=serial,
            card_id_suffix=suffix,
            issue_date=f"{today:%Y%m%d}",
            expiry_date=f"{today.replace(year=today.year + 10):%Y%m%d}",
        )
        code = f"{profile['region_code']}D156000005{serial}{suffix}"
        return number, code, profile


@dataclass
class E2E:
    """One engine's stack (see the module docstring)."""

    engine_name: str
    url: str
    city: City
    api: ApiServer
    counter: AgentProcess
    kiosk: AgentProcess
    stack: PcscStack
    slots: dict[int, VpcdSlot]
    engine: Engine
    taken: set[str] = field(default_factory=set)

    # --- who calls the API ---------------------------------------------------------------

    def login(self, username: str = CLERK) -> ApiClient:
        client = ApiClient(self.api.url, timeout=30.0)
        client.login(username, self.city.password)
        return client

    def kiosk_device(self) -> ApiClient:
        client = ApiClient(self.api.url, timeout=30.0)
        client.device_sign_in(self.city.device_id(KIOSK_DEVICE), self.city.device_secret)
        return client

    # --- cards in readers ----------------------------------------------------------------

    def reader(self, slot: int) -> str:
        return self.stack.readers[slot]

    def insert(self, slot: int, card: SimulatedCard, *, wait: bool = True) -> None:
        """Put `card` into the slot (pulling what is in it first); `wait`: until pcscd sees it."""
        self.remove(slot)
        self.slots[slot].swap(card)
        if wait:
            wait_card_present(self.reader(slot))

    def remove(self, slot: int) -> None:
        vpcd = self.slots[slot]
        vpcd.remove()
        wait_card_absent(self.reader(slot))

    def empty_readers(self) -> None:
        for slot in (COUNTER_SLOT, KIOSK_SLOT):
            self.slots[slot].faults.update({"remove_mid_command": False, "mute": False})
            self.remove(slot)

    # --- seeded residents ----------------------------------------------------------------

    def resident(self, kind: str) -> Resident:
        """A seeded resident of `kind` (KINDS) whose card no test of this module used yet."""
        assert kind in KINDS, kind
        today = datetime.now(UTC).date()
        with Session(self.engine) as session:
            for card, person in session.execute(_query(kind)).all():
                if card.card_number in self.taken or not _fits(kind, card, today):
                    continue
                if not _newest(session, card):
                    continue
                profile = personalisation(card, person, 6)
                if profile is None:
                    continue
                self.taken.add(card.card_number)
                return Resident(
                    kind,
                    card.card_number,
                    card.card_id_code,
                    card.ssn,
                    person.name,
                    person.id,
                    card.generation,
                    profile,
                    card.application_blocked,
                )
        raise AssertionError(f"the seeded city has no unused {kind} card left")

    def journal(
        self, *, person_id: int | None = None, card_number: str | None = None
    ) -> list[tuple[str, str]]:
        """(item, outcome) of the journal entries of a person or a card, oldest first."""
        query = select(JournalEntry.item, JournalEntry.outcome).order_by(JournalEntry.id)
        if person_id is not None:
            query = query.where(JournalEntry.person_id == person_id)
        if card_number is not None:
            query = query.where(JournalEntry.card_number == card_number)
        with Session(self.engine) as session:
            return [(str(item), str(outcome)) for item, outcome in session.execute(query)]

    def employer_code(self) -> str:
        with Session(self.engine) as session:
            code = session.scalar(select(Employer.credit_code).order_by(Employer.id).limit(1))
        assert code is not None
        return code

    def card_row(self, card_number: str) -> Card:
        with Session(self.engine) as session:
            card = session.scalars(select(Card).where(Card.card_number == card_number)).one()
            session.expunge(card)
            return card


def _query(kind: str) -> Any:
    query = (
        select(Card, Person)
        .join(Person, Person.id == Card.person_id)
        .order_by(Card.generation.desc(), Card.id)
    )
    if kind in ("hotlisted", "unlost"):
        return query
    if kind in ("no-pension", "no-medical"):
        return query.where(*_not_enrolled(kind))
    query = query.where(Person.residence_site_code.startswith(DISTRICT))
    if kind == "employed":
        query = query.where(Person.employment_status == EmploymentStatus.EMPLOYED)
    elif kind == "pensioner":
        query = query.where(exists().where(PensionEntitlement.person_id == Person.id))
    return query


def _not_enrolled(kind: str) -> list[Any]:
    if kind == "no-pension":
        schemes = (Scheme.EMPLOYEE_PENSION, Scheme.RESIDENT_PENSION)
    else:
        schemes = (Scheme.EMPLOYEE_MEDICAL, Scheme.RESIDENT_MEDICAL)
    conditions: list[Any] = [
        ~exists().where(
            and_(
                InsuranceRelation.person_id == Person.id,
                InsuranceRelation.scheme.in_(schemes),
                InsuranceRelation.status == RelationStatus.ACTIVE,
            )
        )
    ]
    if kind == "no-pension":
        conditions += [
            Person.birth_date < date(2008, 1, 1),
            ~exists().where(PensionEntitlement.person_id == Person.id),
        ]
    return conditions


def _effective(card: Card, today: date) -> CardState:
    since = card.state_changed_at.date()
    return effective_state(card.state, since, today, DEFAULT_CONFIG).state


def _fits(kind: str, card: Card, today: date) -> bool:
    state = _effective(card, today)
    if kind == "hotlisted":
        return (
            card.state in (CardState.LOST, CardState.TEMPORARILY_LOST, CardState.REPLACED)
            and state is not CardState.ACTIVE
            and not card.application_blocked
        )
    active = card.state is CardState.ACTIVE and state is CardState.ACTIVE
    if kind == "unlost":
        return active and card.application_blocked
    return active and not card.application_blocked


def _newest(session: Session, card: Card) -> bool:
    return not session.scalar(select(exists().where(Card.replaces_card_id == card.id)))


@contextlib.contextmanager
def start_e2e(engine_name: str, url: str, root: Path, stack: PcscStack) -> Iterator[E2E]:
    """Seed, serve, plug the PSAM, start both agents; stop everything at the end."""
    city = build_city(url, root / "cards", persons=PERSONS)
    with contextlib.ExitStack() as exits:
        slots: dict[int, VpcdSlot] = {}
        for slot in (COUNTER_SLOT, SAM_SLOT, KIOSK_SLOT):
            vpcd = VpcdSlot(None, "127.0.0.1", stack.ports[slot], name=f"e2e slot {slot}")
            vpcd.remove()
            vpcd.start()
            exits.callback(_stop_slot, vpcd, stack.readers[slot])
            slots[slot] = vpcd
        slots[SAM_SLOT].swap(Psam.from_file(_example("psam.json")))
        wait_card_present(stack.readers[SAM_SLOT])
        api = exits.enter_context(ApiServer(url, root / "logs"))
        engine = make_engine(url)
        exits.callback(engine.dispose)
        with ThreadPoolExecutor(max_workers=2) as pool:
            counter_start = pool.submit(
                launch_agent,
                api.url,
                city,
                COUNTER_DEVICE,
                reader=stack.readers[COUNTER_SLOT],
                sam_reader=stack.readers[SAM_SLOT],
                work=root / "counter-agent",
                allow_origin=COUNTER_ORIGIN,
            )
            kiosk_start = pool.submit(
                launch_agent,
                api.url,
                city,
                KIOSK_DEVICE,
                reader=stack.readers[KIOSK_SLOT],
                work=root / "kiosk-agent",
            )
            started = [f.result() for f in (counter_start, kiosk_start) if f.exception() is None]
            for agent in started:
                exits.callback(agent.stop)
            counter, kiosk = counter_start.result(), kiosk_start.result()
        yield E2E(engine_name, url, city, api, counter, kiosk, stack, slots, engine)


def _stop_slot(vpcd: VpcdSlot, reader: str) -> None:
    vpcd.stop()
    with contextlib.suppress(Exception):
        wait_card_absent(reader)


def _example(name: str) -> Path:
    return Path(__file__).resolve().parents[2] / "simulators" / "examples" / name


# --- the agents' view ----------------------------------------------------------------------

AGENT_WAIT_S: Final = 20.0


def agent_card(
    agent: AgentProcess, card_number: str, timeout: float = AGENT_WAIT_S
) -> dict[str, Any]:
    """The agent's GET /v1/card once it has presented the card `card_number` (bounded wait)."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            card = agent.client.card()
        except Exception as exc:  # no card yet (404 no-card) while the agent reads it
            last = exc
        else:
            last = card
            # the agent publishes the card once the station is done with it
            if card and card.get("card_number") == card_number:
                return dict(card)
        time.sleep(0.1)
    raise AssertionError(
        f"the agent did not present card {card_number} within {timeout:.0f} s; last seen: "
        f"{last!r}\nagent log:\n{agent.log()}"
    )


def at_reader(e2e: E2E, slot: int, card: SimulatedCard, card_number: str) -> dict[str, Any]:
    """Insert `card` at the counter (slot 0) or the kiosk (slot 2); the agent's card JSON."""
    e2e.insert(slot, card)
    agent = e2e.counter if slot == COUNTER_SLOT else e2e.kiosk
    return agent_card(agent, card_number)


def sim_state(card: SimulatedCard) -> dict[str, Any]:
    """What the simulated card itself says (PIN tries, application blocked, …)."""
    return dict(card.state())


def problem_of(call: Any) -> Any:
    """Run `call`; the problem it raises (an ApiProblem or the agent client's error)."""
    try:
        call()
    except Exception as exc:  # the caller asserts on the problem's fields
        return exc
    raise AssertionError("expected a problem, the call succeeded")


def refused_soon(call: Any, timeout: float = AGENT_WAIT_S) -> ApiProblem:
    """Repeat `call` until the API refuses it (e.g. once the agent has ended a session)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            call()
        except ApiProblem as problem:
            return problem
        if time.monotonic() > deadline:
            raise AssertionError(f"still accepted after {timeout:.0f} s")
        time.sleep(0.2)
