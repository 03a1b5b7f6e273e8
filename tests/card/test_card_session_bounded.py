"""Every public session operation runs through its connection's `run`: one bounded region.

In-process backend with a watchdog (no pcscd): its connections have no socket to
interrupt, so `run` hands the whole operation to one region worker and every
command of it runs there (through pcscd, an interruptible connection runs them on
the caller's thread instead: tests/card/test_card_pcsc.py).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest
from card_helpers import CountingConnection, user_card

from cardsvc.card import InvalidPin, PsamSecurityModule, SscSession
from reader_driver import CardChannel, InProcessBackend
from reader_driver.watchdog import in_bounded_region
from simulators.psam import Psam

PIN = "135790"  # the gen 3 example card's


@pytest.fixture
def terminal() -> Iterator[tuple[SscSession, list[tuple[bool, bool]]]]:
    backend = InProcessBackend(["User", "SAM"], timeout=5.0)
    backend.insert(Psam.demo(), "SAM")
    backend.insert(user_card(3), "User")
    caller = threading.current_thread()
    seen: list[tuple[bool, bool]] = []

    def note(_sent: int) -> None:
        seen.append((in_bounded_region(), threading.current_thread() is caller))

    sam = backend.connect("SAM")
    user = backend.connect("User")
    psam = PsamSecurityModule.open(CardChannel(sam))
    session = SscSession(CardChannel(CountingConnection(user, note)), psam)
    try:
        yield session, seen
    finally:
        user.disconnect()
        sam.disconnect()
        backend.close()


OPERATIONS: dict[str, Callable[[SscSession], object]] = {
    "select": lambda s: s.select(),
    "read_issuer_info": lambda s: s.read_issuer_info(),
    "read_basic_info": lambda s: s.read_basic_info(),
    "verify_pin": lambda s: s.verify_pin(PIN),
    "pin_status": lambda s: s.pin_status(),
    "get_challenge": lambda s: s.get_challenge(),
    "internal_authenticate": lambda s: s.internal_authenticate(),
    "basic_read": lambda s: s.basic_read(),
    "card_id": lambda s: s.card_id,
}


@pytest.mark.parametrize("name", OPERATIONS)
def test_each_operation_runs_all_its_commands_in_one_region(
    terminal: tuple[SscSession, list[tuple[bool, bool]]], name: str
) -> None:
    session, seen = terminal
    OPERATIONS[name](session)
    assert seen
    assert set(seen) == {(True, False)}  # in a region, on its worker: not the caller


def test_errors_of_an_operation_reach_the_caller_unchanged(
    terminal: tuple[SscSession, list[tuple[bool, bool]]],
) -> None:
    session, seen = terminal
    with pytest.raises(InvalidPin) as caught:
        session.verify_pin("999999")
    assert caught.value.tries_left >= 1
    assert set(seen) == {(True, False)}
    session.verify_pin(PIN)  # the right PIN still works afterwards
