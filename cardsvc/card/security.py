"""The terminal's security module: where the master keys are (card contract sections 5 and 6).

`SecurityModule` is the port: the four operations a terminal needs. Two
implementations, both held to the contract's known-answer vectors:

- `PsamSecurityModule`: a PSAM in a second reader (the masters never leave it):
  SELECT DF01 (`D15600000590`), READ BINARY EF16 (terminal number), then per
  operation DES INIT (`BF DE 48 kidx 18 F1 ‖ F2 ‖ R`) and ENCRYPT / ENCIPHER /
  MAC (`80 FA 00|01|05 00`); key index = key id (3DES) or key id | 0x80 (SM4).
- `KeyServiceSecurityModule`: the masters in software, the role an HSM plays in
  the data centre. The demo masters only through `KeyServiceSecurityModule.demo()`
  (asked for explicitly: `--keys demo`); never in production.

Nothing here logs a key, a PIN or a cryptogram.
"""

from __future__ import annotations

import functools
import hmac
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Protocol

from cardsvc import crypto
from cardsvc.apdu import SW, Command, Ins
from cardsvc.card.atr import card_factor
from cardsvc.card.errors import CardFormatError, NoSecurityModule, SecurityModuleError
from cardsvc.card.transport import CardTransport, Response, exchange, finish, send
from cardsvc.crypto import Algorithm, CryptoError, KeyId, MasterKeys

logger = logging.getLogger(__name__)

PSAM_DF01_AID: Final = bytes.fromhex("D15600000590")
PSAM_EF16_SFI: Final = 0x16
TERMINAL_NUMBER_LEN: Final = 6
USAGE_TWO_LEVELS: Final = 0x48
SM4_INDEX_FLAG: Final = 0x80
_P1_ENCRYPT: Final = 0x00
_P1_ENCIPHER: Final = 0x01
_P1_MAC: Final = 0x05
_ALG_NAMES: Final = {"3DES": Algorithm.DES3, "SM4": Algorithm.SM4}
_SW_OK: Final = b"\x90\x00"


@dataclass(frozen=True, slots=True)
class Diversification:
    """What derives one card's keys from a master: the algorithm, F1 and F2."""

    alg: Algorithm
    f1: bytes
    f2: bytes

    @classmethod
    def for_card(cls, alg: Algorithm, atr: bytes, region_code: str) -> Diversification:
        """F1 = last 8 ATR bytes, F2 = ASCII of the 6-digit region code ‖ "sx"."""
        if cls is Diversification:
            return _diversification(alg, bytes(atr), region_code)
        try:
            f2 = crypto.region_factor(region_code)
        except CryptoError as exc:
            raise CardFormatError("card_id_code", str(exc)) from None
        return cls(alg, card_factor(atr), f2)


@functools.lru_cache(maxsize=256)
def _diversification(alg: Algorithm, atr: bytes, region_code: str) -> Diversification:
    # Immutable and asked for once per authentication of the same card: each one is kept.
    try:
        f2 = crypto.region_factor(region_code)
    except CryptoError as exc:
        raise CardFormatError("card_id_code", str(exc)) from None
    return Diversification(alg, card_factor(atr), f2)


class SecurityModule(Protocol):
    """The operations a terminal needs from whoever holds the masters."""

    @property
    def terminal_number(self) -> str | None:
        """The 12-digit terminal number (PSAM EF16), None when the module has none."""
        ...

    def verify_internal_auth(self, div: Diversification, p: bytes, s: bytes, answer: bytes) -> bool:
        """Whether `answer` = cryptogram(Div(K_card[IRK], P), S)."""
        ...

    def external_auth_cryptogram(
        self, div: Diversification, kid: KeyId, challenge: bytes, x: bytes
    ) -> bytes:
        """C = cryptogram(Div(K_card[kid], R), X) for EXTERNAL AUTHENTICATE."""
        ...

    def command_mac(self, div: Diversification, kid: KeyId, challenge: bytes, data: bytes) -> bytes:
        """MAC4 of a CLA-84 command: over `data` = header ‖ Lc ‖ data, IV = the challenge."""
        ...

    def encrypt_pin_block(self, div: Diversification, challenge: bytes, pin: str) -> bytes:
        """E_K_PRK(PIN block) for RELOAD PIN (`challenge` starts the PSAM's session)."""
        ...


def key_index(alg: Algorithm, kid: KeyId) -> int:
    """The PSAM key index of a card key id: kid (3DES) or kid | 0x80 (SM4)."""
    return int(kid) | (SM4_INDEX_FLAG if alg is Algorithm.SM4 else 0)


# --- the key service (software masters) -----------------------------------------------


