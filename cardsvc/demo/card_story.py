"""What a terminal does with a card on its own (no service): the example cards of
generations 1-3 read through the PSAM, the section-8 reader string, a wrong and a
right PIN, and a forged card refused.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator
from typing import Final

from cardsvc.card.errors import ForgedCard, InvalidPin
from cardsvc.card.reader_string import reader_string
from cardsvc.card.security import PsamSecurityModule
from cardsvc.card.session import SscSession
from cardsvc.demo.output import Printer
from cardsvc.demo.readers import EXAMPLES, SAM, Readers
from cardsvc.errors import CardsvcError
from reader_driver import CardChannel
from reader_driver.errors import ReaderError
from simulators.personalisation import example_profile
from simulators.ssc_card import UserCard

EXAMPLE_PIN: Final = "123456"
DEVICE_SERIAL: Final = "DEMO-0001"
PIN_GENERATION: Final = 2
FORGED_GENERATION: Final = 1


def run_card_story(readers: Readers, out: Printer) -> bool:
    """Every step printed; True when all passed."""
    results = [_read_card(readers, generation, out) for generation in (2, 1, 3)]
    results.append(_pin_check(readers, out))
    results.append(_forged_card(readers, out))
    return all(results)


@contextlib.contextmanager
def psam_session(readers: Readers, slot: int) -> Iterator[SscSession]:
    """An SscSession on the card in `slot` with the PSAM of slot 1."""
    sam_conn = readers.backend.connect(readers.names[SAM])
    card_conn = readers.backend.connect(readers.names[slot])
    try:
        with CardChannel(sam_conn) as sam, CardChannel(card_conn) as card:
            yield SscSession(card, PsamSecurityModule.open(sam))
    finally:
        card_conn.disconnect()
        sam_conn.disconnect()


def _read_card(readers: Readers, generation: int, out: Printer) -> bool:
    title = f"basic read, generation {generation} card"
    try:
        with psam_session(readers, EXAMPLES[generation]) as session:
            read = session.basic_read()
            sm = session.security_module
            terminal = sm.terminal_number if sm is not None else None
    except (CardsvcError, ReaderError) as exc:
        out.step(title, str(exc), ok=False)
        return False
    out.step(title, "internal authentication verified by the PSAM")
    out.detail(
        f"{read.name}  SSN {read.masked_ssn}  card {read.card_number}  "
        f"generation {read.generation} ({read.algorithm.name})  valid to {read.expiry_date}"
    )
    out.detail(f"reader string: {reader_string(read, terminal, DEVICE_SERIAL)}")
    return True


def _pin_check(readers: Readers, out: Printer) -> bool:
    title = f"PIN, generation {PIN_GENERATION} card"
    wrong = "000000"  # not the example PIN
    try:
        with psam_session(readers, EXAMPLES[PIN_GENERATION]) as session:
            try:
                session.verify_pin(wrong)
            except InvalidPin as exc:
                out.step(title, f"a wrong PIN is refused: {exc.tries_left} tries left")
            else:
                out.step(title, "a wrong PIN was accepted", ok=False)
                return False
            session.verify_pin(EXAMPLE_PIN)
            status = session.pin_status()
    except (CardsvcError, ReaderError) as exc:
        out.step(title, str(exc), ok=False)
        return False
    out.detail(f"the right PIN is accepted (verified: {status.verified}); the counter is reset")
    return status.verified


def _forged_card(readers: Readers, out: Printer) -> bool:
    """A card personalised with other masters must be refused as forged, then put back."""
    title = "forged card"
    profile = example_profile(FORGED_GENERATION)
    profile["masters"] = {
        name: secrets.token_hex(16).upper() for name in ("IRK", "UK", "PRK", "STK", "RKSSSE")
    }
    slot = EXAMPLES[FORGED_GENERATION]
    genuine = readers.card(slot)
    readers.put(slot, UserCard.from_profile(profile))
    try:
        with psam_session(readers, slot) as session:
            session.basic_read()
    except ForgedCard:
        out.step(title, "a card made with other keys is refused: internal authentication failed")
        return True
    except (CardsvcError, ReaderError) as exc:
        out.step(title, f"expected a forged-card refusal, got: {exc}", ok=False)
        return False
    finally:
        if genuine is not None:
            readers.put(slot, genuine)
    out.step(title, "the forged card was accepted", ok=False)
    return False
