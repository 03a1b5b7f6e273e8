"""The simulated PSAM, the terminal's security module (card contract section 5).

The PSAM is the one place master keys live. A terminal verifies a user card's
INTERNAL AUTHENTICATE, computes EXTERNAL AUTHENTICATE cryptograms, and MACs
CLA-84 commands through it:

    DES INIT  BF DE 48 kidx 18 F1(8) ‖ F2(8) ‖ R(8)  → K = Div(Div(master, F2), F1),
                                                        SK = Div(K, R); 9000
    ENCRYPT   80 FA 00 00 08 X                         → 61 08 → cryptogram(SK, X)
    ENCIPHER  80 FA 01 00 Lc data                      → 61 xx → E_K(data)
    MAC       80 FA 05 00 Lc IV(8) ‖ data              → 61 04 → MAC(K, IV, data)

Key index = card key id (3DES) or key id | 0x80 (SM4).

Choices the contract leaves open:

- DES INIT needs DF01 (AID D15600000590) to be selected, as on a real PSAM
  whose keys live in the application DF: otherwise `6985`. Check order: P1
  (must be 48, `6A86`), Lc 24 (`6700`), DF01 selected (`6985`), key index
  (`6A88`). Any DES INIT, even a refused one, ends the previous session, and
  so do SELECT, reset and power-off.
- ENCRYPT/ENCIPHER/MAC: P1 00/01/05 and P2 00 (else `6A86`), then a session
  (`6985`), then the length (`6700`: ENCRYPT 8 bytes, ENCIPHER whole blocks,
  MAC at least the 8-byte IV). Their data comes back by `61xx` + GET RESPONSE
  on T=0, directly on T=1. A session stays usable for many commands.
- EF16 (terminal number, 6 bytes BCD) sits in the MF, as on real PSAMs: READ
  BINARY `00 B0 96 00 06` works whichever DF is current. P1 bit 8 set: SFI in
  P1's low 5 bits (only 16 exists, else `6A82`), offset P2; otherwise the
  offset is P1P2 in the current EF (`6986` when none; `00 A4 00 00 02 0016`
  selects EF16). An offset at or past the end answers `6A86`. READ BINARY is a
  case-2 command: Le must equal the bytes from the offset to the end (`6Cxx`).
- SELECT answers `9000` with no data (DF01, MF `3F00`, EF `0016`); P2 must be
  00; unknown names/FIDs `6A82`.

PSAM file (JSON, or YAML by extension):
`{"terminal_number": "370400000001", "protocol": "T=0", "masters": "demo"}`
or `"masters": {"3DES": {"IRK": hex32, …, "RKSSSE": hex32}, "SM4": {…}}` (one or
both algorithms). Every field is validated; errors name the field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from cardsvc import crypto
from cardsvc.apdu import SW, Command, Ins
from cardsvc.crypto import Algorithm, KeyId
from simulators.card_os import OK, CardOS, Reply, TransmissionProtocol
from simulators.errors import PersonalisationError
from simulators.personalisation import parse_master_set, parse_protocol, read_mapping

PSAM_ATR: Final = bytes.fromhex("3B6D00000081534D5053414D0000000001")
DF01_AID: Final = bytes.fromhex("D15600000590")
EF16_SFI: Final = 0x16
EF16_FID: Final = 0x0016
MF_FID: Final = 0x3F00
USAGE_TWO_LEVELS: Final = 0x48
SM4_INDEX_FLAG: Final = 0x80

_ALG_NAMES: Final = {"3DES": Algorithm.DES3, "SM4": Algorithm.SM4}
_FIELDS: Final = ("terminal_number", "protocol", "masters")


def key_index(alg: Algorithm, kid: KeyId) -> int:
    """The PSAM key index of a card key id: kid (3DES) or kid | 0x80 (SM4)."""
    return int(kid) | (SM4_INDEX_FLAG if alg is Algorithm.SM4 else 0)


@dataclass(frozen=True, slots=True)
class PsamKey:
    """A master key in the PSAM's key table. Never shown: repr hides the key."""

    alg: Algorithm
    master: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class PsamConfig:
    terminal_number: str
    protocol: TransmissionProtocol
    keys: Mapping[int, PsamKey] = field(repr=False)


