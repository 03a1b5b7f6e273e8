"""The demo's city: a migrated SQLite database seeded with `--demo`, and its card files.

Besides the seeder's own card files and index (``cards/README.txt``), the demo
writes the files of the residents its story needs, chosen from the seeded data:

- ``counter``: an active card of a resident of district 370402 (clerk.370402's);
- ``kiosk``: an active card of a pensioner (for the certification, B02);
- ``hotlisted``: a card on the hotlist (lost, temporarily lost or replaced) whose
  application is not blocked yet: the station must block it and serve nothing;
- ``unlost``: an active card whose application is still blocked because its loss
  was cancelled while it was blocked: the station must unblock it. The card file
  cannot say "blocked", so :func:`load_card` blocks that card's application (with
  a real APPLICATION BLOCK under the demo keys) every time it is loaded.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Final

from sqlalchemy import Engine, exists, select
from sqlalchemy.orm import Session

from cardsvc import crypto
from cardsvc.card.errors import ApplicationBlocked
from cardsvc.card.security import KeyServiceSecurityModule
from cardsvc.card.session import SscSession
from cardsvc.db import migrate
from cardsvc.db.engine import make_engine
from cardsvc.db.models import Card, CardState, Device, PensionEntitlement, Person
from cardsvc.demo.errors import DemoError
from cardsvc.idcheck import mask_ssn
from cardsvc.rules.card_lifecycle import effective_state, on_hotlist
from cardsvc.rules.config import DEFAULT_CONFIG
from cardsvc.seed.card_files import personalisation, write_card_files
from cardsvc.seed.demo import DEMO_DEVICE_SECRET, DEMO_OPERATOR_PASSWORD, DEMO_PIN
from cardsvc.seed.options import SeedOptions
from cardsvc.seed.progress import NoProgress
from cardsvc.seed.runner import seed_database
from simulators.ssc_card import UserCard

DEMO_PERSONS: Final = 300
DEMO_SEED: Final = 2011
DISTRICT: Final = "370402"
CLERK: Final = f"clerk.{DISTRICT}"
REVIEWER: Final = f"reviewer.{DISTRICT}"
SUPERVISOR: Final = f"supervisor.{DISTRICT}"
KIOSK_DEVICE: Final = f"kiosk.{DISTRICT}"
COUNTER_DEVICE: Final = f"counter.{DISTRICT}"
ROLES: Final = ("counter", "kiosk", "hotlisted", "unlost")


@dataclass(frozen=True, slots=True)
class DemoCard:
    """A seeded resident's card the demo puts in a reader, and its file."""

    role: str
    path: Path
    card_number: str
    generation: int
    ssn: str
    name: str
    state: CardState
    application_blocked: bool

    @property
    def masked_ssn(self) -> str:
        return mask_ssn(self.ssn)


@dataclass(frozen=True, slots=True)
class City:
    """What the demo seeded: the database, the card files and the credentials."""

    database_url: str
    as_of: date
    persons: int
    cards: dict[str, DemoCard]
    index: Path
    devices: dict[str, int]
    password: str = DEMO_OPERATOR_PASSWORD
    device_secret: str = DEMO_DEVICE_SECRET
    pin: str = DEMO_PIN

    def card(self, role: str) -> DemoCard:
        return self.cards[role]

    def device_id(self, name: str) -> int:
        """The id a device signs in with (the API signs devices in by id)."""
        try:
            return self.devices[name]
        except KeyError:
            raise DemoError(f"the seeded city has no device {name!r}") from None

    @property
    def blocked_numbers(self) -> frozenset[str]:
        """Card numbers whose application is blocked on the card itself."""
        return frozenset(c.card_number for c in self.cards.values() if c.application_blocked)


def build_city(database_url: str, cards_dir: Path, *, persons: int = DEMO_PERSONS) -> City:
    """Migrate, seed (demo credentials), write the card files; DemoError if a role has no card."""
    as_of = datetime.now(UTC).date()
    engine = make_engine(database_url)
    try:
        migrate.upgrade(engine)
        options = SeedOptions(
            as_of=as_of,
            persons=persons,
            seed=DEMO_SEED,
            demo=True,
            cards_dir=cards_dir,
            card_files=3,
        )
        report = seed_database(engine, options, progress=NoProgress())
        write_card_files(engine, report, cards_dir, options.card_files)
        cards = _write_role_files(engine, cards_dir, as_of)
        with Session(engine) as session:
            devices = {name: id_ for name, id_ in session.execute(select(Device.name, Device.id))}
    finally:
        engine.dispose()
    return City(database_url, as_of, persons, cards, cards_dir / "README.txt", devices)


