"""Social security cards: numbers, identification codes, generations and lifecycle states.

* Card number (EF05 tag 07): a generation letter (A, B, C) and 7 digits of
  ``card id + 1,000,000``, then the contract's check character; past 9,999,999 a
  ``Z`` and 7 base-36 digits. Distinct ids give distinct numbers.
* Card identification code (EF05 tag 01), exactly as the contract's section 3:
  region code (3 bytes BCD) ‖ ``D156000005`` ‖ chip serial (4 bytes) ‖ 4-byte
  issuer-unique suffix (the card id). The chip serial is the card id through a
  bijection on 32 bits, so it never repeats either.
* Generation by issue date: 1 before 2017, 2 from 2017, 3 from 2021. Validity: 20
  years (generation 1), 10 years (2 and 3).

Every resident has a card. For every 100 consecutive residents, one card each is
temporarily lost (within the lapse period), temporarily lost long ago (lapsed, the
stored state is still ``temporarily_lost``), cancelled, freshly issued and not yet
activated, replaced by a card not yet activated, replaced twice, and active but
with its application still blocked (a loss cancelled while blocked); two are lost;
eight were replaced by an active card. The rest are active. A cancelled card
records why (``cancellation_reason``): death for about 70 %, else emigration.
"""

from __future__ import annotations

import enum
import random
import string
from datetime import date, timedelta
from typing import Final

from cardsvc.db.models import CancellationReason, CardState
from cardsvc.idcheck import card_number_check_char
from cardsvc.seed.context import IdCounters, SeedContext, at_office
from cardsvc.seed.people import PersonDraft
from cardsvc.seed.rng import between, chance, mix
from cardsvc.seed.tables import Row, RowBuffer

CARDS_FROM: Final = date(2011, 9, 1)
GENERATION_2_FROM: Final = date(2017, 1, 1)
GENERATION_3_FROM: Final = date(2021, 1, 1)
CARD_NUMBER_OFFSET: Final = 1_000_000
_BASE36: Final = string.digits + string.ascii_uppercase
_GENERATION_LETTER: Final = {1: "A", 2: "B", 3: "C"}
DEATH_SHARE: Final = 0.7
"""Share of cancelled cards cancelled for the holder's death (the rest: emigration)."""


class Fate(enum.Enum):
    ACTIVE = "active"
    ISSUED_NEW = "issued_new"
    TEMP_LOST_RECENT = "temp_lost_recent"
    TEMP_LOST_LAPSED = "temp_lost_lapsed"
    LOST = "lost"
    CANCELLED = "cancelled"
    REPLACED_ACTIVE = "replaced_active"
    REPLACED_ISSUED = "replaced_issued"
    REPLACED_TWICE = "replaced_twice"
    UNBLOCK_PENDING = "unblock_pending"


_FATES: Final = {
    0: Fate.TEMP_LOST_RECENT,
    1: Fate.TEMP_LOST_LAPSED,
    2: Fate.LOST,
    3: Fate.LOST,
    4: Fate.CANCELLED,
    5: Fate.ISSUED_NEW,
    6: Fate.REPLACED_ISSUED,
    **dict.fromkeys(range(7, 15), Fate.REPLACED_ACTIVE),
    15: Fate.REPLACED_TWICE,
    16: Fate.UNBLOCK_PENDING,
}


def fate_of(index: int, seed: int) -> Fate:
    """37 is coprime with 100: every 100 consecutive indexes meet every residue once."""
    return _FATES.get((index * 37 + seed) % 100, Fate.ACTIVE)


def generation_for(issued: date) -> int:
    if issued < GENERATION_2_FROM:
        return 1
    return 2 if issued < GENERATION_3_FROM else 3


def card_number_for(card_id: int, generation: int) -> str:
    n = card_id + CARD_NUMBER_OFFSET
    if n < 10_000_000:
        body = _GENERATION_LETTER[generation] + f"{n:07d}"
    else:
        digits = ""
        while n:
            n, r = divmod(n, 36)
            digits = _BASE36[r] + digits
        body = "Z" + digits.rjust(7, "0")
    return body + card_number_check_char(body)


def chip_serial_for(card_id: int) -> str:
    """8 hex digits; multiplication by an odd number permutes 32-bit values."""
    return f"{(card_id * 2_654_435_761 + 0x1A2B3C4D) & 0xFFFFFFFF:08X}"


def card_id_code_for(region_code: str, card_id: int) -> str:
    """32 hex digits: region BCD ‖ D156000005 ‖ chip serial ‖ issuer-unique suffix."""
    return f"{region_code}D156000005{chip_serial_for(card_id)}{card_id:08X}"