def parse_psam_config(data: Mapping[str, object], source: str | None = None) -> PsamConfig:
    """Validate a PSAM file's content."""
    for name in data:
        if name not in _FIELDS:
            raise PersonalisationError(name, "unknown field", source)
    for name in ("terminal_number", "masters"):
        if name not in data:
            raise PersonalisationError(name, "missing", source)
    number = data["terminal_number"]
    if not isinstance(number, str):
        raise PersonalisationError(
            "terminal_number", "wrong type: expected a string of 12 digits", source
        )
    if len(number) != 12 or not (number.isascii() and number.isdigit()):
        raise PersonalisationError("terminal_number", "must be 12 digits", source)
    protocol = parse_protocol(data.get("protocol", TransmissionProtocol.T0.value), source)

    masters = data["masters"]
    sets: dict[Algorithm, object]
    if masters == "demo":
        sets = {alg: "demo" for alg in Algorithm}
    elif isinstance(masters, dict):
        if not masters:
            raise PersonalisationError("masters", "must hold 3DES, SM4 or both", source)
        sets = {}
        for alg_name, value in masters.items():
            if alg_name not in _ALG_NAMES:
                raise PersonalisationError(
                    f"masters.{alg_name}", "unknown algorithm: expected 3DES or SM4", source
                )
            if value == "demo":
                raise PersonalisationError(
                    f"masters.{alg_name}", "wrong type: expected an object of keys", source
                )
            sets[_ALG_NAMES[alg_name]] = value
    else:
        raise PersonalisationError(
            "masters", 'must be "demo" or an object {"3DES": {...}, "SM4": {...}}', source
        )
    keys: dict[int, PsamKey] = {}
    for alg, value in sets.items():
        label = next(n for n, a in _ALG_NAMES.items() if a is alg)
        mk = parse_master_set(value, alg, f"masters.{label}", source)
        for kid, master in mk.keys.items():
            keys[key_index(alg, kid)] = PsamKey(alg, master)
    return PsamConfig(number, protocol, keys)


def load_psam_config(path: str | Path) -> PsamConfig:
    data, source = read_mapping(path)
    return parse_psam_config(data, source)


def example_psam() -> dict[str, object]:
    """A valid PSAM file's content (demo masters for both algorithms)."""
    return {"terminal_number": "370400000001", "protocol": "T=0", "masters": "demo"}


@dataclass(frozen=True, slots=True)
class _Session:
    index: int
    alg: Algorithm
    card_key: bytes = field(repr=False)
    session_key: bytes = field(repr=False)