def _write_role_files(engine: Engine, cards_dir: Path, as_of: date) -> dict[str, DemoCard]:
    chosen: dict[str, DemoCard] = {}
    with Session(engine) as session:
        rows = session.execute(
            select(Card, Person)
            .join(Person, Person.id == Card.person_id)
            .order_by(Card.generation.desc(), Card.id)
        ).all()
        pensioners = set(session.scalars(select(PensionEntitlement.person_id)).all())
        candidates = {
            "counter": _pick(
                rows,
                lambda c, p: (
                    _active(c, as_of)
                    and not c.application_blocked
                    and p.residence_site_code.startswith(DISTRICT)
                    and c.generation == 2
                ),
            ),
            "kiosk": _pick(
                rows,
                lambda c, p: _active(c, as_of) and not c.application_blocked and p.id in pensioners,
            ),
            "hotlisted": _pick(
                rows,
                lambda c, p: (
                    on_hotlist(_effective(c, as_of))
                    and not c.application_blocked
                    and c.state in (CardState.LOST, CardState.TEMPORARILY_LOST, CardState.REPLACED)
                    and _newest_card(session, c)
                ),
            ),
            "unlost": _pick(rows, lambda c, p: _active(c, as_of) and c.application_blocked),
        }
        taken: set[int] = set()
        for role in ROLES:
            for card, person in candidates[role]:
                if card.id in taken:
                    continue
                data = personalisation(card, person, 6)
                if data is None:
                    continue
                taken.add(card.id)
                path = cards_dir / f"{role}-gen{card.generation}-{card.card_number}.json"
                path.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", "utf-8")
                chosen[role] = DemoCard(
                    role=role,
                    path=path,
                    card_number=card.card_number,
                    generation=card.generation,
                    ssn=card.ssn,
                    name=person.name,
                    state=_effective(card, as_of),
                    application_blocked=card.application_blocked,
                )
                break
            else:
                raise DemoError(
                    f"the seeded city has no card for the demo's {role!r} resident; "
                    "seed more residents"
                )
    return chosen


def _pick(rows: Sequence[Any], wanted: Any) -> Iterable[tuple[Card, Person]]:
    return [(c, p) for c, p in rows if wanted(c, p)]


def _effective(card: Card, as_of: date) -> CardState:
    return effective_state(card.state, card.state_changed_at.date(), as_of, DEFAULT_CONFIG).state


def _active(card: Card, as_of: date) -> bool:
    return card.state is CardState.ACTIVE and _effective(card, as_of) is CardState.ACTIVE


def _newest_card(session: Session, card: Card) -> bool:
    """No other card replaced this one (so the resident's card in hand is this one)."""
    return not session.scalar(select(exists().where(Card.replaces_card_id == card.id)))


# --- loading a card file into a simulator -------------------------------------------------


class _Direct:
    """A CardTransport straight onto a simulated card (no reader)."""

    def __init__(self, card: UserCard) -> None:
        self._card = card
        self._atr = card.power_on()

    @property
    def atr(self) -> bytes:
        return self._atr

    def transmit(self, apdu: bytes) -> bytes:
        return self._card.transmit(apdu)

    def transaction(self) -> nullcontext[None]:
        return nullcontext()


def block_application(card: UserCard) -> None:
    """Block the card's application the way a station does (APPLICATION BLOCK, key STK)."""
    # the card files use the demo masters (the seeder's, and the issuer's here)
    issuer = KeyServiceSecurityModule(crypto.demo_masters(a) for a in crypto.Algorithm)
    session = SscSession(_Direct(card), issuer)
    try:
        session.select()
    except ApplicationBlocked:
        return
    session.application_block()
    card.power_off()


def load_card(path: Path | str, blocked_numbers: frozenset[str] = frozenset()) -> UserCard:
    """A user card from a personalisation file; blocked when its number is in `blocked_numbers`."""
    card = UserCard.from_file(path)
    if card.profile.card_number in blocked_numbers:
        block_application(card)
    return card
