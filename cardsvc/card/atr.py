"""The user card's ATR (card contract section 2): historical bytes and the factor F1.

`3B 6D 00 00` + 13 historical bytes; the historical bytes are the "卡复位信息"
field of the standard reader interface, the last 8 ATR bytes are F1.
"""

from __future__ import annotations

import functools

from cardsvc.card.errors import CardFormatError

_MIN_F1 = 8


def historical_bytes(atr: bytes) -> bytes:
    """The historical bytes of an ISO 7816-3 ATR (CardFormatError when it is malformed)."""
    return _historical_bytes(bytes(atr))


@functools.lru_cache(maxsize=64)
def _historical_bytes(atr: bytes) -> bytes:
    # A terminal sees the same few ATRs read after read: each parse is kept (errors not).
    if len(atr) < 2:
        raise CardFormatError("atr", f"too short ({len(atr)} bytes)")
    if atr[0] not in (0x3B, 0x3F):
        raise CardFormatError("atr", f"TS must be 3B or 3F, not {atr[0]:02X}")
    k = atr[1] & 0x0F
    y = atr[1] >> 4
    i = 2
    tck = False
    while True:
        present = [bool(y & bit) for bit in (1, 2, 4)]  # TA, TB, TC
        i += sum(present)
        if not y & 8:
            break
        if i >= len(atr):
            raise CardFormatError("atr", "interface bytes run past the end")
        td = atr[i]
        i += 1
        if td & 0x0F:
            tck = True
        y = td >> 4
    end = i + k
    if end + (1 if tck else 0) != len(atr):
        raise CardFormatError(
            "atr", f"{len(atr)} bytes, but T0/TDi announce {end + (1 if tck else 0)}"
        )
    return atr[i:end]


def card_factor(atr: bytes) -> bytes:
    """F1: the last 8 ATR bytes (CardFormatError when the ATR is shorter)."""
    if len(atr) < _MIN_F1:
        raise CardFormatError("atr", f"too short for a diversification factor ({len(atr)} bytes)")
    return atr[-_MIN_F1:]
