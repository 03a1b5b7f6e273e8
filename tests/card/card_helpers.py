"""Helpers for the card-session tests: example cards, a counting transport, a terminal rig.

`CountingConnection` wraps a raw connection (below any T=0 handling) and counts
every APDU on the wire; `pull_after` removes the card from the in-process
backend once that many APDUs have been answered.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from cardsvc.card.security import KeyServiceSecurityModule, PsamSecurityModule, SecurityModule
from cardsvc.card.session import SscSession
from cardsvc.card.transport import CardTransport
from reader_driver import CardChannel, InProcessBackend
from reader_driver.backend import CardConnection
from simulators.base import SimulatedCard
from simulators.personalisation import example_profile
from simulators.psam import Psam
from simulators.ssc_card import RandomSource, UserCard

_T = TypeVar("_T")

USER = "User"
SAM = "SAM"
SmKind = Literal["psam", "keys"]
SM_KINDS: tuple[SmKind, ...] = ("psam", "keys")

# The contract's known-answer card (= the gen-2 and gen-3 example cards' ATR and region).
KAT_ATR = bytes.fromhex("3B6D00000081534D97868437041A2B3C4D")
KAT_REGION = "370402"


def profile(generation: int, **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = example_profile(generation)
    data.update(changes)
    return data


def user_card(
    generation: int, random_source: RandomSource | None = None, **changes: Any
) -> UserCard:
    return UserCard.from_profile(profile(generation, **changes), random_source=random_source)


def foreign_masters() -> dict[str, str]:
    """Masters nobody else has: a card made with them is 'forged' for our modules."""
    return {name: secrets.token_hex(16) for name in ("IRK", "UK", "PRK", "STK", "RKSSSE")}


class CountingConnection:
    """A raw connection that counts (and keeps) every command APDU sent through it."""

    def __init__(self, inner: CardConnection, on_transmit: Callable[[int], None] | None = None):
        self.inner = inner
        self.apdus: list[bytes] = []
        self.responses: list[bytes] = []
        self._on_transmit = on_transmit

    @property
    def reader(self) -> str:
        return self.inner.reader

    @property
    def atr(self) -> bytes:
        return self.inner.atr

    @property
    def closed(self) -> bool:
        return self.inner.closed

    @property
    def count(self) -> int:
        return len(self.apdus)

    def transmit(self, apdu: bytes) -> bytes:
        if self._on_transmit is not None:
            self._on_transmit(len(self.apdus))
        self.apdus.append(apdu)
        response = self.inner.transmit(apdu)
        self.responses.append(response)
        return response

    def transaction(self) -> AbstractContextManager[None]:
        return self.inner.transaction()

    def run(self, fn: Callable[[], _T]) -> _T:
        """The inner connection's bounded region (one watchdog hand-off per operation)."""
        run: Callable[[Callable[[], _T]], _T] | None = getattr(self.inner, "run", None)
        return fn() if run is None else run(fn)

    def disconnect(self) -> None:
        self.inner.disconnect()

    def instructions(self) -> list[str]:
        return [f"{a[1]:02X}" for a in self.apdus]


class PullingCard:
    """A simulated card that is pulled out of `reader` while answering its `at`-th APDU."""

    def __init__(self, card: SimulatedCard, backend: InProcessBackend, reader: str, at: int):
        self.card = card
        self.backend = backend
        self.reader = reader
        self.at = at
        self.seen = 0

    @property
    def atr(self) -> bytes:
        return self.card.atr

    def power_on(self) -> bytes:
        return self.card.power_on()

    def power_off(self) -> None:
        self.card.power_off()

    def reset(self) -> bytes:
        return self.card.reset()

    def state(self) -> dict[str, object]:
        return self.card.state()

    def transmit(self, apdu: bytes) -> bytes:
        response = self.card.transmit(apdu)
        self.seen += 1
        if self.seen == self.at:
            self.backend.remove(self.reader)
        return response


@dataclass
class Rig:
    """An in-process terminal: the user card in USER, a demo PSAM in SAM."""

    backend: InProcessBackend
    sam_counter: CountingConnection
    psam: PsamSecurityModule
    keys: KeyServiceSecurityModule
    opened: list[CardConnection] = field(default_factory=list)

    def module(self, kind: SmKind) -> SecurityModule:
        return self.psam if kind == "psam" else self.keys

    def connect(self, on_transmit: Callable[[int], None] | None = None) -> CountingConnection:
        conn = CountingConnection(self.backend.connect(USER), on_transmit)
        self.opened.append(conn)
        return conn

    def session(
        self,
        kind: SmKind | None = "psam",
        *,
        channel: bool = False,
        on_transmit: Callable[[int], None] | None = None,
    ) -> tuple[SscSession, CountingConnection]:
        """A session on the user card: over the raw connection, or a CardChannel on it."""
        conn = self.connect(on_transmit)
        transport: CardTransport = CardChannel(conn) if channel else conn
        return SscSession(transport, None if kind is None else self.module(kind)), conn

    def insert(self, card: UserCard) -> None:
        self.backend.remove(USER)
        self.backend.insert(card, USER)

    def close(self) -> None:
        for conn in self.opened:
            conn.disconnect()
        self.sam_counter.disconnect()
        self.backend.close()


@contextmanager
def rig(card: UserCard | None = None, psam_protocol: str = "T=0") -> Iterator[Rig]:
    backend = InProcessBackend([USER, SAM])
    sam = Psam.from_dict(
        {"terminal_number": "370400000001", "protocol": psam_protocol, "masters": "demo"}
    )
    backend.insert(sam, SAM)
    if card is not None:
        backend.insert(card, USER)
    sam_counter = CountingConnection(backend.connect(SAM))
    module = PsamSecurityModule.open(CardChannel(sam_counter))
    r = Rig(backend, sam_counter, module, KeyServiceSecurityModule.demo())
    try:
        yield r
    finally:
        r.close()