class KeyServiceSecurityModule:
    """Masters held in software, by algorithm (the data centre's HSM role)."""

    def __init__(self, masters: Iterable[MasterKeys], terminal_number: str | None = None) -> None:
        self._masters: dict[Algorithm, MasterKeys] = {}
        for mk in masters:
            if mk.alg in self._masters:
                raise SecurityModuleError(f"two master key sets for {mk.alg.name}")
            self._masters[mk.alg] = mk
        if terminal_number is not None:
            check_terminal_number(terminal_number)
        self._terminal_number = terminal_number
        self.is_demo = False

    def __repr__(self) -> str:
        algs = ", ".join(a.name for a in self._masters)
        return f"KeyServiceSecurityModule({algs}{', demo' if self.is_demo else ''})"

    @classmethod
    def demo(cls, terminal_number: str | None = None) -> KeyServiceSecurityModule:
        """The contract's demo masters (simulators and tests only, never production)."""
        logger.warning("using the DEMO master keys: for simulators and tests only")
        module = cls((crypto.demo_masters(a) for a in Algorithm), terminal_number)
        module.is_demo = True
        return module

    @classmethod
    def from_file(
        cls, path: str | Path, terminal_number: str | None = None
    ) -> KeyServiceSecurityModule:
        """Masters from JSON: `{"3DES": {"IRK": hex32, ...}, "SM4": {...}}` (one or both)."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise SecurityModuleError(f"key file {path}: cannot read it ({exc})") from None
        return cls(parse_master_file(data, str(path)), terminal_number)

    @property
    def terminal_number(self) -> str | None:
        return self._terminal_number

    def _card_key(self, div: Diversification, kid: KeyId) -> bytes:
        mk = self._masters.get(div.alg)
        if mk is None:
            raise SecurityModuleError(f"the key service has no {div.alg.name} masters")
        master = mk.keys.get(kid)
        if master is None:
            raise SecurityModuleError(f"the key service has no {div.alg.name} master {kid.name}")
        return crypto.card_key(div.alg, master, div.f1, div.f2)

    def verify_internal_auth(self, div: Diversification, p: bytes, s: bytes, answer: bytes) -> bool:
        sk = crypto.session_key(div.alg, self._card_key(div, KeyId.IRK), p)
        return hmac.compare_digest(crypto.cryptogram(div.alg, sk, s), answer)

    def external_auth_cryptogram(
        self, div: Diversification, kid: KeyId, challenge: bytes, x: bytes
    ) -> bytes:
        sk = crypto.session_key(div.alg, self._card_key(div, kid), challenge)
        return crypto.cryptogram(div.alg, sk, x)

    def command_mac(self, div: Diversification, kid: KeyId, challenge: bytes, data: bytes) -> bytes:
        return crypto.mac(div.alg, self._card_key(div, kid), challenge, data)

    def encrypt_pin_block(self, div: Diversification, challenge: bytes, pin: str) -> bytes:
        block = crypto.pin_block(div.alg, pin)
        return crypto.encrypt(div.alg, self._card_key(div, KeyId.PRK), block)


def parse_master_file(data: object, source: str = "key file") -> list[MasterKeys]:
    """Validate `{"3DES": {"IRK": hex32, "UK": …, "PRK": …, "STK": …, "RKSSSE": …}, "SM4": …}`."""
    if not isinstance(data, dict) or not data:
        raise SecurityModuleError(f'{source}: expected an object {{"3DES": {{...}}, "SM4": …}}')
    out = []
    for alg_name, keys in data.items():
        alg = _ALG_NAMES.get(alg_name)
        if alg is None:
            raise SecurityModuleError(f"{source}: unknown algorithm {alg_name!r} (3DES or SM4)")
        if not isinstance(keys, dict):
            raise SecurityModuleError(f"{source}: {alg_name} must be an object of keys")
        parsed: dict[KeyId, bytes] = {}
        for kid in KeyId:
            text = keys.get(kid.name)
            if not isinstance(text, str) or len(text) != 2 * crypto.KEY_LEN:
                raise SecurityModuleError(
                    f"{source}: {alg_name}.{kid.name} must be {2 * crypto.KEY_LEN} hex digits"
                )
            try:
                parsed[kid] = bytes.fromhex(text)
            except ValueError:
                raise SecurityModuleError(f"{source}: {alg_name}.{kid.name} is not hex") from None
        unknown = set(keys) - {k.name for k in KeyId}
        if unknown:
            raise SecurityModuleError(f"{source}: {alg_name}: unknown keys {sorted(unknown)}")
        out.append(MasterKeys(alg, parsed))
    return out


def check_terminal_number(text: str) -> str:
    if len(text) != 2 * TERMINAL_NUMBER_LEN or not (text.isascii() and text.isdigit()):
        raise SecurityModuleError(f"a terminal number is 12 digits, not {text!r}")
    return text


# --- the PSAM ---------------------------------------------------------------------------


class PsamSecurityModule:
    """A PSAM over its own connection; every operation runs in that connection's transaction.

    Build it with `PsamSecurityModule.open(connection)`: SELECT DF01 and READ BINARY
    EF16 (2 APDUs). Each operation then costs DES INIT plus one crypto command
    (and its GET RESPONSE on T=0): 3 APDUs on T=0, 2 on T=1.
    """

    def __init__(self, connection: CardTransport, terminal_number: str) -> None:
        self._conn = connection
        self._terminal_number = terminal_number

    def __repr__(self) -> str:
        return f"PsamSecurityModule(terminal {self._terminal_number})"

    @classmethod
    def open(cls, connection: CardTransport) -> PsamSecurityModule:
        """Select the PSAM application and read its terminal number (NoSecurityModule if absent)."""
        with connection.transaction():
            _select_df01(connection)
            response = exchange(
                connection,
                Command(0x00, Ins.READ_BINARY, 0x80 | PSAM_EF16_SFI, 0x00, le=TERMINAL_NUMBER_LEN),
            )
        if not response.ok:
            raise SecurityModuleError(
                f"the PSAM refused READ BINARY EF16: {response.sw:04X}", response.sw
            )
        number = response.data.hex()
        if len(response.data) != TERMINAL_NUMBER_LEN or not number.isdigit():
            raise SecurityModuleError(f"the PSAM's terminal number is not 12 BCD digits: {number}")
        return cls(connection, number)

    @property
    def terminal_number(self) -> str:
        return self._terminal_number

    # DES INIT and the crypto commands run inside the operation's transaction (`send`).

    def _des_init(self, div: Diversification, kid: KeyId, r: bytes) -> None:
        index = key_index(div.alg, kid)
        data = div.f1 + div.f2 + r
        init = bytes((0xBF, Ins.DES_INIT, USAGE_TWO_LEVELS, index, len(data))) + data
        raw = self._conn.transmit(init)
        if raw[-2:] == _SW_OK:  # the usual answer: no Response to build
            return
        response = finish(self._conn, init, raw)
        if response.sw == SW.CONDITIONS_NOT_SATISFIED:
            # DF01 is no longer current (the PSAM was reset or reselected): once more
            _select_df01(self._conn)
            response = send(self._conn, init)
        if response.sw == SW.KEY_NOT_FOUND:
            raise SecurityModuleError(
                f"the PSAM has no {div.alg.name} key {kid.name} (index {index:02X})", response.sw
            )
        _require_ok(response, "DES INIT")

    def _crypt(self, p1: int, data: bytes, what: str, length: int | None = None) -> bytes:
        apdu = bytes((0x80, Ins.DES_CRYPT, p1, 0x00, len(data))) + data
        raw = self._conn.transmit(apdu)
        if raw[-2:] == _SW_OK:  # the usual answer: no Response to build
            answer = raw[:-2]
        else:
            response = finish(self._conn, apdu, raw)
            _require_ok(response, what)
            answer = response.data
        if length is not None and len(answer) != length:
            raise SecurityModuleError(
                f"the PSAM's {what} answer has {len(answer)} bytes, expected {length}"
            )
        return answer

    def verify_internal_auth(self, div: Diversification, p: bytes, s: bytes, answer: bytes) -> bool:
        with self._conn.transaction():
            self._des_init(div, KeyId.IRK, p)
            expected = self._crypt(_P1_ENCRYPT, s, "ENCRYPT", 8)
        return hmac.compare_digest(expected, answer)

    def external_auth_cryptogram(
        self, div: Diversification, kid: KeyId, challenge: bytes, x: bytes
    ) -> bytes:
        with self._conn.transaction():
            self._des_init(div, kid, challenge)
            return self._crypt(_P1_ENCRYPT, x, "ENCRYPT", 8)

    def command_mac(self, div: Diversification, kid: KeyId, challenge: bytes, data: bytes) -> bytes:
        with self._conn.transaction():
            self._des_init(div, kid, challenge)
            return self._crypt(_P1_MAC, challenge + data, "MAC", 4)

    def encrypt_pin_block(self, div: Diversification, challenge: bytes, pin: str) -> bytes:
        block = crypto.pin_block(div.alg, pin)
        with self._conn.transaction():
            self._des_init(div, KeyId.PRK, challenge)
            return self._crypt(_P1_ENCIPHER, block, "ENCIPHER", len(block))


def _select_df01(connection: CardTransport) -> None:
    response = exchange(connection, _SELECT_DF01)
    if response.sw == SW.FILE_NOT_FOUND:
        raise NoSecurityModule(
            f"the card in the SAM reader has no PSAM application {PSAM_DF01_AID.hex().upper()}"
        )
    if not response.ok:
        raise NoSecurityModule(f"the PSAM refused SELECT DF01: {response.sw:04X}")


_SELECT_DF01: Final = Command(0x00, Ins.SELECT, 0x04, 0x00, PSAM_DF01_AID).to_bytes()


def _require_ok(response: Response, what: str) -> None:
    if not response.ok:
        raise SecurityModuleError(f"the PSAM refused {what}: {response.sw:04X}", response.sw)
