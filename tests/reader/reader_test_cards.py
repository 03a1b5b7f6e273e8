"""Small simulated cards for the reader layer's tests (SimulatedCard protocol).

`ChainCard` speaks T=0 the way the contract's card does, with answers the
tests choose: a case-4 command answers 61xx and its data comes back through
GET RESPONSE in chunks the test picks; a case-2 command answers 6Cxx when Le
is wrong. `BlockingCard` never answers a chosen command until released.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

ATR = bytes.fromhex("3B0554455354")  # T0=05, 5 historical bytes "TEST" + 1

# 80 CA 00 00 Lc data: "echo": answers 61xx, then `data` through GET RESPONSE chunks.
ECHO = 0xCA
# 00 B2 01 04 Le: a case-2 command whose right Le is len(record).
READ = 0xB2
VERIFY = 0x20
GET_RESPONSE = 0xC0
BLOCK = 0xFF


def chunk_sw(n: int) -> bytes:
    return bytes((0x61, n & 0xFF))


class ChainCard:
    """A T=0 card whose echo answers come back in the chunk sizes given (1..256 each)."""

    def __init__(
        self,
        record: bytes = bytes(range(1, 11)),
        chunks: Sequence[int] | None = None,
        pin: bytes = bytes.fromhex("123456"),
        atr: bytes = ATR,
    ) -> None:
        self._atr = atr
        self.record = record
        self.chunks = list(chunks) if chunks is not None else None
        self.pin = pin
        self.tries = 3
        self.pending: list[bytes] = []
        self.commands: list[bytes] = []
        self.powered = False

    @property
    def atr(self) -> bytes:
        return self._atr

    def power_on(self) -> bytes:
        self.powered = True
        self.pending = []
        return self._atr

    def power_off(self) -> None:
        self.powered = False
        self.pending = []

    def reset(self) -> bytes:
        return self.power_on()

    def state(self) -> dict[str, object]:
        return {"powered": self.powered, "commands": len(self.commands)}

    def transmit(self, apdu: bytes) -> bytes:
        self.commands.append(bytes(apdu))
        ins = apdu[1]
        if ins == GET_RESPONSE:
            return self._get_response(apdu)
        self.pending = []
        if ins == ECHO and len(apdu) > 5:
            return self._echo(apdu[5 : 5 + apdu[4]])
        if ins == READ:
            le = (apdu[4] or 256) if len(apdu) == 5 else None
            if le != len(self.record):
                return bytes((0x6C, len(self.record) & 0xFF))
            return self.record + b"\x90\x00"
        if ins == VERIFY:
            if apdu[5 : 5 + apdu[4]] == self.pin:
                return b"\x90\x00"
            self.tries = max(0, self.tries - 1)
            return bytes((0x63, 0xC0 | self.tries))
        return b"\x90\x00"

    def _echo(self, data: bytes) -> bytes:
        sizes = self.chunks if self.chunks is not None else [len(data)]
        parts, at = [], 0
        for size in sizes:
            parts.append(data[at : at + size])
            at += size
        if at < len(data):
            parts.append(data[at:])
        self.pending = [p for p in parts if p]
        if not self.pending:
            return b"\x90\x00"
        return chunk_sw(len(self.pending[0]))

    def _get_response(self, apdu: bytes) -> bytes:
        if not self.pending:
            return b"\x69\x85"
        le = (apdu[4] or 256) if len(apdu) == 5 else 0
        head = self.pending[0]
        if le != len(head):
            return bytes((0x6C, len(head) & 0xFF))
        self.pending.pop(0)
        tail = chunk_sw(len(self.pending[0])) if self.pending else b"\x90\x00"
        return head + tail


class BlockingCard(ChainCard):
    """A card that does not answer INS FF until `release` is set (or ever)."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()
        self.entered = threading.Event()

    def transmit(self, apdu: bytes) -> bytes:
        if apdu[1] == BLOCK:
            self.entered.set()
            self.release.wait(30)
            return b"\x90\x00"
        return super().transmit(apdu)
