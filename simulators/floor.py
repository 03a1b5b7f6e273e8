"""The floor card: answers 9000 to everything at once.

The benchmark uses it as the floor (all the time a real card spends is on top
of what the transport costs), and the transport tests use it as a card that
never gets in the way.
"""

from __future__ import annotations

# T=0 ATR (T0=05: no interface bytes, 5 historical bytes "FLOOR").
FLOOR_ATR = bytes.fromhex("3B05464C4F4F52")

_OK = b"\x90\x00"


class FloorCard:
    """A SimulatedCard with a fixed ATR that answers 9000 to every command."""

    def __init__(self, atr: bytes = FLOOR_ATR) -> None:
        self._atr = atr
        self._powered = False
        self._commands = 0

    @property
    def atr(self) -> bytes:
        return self._atr

    def power_on(self) -> bytes:
        self._powered = True
        return self._atr

    def power_off(self) -> None:
        self._powered = False

    def reset(self) -> bytes:
        self._powered = True
        return self._atr

    def transmit(self, apdu: bytes) -> bytes:
        self._commands += 1
        return _OK

    def state(self) -> dict[str, object]:
        return {
            "kind": "floor",
            "atr": self._atr.hex().upper(),
            "powered": self._powered,
            "commands": self._commands,
        }