def _years_later(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def _days(day: date, low: int, high: int, rng: random.Random) -> date:
    return day + timedelta(days=between(rng, low, high))


def _first_issue(rng: random.Random, low: date, high: date) -> date:
    """Most residents got their first card in 2011-2016, fewer later."""
    roll = rng.random()
    if roll < 0.6:
        start, end = low, min(high, GENERATION_2_FROM - timedelta(days=1))
    elif roll < 0.85:
        start, end = max(low, GENERATION_2_FROM), min(high, GENERATION_3_FROM - timedelta(days=1))
    else:
        start, end = max(low, GENERATION_3_FROM), high
    if end < start:
        start, end = low, high
    if end < start:
        return high
    return start + timedelta(days=int(rng.random() * ((end - start).days + 1)))


class _CardWriter:
    def __init__(self, ctx: SeedContext, ids: IdCounters, buf: RowBuffer, person: PersonDraft):
        self.as_of = ctx.as_of
        self.ids = ids
        self.rows: list[Row] = buf["cards"]
        self.person = person
        self.region = person.station.district_code

    def add(
        self,
        rng: random.Random,
        issued: date,
        state: CardState,
        changed: date,
        *,
        blocked: bool = False,
        replaces: int | None = None,
        cancellation: CancellationReason | None = None,
    ) -> int:
        card_id = self.ids.next("cards")
        generation = generation_for(issued)
        changed = min(max(changed, issued), self.as_of)
        self.rows.append(
            (
                card_id,
                card_number_for(card_id, generation),
                card_id_code_for(self.region, card_id),
                self.person.id,
                self.person.ssn,
                generation,
                issued,
                _years_later(issued, 20 if generation == 1 else 10),
                state.value,
                at_office(changed, between(rng, 540, 990)),
                state is CardState.REPLACED,
                blocked,
                replaces,
                1,
                None if cancellation is None else cancellation.value,
            )
        )
        return card_id

    def replaced(
        self, rng: random.Random, issued: date, latest_loss: date, replaces: int | None = None
    ) -> tuple[int, date]:
        """A card that was lost and replaced; returns its id and the replacement request day."""
        lost = _days(issued, 31, max(31, (latest_loss - issued).days), rng)
        requested = min(_days(lost, 0, 10, rng), self.as_of)
        card_id = self.add(
            rng, issued, CardState.REPLACED, requested, blocked=chance(rng, 0.2), replaces=replaces
        )
        return card_id, requested


def emit_cards(
    rng: random.Random, ctx: SeedContext, ids: IdCounters, buf: RowBuffer, person: PersonDraft
) -> None:
    as_of = ctx.as_of
    fate = fate_of(person.index, ctx.seed)
    writer = _CardWriter(ctx, ids, buf, person)
    low = max(CARDS_FROM, person.birth_date)
    high = as_of - timedelta(days=1)

    if fate is Fate.ISSUED_NEW:
        issued = max(low, as_of - timedelta(days=between(rng, 0, 40)))
        writer.add(rng, issued, CardState.ISSUED, issued)
        return

    if fate in (Fate.REPLACED_ACTIVE, Fate.REPLACED_ISSUED, Fate.REPLACED_TWICE):
        issued = _first_issue(rng, low, as_of - timedelta(days=400))
        replaces, requested = writer.replaced(rng, issued, as_of - timedelta(days=60))
        if fate is Fate.REPLACED_TWICE:
            second = min(_days(requested, 3, 20, rng), as_of)
            replaces, requested = writer.replaced(rng, second, as_of - timedelta(days=20), replaces)
        if fate is Fate.REPLACED_ISSUED:
            new_issue = min(max(_days(requested, 3, 20, rng), as_of - timedelta(days=25)), as_of)
            writer.add(rng, new_issue, CardState.ISSUED, new_issue, replaces=replaces)
            return
        new_issue = min(_days(requested, 3, 20, rng), as_of)
        activated = _days(new_issue, 0, 30, rng)
        if activated > as_of:
            writer.add(rng, new_issue, CardState.ISSUED, new_issue, replaces=replaces)
        else:
            writer.add(rng, new_issue, CardState.ACTIVE, activated, replaces=replaces)
        return

    event = {
        Fate.TEMP_LOST_RECENT: lambda: as_of - timedelta(days=between(rng, 0, 4)),
        Fate.TEMP_LOST_LAPSED: lambda: as_of - timedelta(days=between(rng, 6, 40)),
        Fate.LOST: lambda: as_of - timedelta(days=between(rng, 1, 200)),
        Fate.CANCELLED: lambda: as_of - timedelta(days=between(rng, 1, 700)),
        Fate.UNBLOCK_PENDING: lambda: as_of - timedelta(days=between(rng, 1, 30)),
    }.get(fate)
    if event is None:  # ACTIVE
        issued = _first_issue(rng, low, high)
        activated = _days(issued, 0, 30, rng)
        if activated > as_of:
            writer.add(rng, issued, CardState.ISSUED, issued)
        else:
            writer.add(rng, issued, CardState.ACTIVE, activated)
        return
    when = event()
    issued = _first_issue(rng, low, min(high, when - timedelta(days=31)))
    state, blocked = {
        Fate.TEMP_LOST_RECENT: (CardState.TEMPORARILY_LOST, chance(rng, 0.3)),
        Fate.TEMP_LOST_LAPSED: (CardState.TEMPORARILY_LOST, chance(rng, 0.5)),
        Fate.LOST: (CardState.LOST, chance(rng, 0.3)),
        Fate.CANCELLED: (CardState.CANCELLED, chance(rng, 0.3)),
        Fate.UNBLOCK_PENDING: (CardState.ACTIVE, True),
    }[fate]
    cancellation = None
    if state is CardState.CANCELLED:
        death = mix(ctx.seed, person.index, 8) < DEATH_SHARE
        cancellation = CancellationReason.DEATH if death else CancellationReason.EMIGRATION
    writer.add(
        rng,
        issued,
        state,
        max(when, issued + timedelta(days=1)),
        blocked=blocked,
        cancellation=cancellation,
    )