class Psam(CardOS):
    """The simulated PSAM (a SimulatedCard)."""

    def __init__(self, config: PsamConfig) -> None:
        super().__init__(config.protocol)
        self._terminal_number = config.terminal_number
        self._keys = dict(config.keys)
        self._in_df01 = False
        self._current_ef16 = False
        self._session: _Session | None = None
        self.register(0x00, Ins.SELECT, self._select)
        self.register(0x00, Ins.READ_BINARY, self._read_binary, case2=True)
        self.register(0xBF, Ins.DES_INIT, self._des_init)
        self.register(0x80, Ins.DES_CRYPT, self._des_crypt)

    @classmethod
    def from_file(cls, path: str | Path) -> Psam:
        return cls(load_psam_config(path))

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> Psam:
        return cls(parse_psam_config(data))

    @classmethod
    def demo(
        cls,
        terminal_number: str = "370400000001",
        protocol: TransmissionProtocol = TransmissionProtocol.T0,
    ) -> Psam:
        """A PSAM with the demo masters of both algorithms."""
        return cls.from_dict(
            {"terminal_number": terminal_number, "protocol": protocol.value, "masters": "demo"}
        )

    @property
    def atr(self) -> bytes:
        return PSAM_ATR

    @property
    def terminal_number(self) -> str:
        return self._terminal_number

    def state(self) -> dict[str, object]:
        with self._lock:
            out: dict[str, object] = {
                "kind": "psam",
                "atr": PSAM_ATR.hex().upper(),
                "terminal_number": self._terminal_number,
            }
            out.update(self._os_state())
            out.update(
                {
                    "current_df": "DF01" if self._in_df01 else "MF",
                    "current_ef": "0016" if self._current_ef16 else None,
                    "key_indexes": [f"{i:02X}" for i in sorted(self._keys)],
                    "des_init_active": self._session is not None,
                    "des_init_key_index": None
                    if self._session is None
                    else f"{self._session.index:02X}",
                }
            )
            return out

    def _clear_volatile_state(self) -> None:
        self._in_df01 = False
        self._current_ef16 = False
        self._session = None

    # -- commands ------------------------------------------------------------------

    def _select(self, cmd: Command) -> Reply:
        if cmd.p2 != 0x00:
            return Reply(SW.WRONG_P1P2)
        if cmd.p1 == 0x04:
            if not 1 <= len(cmd.data) <= 16:
                return Reply(SW.WRONG_LENGTH)
            if cmd.data != DF01_AID:
                return Reply(SW.FILE_NOT_FOUND)
            self._session = None
            self._in_df01 = True
            self._current_ef16 = False
            return OK
        if cmd.p1 in (0x00, 0x02):
            if len(cmd.data) != 2:
                return Reply(SW.WRONG_LENGTH)
            fid = int.from_bytes(cmd.data, "big")
            if cmd.p1 == 0x00 and fid == MF_FID:
                self._session = None
                self._in_df01 = False
                self._current_ef16 = False
                return OK
            if fid == EF16_FID:
                self._current_ef16 = True
                return OK
            return Reply(SW.FILE_NOT_FOUND)
        return Reply(SW.WRONG_P1P2)

    def _terminal_bcd(self) -> bytes:
        return bytes.fromhex(self._terminal_number)

    def _read_binary(self, cmd: Command) -> Reply:
        if cmd.data:
            return Reply(SW.WRONG_LENGTH)
        if cmd.p1 & 0x80:
            if cmd.p1 & 0x60:
                return Reply(SW.WRONG_P1P2)
            if cmd.p1 & 0x1F != EF16_SFI:
                return Reply(SW.FILE_NOT_FOUND)
            self._current_ef16 = True
            offset = cmd.p2
        else:
            if not self._current_ef16:
                return Reply(SW.NO_CURRENT_EF)
            offset = (cmd.p1 << 8) | cmd.p2
        content = self._terminal_bcd()
        if offset >= len(content):
            return Reply(SW.WRONG_P1P2)
        return Reply(data=content[offset:])

    def _des_init(self, cmd: Command) -> Reply:
        self._session = None
        if cmd.p1 != USAGE_TWO_LEVELS:
            return Reply(SW.WRONG_P1P2)
        if len(cmd.data) != 24:
            return Reply(SW.WRONG_LENGTH)
        if not self._in_df01:
            return Reply(SW.CONDITIONS_NOT_SATISFIED)
        entry = self._keys.get(cmd.p2)
        if entry is None:
            return Reply(SW.KEY_NOT_FOUND)
        f1, f2, r = cmd.data[:8], cmd.data[8:16], cmd.data[16:]
        card_key = crypto.card_key(entry.alg, entry.master, f1, f2)
        sk = crypto.session_key(entry.alg, card_key, r)
        self._session = _Session(cmd.p2, entry.alg, card_key, sk)
        return OK

    def _des_crypt(self, cmd: Command) -> Reply:
        if cmd.p1 not in (0x00, 0x01, 0x05) or cmd.p2 != 0x00:
            return Reply(SW.WRONG_P1P2)
        session = self._session
        if session is None:
            return Reply(SW.CONDITIONS_NOT_SATISFIED)
        alg, data = session.alg, cmd.data
        if cmd.p1 == 0x00:
            if len(data) != 8:
                return Reply(SW.WRONG_LENGTH)
            return Reply(data=crypto.cryptogram(alg, session.session_key, data))
        if cmd.p1 == 0x01:
            if not data or len(data) % alg.block_size:
                return Reply(SW.WRONG_LENGTH)
            return Reply(data=crypto.encrypt(alg, session.card_key, data))
        if len(data) < 8:
            return Reply(SW.WRONG_LENGTH)
        return Reply(data=crypto.mac(alg, session.card_key, data[:8], data[8:]))
