"""The card scheme's cryptography (section 6 of the card contract): this project's own scheme.

3DES (two-key EDE, 8-byte blocks) for generations 1 and 2, SM4 (16-byte blocks) for
generation 3. Every key is 16 bytes. Both the simulators (card and PSAM side) and the
terminal side use these functions; both are held to the contract's known-answer vectors.

Nothing here logs or keeps a key: callers pass keys in and get bytes out.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES as _TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from cardsvc.errors import CardsvcError

KEY_LEN = 16


class CryptoError(CardsvcError):
    """Bad key or data length for the card scheme."""


class Algorithm(enum.IntEnum):
    """The algorithm byte of the SSSE FCI (tag 86)."""

    DES3 = 0x01
    SM4 = 0x03

    @property
    def block_size(self) -> int:
        return 8 if self is Algorithm.DES3 else 16

    @classmethod
    def for_generation(cls, generation: int) -> Algorithm:
        if generation in (1, 2):
            return cls.DES3
        if generation == 3:
            return cls.SM4
        raise CryptoError(f"unknown card generation {generation} (expected 1, 2 or 3)")


class KeyId(enum.IntEnum):
    """Key ids on the user card."""

    IRK = 0x01
    UK = 0x04
    PRK = 0x06
    STK = 0x07
    RKSSSE = 0x0A


def _check_key(key: bytes) -> None:
    if len(key) != KEY_LEN:
        raise CryptoError(f"key must be {KEY_LEN} bytes, got {len(key)}")


def _cipher(alg: Algorithm, key: bytes, iv: bytes | None = None) -> Cipher[modes.ECB | modes.CBC]:
    _check_key(key)
    # ECB is what the card scheme specifies (single-block E_K); not a choice we can make.
    mode: modes.ECB | modes.CBC = modes.ECB() if iv is None else modes.CBC(iv)  # noqa: S305
    if alg is Algorithm.DES3:
        # two-key EDE: K1 K2 K1 (passing the 24-byte form avoids cryptography's 16-byte warning)
        return Cipher(_TripleDES(key + key[:8]), mode)
    return Cipher(algorithms.SM4(key), mode)


def encrypt(alg: Algorithm, key: bytes, data: bytes) -> bytes:
    """E_K: ECB encryption of one or more whole blocks."""
    if len(data) % alg.block_size:
        raise CryptoError(f"data must be a whole number of {alg.block_size}-byte blocks")
    enc = _cipher(alg, key).encryptor()
    return enc.update(data) + enc.finalize()


def decrypt(alg: Algorithm, key: bytes, data: bytes) -> bytes:
    """D_K: ECB decryption of one or more whole blocks."""
    if len(data) % alg.block_size:
        raise CryptoError(f"data must be a whole number of {alg.block_size}-byte blocks")
    dec = _cipher(alg, key).decryptor()
    return dec.update(data) + dec.finalize()


def inv(data: bytes) -> bytes:
    """inv(F) = F XOR FF..FF."""
    return bytes(b ^ 0xFF for b in data)


def pad80(data: bytes, block_size: int) -> bytes:
    """Append 80, then 00 up to a whole block (always adds at least one byte)."""
    padded = data + b"\x80"
    return padded + b"\x00" * (-len(padded) % block_size)


def div(alg: Algorithm, key: bytes, factor: bytes) -> bytes:
    """Div(K, F8): 3DES E_K(F) || E_K(inv F); SM4 E_K(F || inv F)."""
    if len(factor) != 8:
        raise CryptoError(f"diversification factor must be 8 bytes, got {len(factor)}")
    # 3DES: E_K(F) || E_K(inv F) is one ECB pass over the two blocks; SM4: one 16-byte block.
    return encrypt(alg, key, factor + inv(factor))


def region_factor(region_code: str) -> bytes:
    """F2 = ASCII of the 6-digit region code || 73 78 ("sx")."""
    if len(region_code) != 6 or not region_code.isdigit():
        raise CryptoError(f"region code must be 6 digits, got {region_code!r}")
    return region_code.encode("ascii") + b"sx"


def card_factor(atr: bytes) -> bytes:
    """F1 = the last 8 ATR bytes of the user card."""
    if len(atr) < 8:
        raise CryptoError(f"ATR too short for a diversification factor: {len(atr)} bytes")
    return atr[-8:]


def card_key(alg: Algorithm, master: bytes, f1: bytes, f2: bytes) -> bytes:
    """K_card = Div(Div(master, F2), F1): region level, then card level."""
    return div(alg, div(alg, master, f2), f1)


def session_key(alg: Algorithm, card_key_: bytes, random8: bytes) -> bytes:
    """SK = Div(K_card, R8)."""
    return div(alg, card_key_, random8)


def cryptogram(alg: Algorithm, sk: bytes, x8: bytes) -> bytes:
    """cryptogram(SK, X8): 3DES E_SK(X); SM4 the first 8 bytes of E_SK(pad80(X))."""
    if len(x8) != 8:
        raise CryptoError(f"cryptogram input must be 8 bytes, got {len(x8)}")
    if alg is Algorithm.DES3:
        return encrypt(alg, sk, x8)
    return encrypt(alg, sk, pad80(x8, 16))[:8]


def mac(alg: Algorithm, key: bytes, iv8: bytes, data: bytes) -> bytes:
    """MAC(K, IV8, data): CBC over pad80(data); 4 bytes.

    IV is IV8 (3DES) or IV8 || 00*8 (SM4); 3DES keeps the first 4 bytes of the last
    block, SM4 the XOR of the four 4-byte words of the last block.
    """
    if len(iv8) != 8:
        raise CryptoError(f"MAC IV must be 8 bytes, got {len(iv8)}")
    bs = alg.block_size
    iv = iv8 if alg is Algorithm.DES3 else iv8 + bytes(8)
    enc = _cipher(alg, key, iv).encryptor()
    last = (enc.update(pad80(data, bs)) + enc.finalize())[-bs:]
    if alg is Algorithm.DES3:
        return last[:4]
    out = bytearray(4)
    for i in range(0, 16, 4):
        for j in range(4):
            out[j] ^= last[i + j]
    return bytes(out)


def pin_to_bcd(pin: str) -> bytes:
    """PIN digits as BCD, F-padded to a whole byte (4-12 digits)."""
    if not (4 <= len(pin) <= 12) or not pin.isdigit():
        raise CryptoError("PIN must be 4 to 12 digits")
    digits = pin if len(pin) % 2 == 0 else pin + "F"
    return bytes.fromhex(digits)


def bcd_to_pin(data: bytes) -> str:
    """Inverse of pin_to_bcd; raises CryptoError on a malformed PIN."""
    text = data.hex().upper()
    if text.endswith("F"):
        text = text[:-1]
    if not (4 <= len(text) <= 12) or not text.isdigit():
        raise CryptoError("malformed BCD PIN")
    return text


def pin_block(alg: Algorithm, pin: str) -> bytes:
    """PIN block: pad80(len || BCD digits, F-padded)."""
    return pad80(bytes([len(pin)]) + pin_to_bcd(pin), alg.block_size)


def parse_pin_block(alg: Algorithm, block: bytes) -> str:
    """Recover the PIN from a decrypted PIN block; raises CryptoError when malformed."""
    if not block or len(block) % alg.block_size:
        raise CryptoError("PIN block has the wrong length")
    n = block[0]
    nbytes = (n + 1) // 2
    if not (4 <= n <= 12) or len(block) < 1 + nbytes + 1:
        raise CryptoError("PIN block has a bad PIN length")
    body = block[: 1 + nbytes]
    if pad80(body, alg.block_size) != block:
        raise CryptoError("PIN block padding is wrong")
    pin = bcd_to_pin(block[1 : 1 + nbytes])
    if len(pin) != n:
        raise CryptoError("PIN block length byte does not match its digits")
    return pin


def secure_command(
    alg: Algorithm, key: bytes, challenge8: bytes, header4: bytes, data: bytes
) -> bytes:
    """A CLA-84 command: header || Lc || data || MAC4, MAC over header || Lc || data.

    Lc counts the 4 MAC bytes; IV is the card's 8-byte challenge.
    """
    if len(header4) != 4:
        raise CryptoError("APDU header must be 4 bytes")
    lc = len(data) + 4
    if lc > 255:
        raise CryptoError("secure command data too long")
    body = header4 + bytes([lc]) + data
    return body + mac(alg, key, challenge8, body)


@dataclass(frozen=True, slots=True)
class MasterKeys:
    """Master keys by key id, for one algorithm. Never logged: repr hides them."""

    alg: Algorithm
    keys: dict[KeyId, bytes]

    def __post_init__(self) -> None:
        for kid, key in self.keys.items():
            if len(key) != KEY_LEN:
                raise CryptoError(f"master key {kid.name} must be {KEY_LEN} bytes")

    def __repr__(self) -> str:
        return f"MasterKeys(alg={self.alg.name}, keys=<{len(self.keys)} hidden>)"

    def card_keys(self, f1: bytes, f2: bytes) -> dict[KeyId, bytes]:
        """The derived card keys for one card (what a card stores)."""
        return {kid: card_key(self.alg, m, f1, f2) for kid, m in self.keys.items()}


# Demo masters, for simulators and tests only, never in production (contract section 6).
_DEMO_HEX: dict[Algorithm, dict[KeyId, str]] = {
    Algorithm.DES3: {
        KeyId.IRK: "4742088B9D98BF93257CD8EA7ACF15CA",
        KeyId.UK: "0265FA127B9F7A4E39C8DD9FC0CD2E84",
        KeyId.PRK: "4363A72F7C2CD1BB65AC69E180953D28",
        KeyId.STK: "B225F92F5C89A460E2BFBF9D506A2B60",
        KeyId.RKSSSE: "0EACF00B9AF5C24D38AF229A6E70898D",
    },
    Algorithm.SM4: {
        KeyId.IRK: "12532772E10559E3806684B35D9E164A",
        KeyId.UK: "CAA2201EB737D428F5D3E00E6BD2D691",
        KeyId.PRK: "979B7B557AC73C9BD3C2E1BD075D8199",
        KeyId.STK: "A4C1156B28F0CA27E0ED148916498847",
        KeyId.RKSSSE: "FE40FC33A9A96E88B84C53E1D924FA12",
    },
}


def demo_masters(alg: Algorithm) -> MasterKeys:
    """The contract's demo masters for one algorithm (simulators and tests only)."""
    return MasterKeys(alg, {kid: bytes.fromhex(h) for kid, h in _DEMO_HEX[alg].items()})
