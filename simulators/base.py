"""What every simulated card (user card, PSAM, floor responder) offers a transport."""

from __future__ import annotations

from typing import Protocol


class SimulatedCard(Protocol):
    """A card as a reader sees it: power, ATR and APDU exchange.

    `transmit` takes a raw command APDU and returns the whole response APDU
    (data || SW1 SW2). It never raises for bad input: malformed APDUs get a
    status word, like a real card.
    """

    @property
    def atr(self) -> bytes: ...

    def power_on(self) -> bytes:
        """Cold reset: clears the security state; returns the ATR."""
        ...

    def power_off(self) -> None:
        """Clears the security state."""
        ...

    def reset(self) -> bytes:
        """Warm reset: clears the security state; returns the ATR."""
        ...

    def transmit(self, apdu: bytes) -> bytes: ...

    def state(self) -> dict[str, object]:
        """A JSON-able summary for testers (never a PIN or key)."""
        ...
