"""Fault switches a tester flips while a simulated card is in a slot.

A `Faults` object belongs to one slot. Every switch can be turned on and off
at any time, from any thread (the control channel, a test, the transport).
The transport reads a consistent snapshot per message and subscribes to
changes so that pulling the card (`removed`) takes effect at once.

- `removed`: the card is out of the reader (the transport disconnects).
- `remove_mid_command`: one shot: the next command APDU is read, then the card
  is pulled without answering (`removed` becomes true, this switch false).
  Seen through pcscd 1.9.9 and Debian's vpcd 0.8, that SCardTransmit (and a
  muted one ended by removal) returns SCARD_S_SUCCESS with an empty response.
- `mute`: command APDUs are read and never answered (control bytes still are,
  so the reader keeps seeing a card). vpcd has no timeout: the SCardTransmit
  waits until the card is removed; switching mute off does not answer a command
  already swallowed, only the next ones.
- `slow_ms`: each answer to a command APDU waits this long.
- `corrupt`: `flip` inverts the first byte of each answer (the first data byte,
  or SW1 when there is no data); `sw` replaces the status word with a wrong one.
- `wrong_atr`: the card answers `WRONG_ATR` instead of its own ATR.
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace

from simulators.errors import SimulatorError

# A well-formed T=0 ATR (T0=05: no interface bytes, 5 historical bytes "WRONG")
# that belongs to no card of this project.
WRONG_ATR = bytes.fromhex("3B0557524F4E47")

# Status word a corrupted answer carries instead of its own (6F00: no precise
# diagnosis), and the one used when the card itself answered 6F00.
_WRONG_SW = b"\x6f\x00"
_WRONG_SW_ALT = b"\x6d\x00"

MAX_SLOW_MS = 600_000


class FaultError(SimulatorError):
    """A fault switch set to a value it cannot take; names the switch."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"fault '{field}': {problem}")
        self.field = field
        self.problem = problem


class Corruption(enum.Enum):
    """How answers are corrupted."""

    OFF = "off"
    FLIP = "flip"
    SW = "sw"


@dataclass(frozen=True, slots=True)
class FaultSettings:
    """One consistent snapshot of every switch."""

    removed: bool = False
    remove_mid_command: bool = False
    mute: bool = False
    slow_ms: int = 0
    corrupt: Corruption = Corruption.OFF
    wrong_atr: bool = False

    def to_dict(self) -> dict[str, object]:
        return {
            "removed": self.removed,
            "remove_mid_command": self.remove_mid_command,
            "mute": self.mute,
            "slow_ms": self.slow_ms,
            "corrupt": self.corrupt.value,
            "wrong_atr": self.wrong_atr,
        }


FAULT_NAMES: tuple[str, ...] = tuple(f.name for f in fields(FaultSettings))
_BOOL_FIELDS = frozenset({"removed", "remove_mid_command", "mute", "wrong_atr"})


def _coerce(name: str, value: object) -> object:
    """Check one switch value (as it comes from JSON or Python); returns the typed value."""
    if name in _BOOL_FIELDS:
        if not isinstance(value, bool):
            raise FaultError(name, f"must be true or false, not {value!r}")
        return value
    if name == "slow_ms":
        if isinstance(value, bool) or not isinstance(value, int):
            raise FaultError(name, f"must be a whole number of milliseconds, not {value!r}")
        if not 0 <= value <= MAX_SLOW_MS:
            raise FaultError(name, f"must be 0..{MAX_SLOW_MS} ms, not {value}")
        return value
    if name == "corrupt":
        if isinstance(value, Corruption):
            return value
        if value is False or value is None:
            return Corruption.OFF
        if isinstance(value, str):
            try:
                return Corruption(value.lower())
            except ValueError:
                pass
        choices = ", ".join(c.value for c in Corruption)
        raise FaultError(name, f"must be one of {choices}, not {value!r}")
    raise FaultError(name, f"unknown fault; known: {', '.join(FAULT_NAMES)}")


class Faults:
    """Thread-safe fault switches of one slot."""

    def __init__(self, **initial: object) -> None:
        self._lock = threading.Lock()
        self._settings = FaultSettings()
        self._listeners: list[Callable[[FaultSettings], None]] = []
        if initial:
            self.update(initial)

    # --- reading -----------------------------------------------------------

    def snapshot(self) -> FaultSettings:
        with self._lock:
            return self._settings

    def state(self) -> dict[str, object]:
        return self.snapshot().to_dict()

    @property
    def removed(self) -> bool:
        return self.snapshot().removed

    @removed.setter
    def removed(self, value: bool) -> None:
        self.update({"removed": value})

    @property
    def remove_mid_command(self) -> bool:
        return self.snapshot().remove_mid_command

    @remove_mid_command.setter
    def remove_mid_command(self, value: bool) -> None:
        self.update({"remove_mid_command": value})

    @property
    def mute(self) -> bool:
        return self.snapshot().mute

    @mute.setter
    def mute(self, value: bool) -> None:
        self.update({"mute": value})

    @property
    def slow_ms(self) -> int:
        return self.snapshot().slow_ms

    @slow_ms.setter
    def slow_ms(self, value: int) -> None:
        self.update({"slow_ms": value})

    @property
    def corrupt(self) -> Corruption:
        return self.snapshot().corrupt

    @corrupt.setter
    def corrupt(self, value: Corruption | str) -> None:
        self.update({"corrupt": value})

    @property
    def wrong_atr(self) -> bool:
        return self.snapshot().wrong_atr

    @wrong_atr.setter
    def wrong_atr(self, value: bool) -> None:
        self.update({"wrong_atr": value})

    # --- changing ----------------------------------------------------------

    def update(self, changes: Mapping[str, object]) -> FaultSettings:
        """Set several switches at once; all or nothing (FaultError names the bad one)."""
        typed = {name: _coerce(name, value) for name, value in changes.items()}
        with self._lock:
            self._settings = replace(self._settings, **typed)  # type: ignore[arg-type]
            settings = self._settings
        self._notify(settings)
        return settings

    def clear(self) -> FaultSettings:
        """Every switch off, except `removed`, which is the card's position, not a fault."""
        with self._lock:
            self._settings = FaultSettings(removed=self._settings.removed)
            settings = self._settings
        self._notify(settings)
        return settings

    def take_mid_command(self) -> bool:
        """If `remove_mid_command` is armed: disarm it, mark the card removed, return True."""
        with self._lock:
            if not self._settings.remove_mid_command:
                return False
            self._settings = replace(self._settings, remove_mid_command=False, removed=True)
            settings = self._settings
        self._notify(settings)
        return True

    def subscribe(self, listener: Callable[[FaultSettings], None]) -> None:
        """Call `listener(settings)` after every change (outside the lock)."""
        with self._lock:
            self._listeners.append(listener)

    def unsubscribe(self, listener: Callable[[FaultSettings], None]) -> None:
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def _notify(self, settings: FaultSettings) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            listener(settings)


def corrupt_response(response: bytes, mode: Corruption) -> bytes:
    """The answer as the `corrupt` switch mangles it."""
    if mode is Corruption.OFF or not response:
        return response
    if mode is Corruption.FLIP:
        return bytes((response[0] ^ 0xFF,)) + response[1:]
    wrong = _WRONG_SW if response[-2:] != _WRONG_SW else _WRONG_SW_ALT
    return response[:-2] + wrong
