"""The card pulled out at every step of every flow: a clean CardRemoved, then the next card works.

For each flow and each k, the card is removed from the in-process reader after
k APDUs have been answered (before the next one goes out), and, in a second
variant, while the card is answering APDU k (its answer is lost). Either way
the session raises reader_driver's CardRemoved (nothing else), and a new card
in the same reader is served by a new session.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from card_helpers import USER, CountingConnection, PullingCard, Rig, SmKind, rig, user_card

from cardsvc.card import SscSession
from cardsvc.card.records import EF05_SFI, Tag
from reader_driver import CardRemoved, ConnectionClosed

Flow = Callable[[SscSession], object]
PIN = {1: "2468", 2: "123456", 3: "135790"}


def block_unblock(session: SscSession) -> None:
    session.application_block()
    session.application_unblock()


FLOWS: dict[str, Flow] = {
    "basic_read": lambda s: s.basic_read(),
    "read_basic_info": lambda s: s.read_basic_info(),
    "verify_pin": lambda s: s.verify_pin(PIN[s_generation(s)]),
    "pin_status": lambda s: s.pin_status(),
    "change_pin": lambda s: s.change_pin(PIN[s_generation(s)], PIN[s_generation(s)]),
    "reload_pin": lambda s: s.reload_pin("8642"),
    "block_unblock": block_unblock,
    "update_record": lambda s: s.update_record(EF05_SFI, Tag.EXPIRY_DATE, b"\x20\x40\x01\x01"),
}


def s_generation(session: SscSession) -> int:
    return session.generation


def apdus_of(flow: Flow, generation: int, kind: SmKind) -> int:
    with rig(user_card(generation)) as r:
        session, conn = r.session(kind)
        flow(session)
        return conn.count


def next_card_works(r: Rig, generation: int, kind: SmKind, flow: Flow) -> None:
    r.insert(user_card(generation))
    session, _ = r.session(kind)
    flow(session)
    assert session.basic_read().generation == generation


@pytest.mark.parametrize("generation", [1, 2, 3])
@pytest.mark.parametrize("name", list(FLOWS))
def test_pulled_between_apdus(name: str, generation: int) -> None:
    flow = FLOWS[name]
    kind: SmKind = "psam" if generation != 2 else "keys"
    total = apdus_of(flow, generation, kind)
    assert total > 0
    for k in range(total):
        with rig(user_card(generation)) as r:

            def pull(sent: int, k: int = k, r: Rig = r) -> None:
                if sent == k:
                    r.backend.remove(USER)

            session, conn = r.session(kind, on_transmit=pull)
            with pytest.raises(CardRemoved):
                flow(session)
            assert conn.count == k + 1  # the APDU that met the empty reader
            next_card_works(r, generation, kind, flow)


@pytest.mark.parametrize("generation", [1, 3])
@pytest.mark.parametrize("name", ["basic_read", "reload_pin", "block_unblock"])
def test_pulled_while_the_card_answers(name: str, generation: int) -> None:
    flow = FLOWS[name]
    total = apdus_of(flow, generation, "psam")
    for k in range(1, total + 1):
        with rig() as r:
            r.backend.insert(PullingCard(user_card(generation), r.backend, USER, k), USER)
            session, conn = r.session("psam", channel=k % 2 == 0)
            with pytest.raises(CardRemoved):
                flow(session)
            assert conn.count == k
            next_card_works(r, generation, "psam", flow)


def test_a_pulled_connection_stays_dead_and_a_new_one_reaches_the_next_card() -> None:
    with rig(user_card(2)) as r:
        session, _ = r.session("psam")
        r.backend.remove(USER)
        with pytest.raises(CardRemoved):
            session.basic_read()
        r.backend.insert(user_card(3), USER)
        with pytest.raises(ConnectionClosed, match="removed"):
            session.basic_read()  # the old connection belongs to the old card
        fresh = SscSession(CountingConnection(r.backend.connect(USER)), r.psam)
        assert fresh.basic_read().generation == 3
