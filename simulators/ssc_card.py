"""The simulated social security user card (card contract sections 1-4 and 6).

`UserCard` is a `SimulatedCard` (simulators.base) built on the generic card OS
(simulators.card_os) over the file system of simulators.filesystem, made from a
personalisation (simulators.personalisation). It holds only the derived card
keys, never the masters.

    card = UserCard.from_file("simulators/examples/gen2.json")
    card = UserCard.from_profile(example_profile(3), random_source=ScriptedRandom())
    atr = card.power_on()
    card.transmit(bytes.fromhex("00A404000F7378312E73682EC9E7BBE1B1A3D5CF"))  # -> 61 1B on T=0

Choices the contract leaves open (and what this card does):

1. ATR: the contract's `3B6D0000 0081534D978684 RRRR SSSSSSSS` for T=0 *and* T=1
   cards; a T=1 card only answers data directly instead of `61xx`. (An ATR
   indicating T=1 would need TD1 and a TCK, moving the last 8 bytes = F1.)
2. GET RESPONSE with nothing waiting answers `6985`; with a wrong Le `6Cxx`
   (the data keeps waiting); any other command discards waiting data.
3. Case-2 commands with an absent Le are taken as Le=256 (a T=0 reader sends
   P3=00). On T=1, Le `00`/absent returns the data whatever its length.
4. GET CHALLENGE: Le 04/08/10 only (else `6700`), P1 P2 00 00 (else `6A86`).
   The challenge is valid for the next APDU only: every APDU that follows,
   whatever it is (even one answered `6D00` or `6700`), consumes it.
   EXTERNAL AUTHENTICATE and the CLA-84 commands need it to be 8 bytes.
5. Commands that use the SSSE's PIN or keys (VERIFY, CHANGE PIN, RELOAD PIN,
   EXTERNAL/INTERNAL AUTHENTICATE, APPLICATION BLOCK/UNBLOCK, CARD BLOCK)
   need the SSSE or one of its DFs to be the current DF: from the MF (after
   power-on or SELECT MF) they answer `6985`. GET CHALLENGE works anywhere.
6. VERIFY: `00 20 00 00` (case 1) and `00 20 00 00 00` are the status query.
   Check order: P1 P2 (`6A86`), Lc 2-6 (`6700`), blocked (`6983`), BCD form
   (`6A80`, not counted), comparison (`63Cx`; the try that reaches 0 answers
   `63C0`, later ones `6983`).
7. CHANGE PIN: old and new split at the first `FF` byte (a BCD PIN never
   contains one); Lc 5-13 else `6700`; no `FF` or a part not 2-6 bytes or not
   BCD → `6A80`. Success resets the counter and leaves the PIN verified.
8. RELOAD PIN: the encrypted part must be whole blocks (`6700`); success sets
   the PIN, resets the counter, and leaves the PIN *not* verified.
9. EXTERNAL AUTHENTICATE accepts any key id the card holds (01, 04, 06, 07, 0A);
   P1 must be 00. Check order: P1, Lc 16, SSSE current, key id (`6A88`), key
   blocked (`6983`), challenge (`6984`), cryptogram (`63Cx`). Key try counters
   and the PIN counter are persistent (survive reset); nothing unblocks a key.
10. APPLICATION BLOCK clears the security state. While blocked, SELECT of the
    SSSE or of DF01-DF04 answers `6283` (the DF still becomes current); READ
    RECORD is admitted only when it addresses the SSSE's EF05, any other READ
    RECORD answers `6985`. APPLICATION UNBLOCK of an unblocked card answers
    `9000`. CARD BLOCK is refused (`6985`) while the application is blocked,
    as the contract's list says; after it, every APDU answers `9303` until the
    object is discarded (reset and power cycles do not help).
11. SELECT: P2 must be 00 (`6A86`); by name, Lc 1-16 (`6700`), unknown name
    `6A82`; DF01-DF04 AIDs are found from any DF. `00 A4 00 00 02 3F00`
    selects the MF; P1 00 or 02 with another FID selects an EF of the current
    DF (`6A82` if none). Re-selecting the SSSE keeps the security state.
12. READ/UPDATE RECORD: P2 low bits 100 = record number P1, 000 = record with
    tag P1, others `6A86`; SFI 0 = current EF (`6986` if none), SFI 31 `6A86`,
    an SFI not in the current DF `6A82`. Reaching a file by SFI makes it the
    current EF. Record 0 and an absent tag answer `6A83`. All EFs here are
    record files, so `6981` never occurs. UPDATE RECORD checks, in order:
    file, write access (`6982`), record (`6A83`), data a well-formed TLV of the
    same tag and length (`6A80`). Updates live in memory only.
13. Gen 2/3 cards always have the 4E record (00-filled when name_ext is empty);
    name (09, 30 bytes) and name_ext (4E, 20 bytes) are GB 18030, 00-padded.
14. An internal error answers `6F00` and is logged (never expected).
"""

from __future__ import annotations

import datetime as dt
import hmac
import logging
import os
import secrets
from collections import deque
from collections.abc import Callable, Mapping
from pathlib import Path

from cardsvc import crypto
from cardsvc.apdu import SW, Command, Ins
from cardsvc.crypto import Algorithm, CryptoError, KeyId
from simulators.card_os import OK, CardOS, Reply
from simulators.filesystem import Access, DedicatedFile, Record, RecordFile
from simulators.personalisation import (
    DF_LABELS,
    NAME_ENCODING,
    CardProfile,
    Personalisation,
    load_personalisation,
    parse_personalisation,
)

logger = logging.getLogger(__name__)

SSSE_NAME = "sx1.sh.社会保障".encode("gbk")  # 73 78 31 2E 73 68 2E C9 E7 BB E1 B1 A3 D5 CF
DF_AIDS: Mapping[str, bytes] = {
    label: bytes.fromhex(f"D156000005{i:02X}") for i, label in enumerate(DF_LABELS)
}
MF_FID = 0x3F00
EF05_FID = 0xEF05
EF06_FID = 0xEF06
EXT_AUTH_TRIES = 3
CHALLENGE_LENGTHS = (4, 8, 16)
ISSUER_ID = bytes.fromhex("D156000005")

RandomSource = Callable[[int], bytes]
"""Returns n random bytes; GET CHALLENGE draws its challenge from it."""


class ScriptedRandom:
    """A random source for tests: hands out pushed challenges first, then real random bytes.

    A pushed value must have the length GET CHALLENGE asks for (else the card
    answers `6F00` and logs the mistake).
    """

    def __init__(self, *values: bytes) -> None:
        self._queue: deque[bytes] = deque(values)

    def push(self, value: bytes) -> None:
        self._queue.append(bytes(value))

    def __call__(self, n: int) -> bytes:
        if not self._queue:
            return secrets.token_bytes(n)
        value = self._queue.popleft()
        if len(value) != n:
            raise ValueError(f"scripted challenge has {len(value)} bytes, {n} were asked for")
        return value


# -- building the file system ---------------------------------------------------------


def _bcd_date(d: dt.date) -> bytes:
    return bytes.fromhex(d.strftime("%Y%m%d"))


def _an(text: str, length: int) -> bytes:
    data = text.encode(NAME_ENCODING)
    if len(data) > length:
        raise ValueError(f"text longer than {length} bytes")
    return data + bytes(length - len(data))


def ef05_records(p: CardProfile) -> list[Record]:
    """The SSSE EF05 issuer data, in record order (section 3)."""
    return [
        Record(0x01, p.card_id_code),
        Record(0x02, p.card_type.encode("ascii")),
        Record(0x03, p.spec_version.encode("ascii")),
        Record(0x04, p.init_org),
        Record(0x05, _bcd_date(p.issue_date)),
        Record(0x06, _bcd_date(p.expiry_date)),
        Record(0x07, p.card_number.encode("ascii")),
    ]


def ef06_records(p: CardProfile) -> list[Record]:
    """The SSSE EF06 cardholder data, in record order (no 4E on generation 1)."""
    records = [Record(0x08, p.ssn.encode("ascii")), Record(0x09, _an(p.name, 30))]
    if p.generation >= 2:
        records.append(Record(0x4E, _an(p.name_ext, 20)))
    records += [
        Record(0x0A, p.sex.encode("ascii")),
        Record(0x0B, bytes.fromhex(p.nation)),
        Record(0x0C, bytes.fromhex(p.birthplace)),
        Record(0x0D, _bcd_date(p.birth_date)),
    ]
    return records


def build_file_system(p: CardProfile) -> DedicatedFile:
    """MF → SSSE (EF05, EF06, DF01-DF04 each with EF05), filled from the profile."""
    ef06_read = Access.RKSSSE if p.generation == 3 else Access.FREE
    dfs = [
        DedicatedFile(
            label,
            name=DF_AIDS[label],
            files=[RecordFile(EF05_FID, 5, p.df_records(label), read=Access.PIN, write=Access.UK)],
        )
        for label in DF_LABELS
    ]
    ssse = DedicatedFile(
        "SSSE",
        name=SSSE_NAME,
        files=[
            RecordFile(EF05_FID, 5, ef05_records(p), read=Access.FREE, write=Access.UK),
            RecordFile(EF06_FID, 6, ef06_records(p), read=ef06_read, write=Access.UK),
        ],
        children=dfs,
    )
    return DedicatedFile("MF", children=[ssse])


def fci(alg: Algorithm) -> bytes:
    """The SSSE's FCI: `6F 19 84 0F <name> A5 06 9F 0C 03 86 01 <alg>`."""
    return (
        bytes((0x6F, 0x19, 0x84, 0x0F))
        + SSSE_NAME
        + bytes.fromhex("A5069F0C038601")
        + bytes((alg,))
    )


# -- the card ---------------------------------------------------------------------------


class UserCard(CardOS):
    """A social security user card of generation 1, 2 or 3 (a SimulatedCard)."""

    def __init__(
        self, personalisation: Personalisation, *, random_source: RandomSource | None = None
    ) -> None:
        profile = personalisation.profile
        super().__init__(profile.protocol)
        self._profile = profile
        self._keys = personalisation.card_keys
        self._alg = profile.algorithm
        self._atr = profile.atr
        self._random: RandomSource = random_source or os.urandom
        self._mf = build_file_system(profile)
        ssse = self._mf.find_by_name(SSSE_NAME)
        assert ssse is not None
        self._ssse = ssse
        # persistent (what a real card keeps in EEPROM)
        self._pin = profile.pin
        self._pin_limit = profile.pin_tries
        self._pin_left = profile.pin_tries
        self._key_tries: dict[KeyId, int] = dict.fromkeys(self._keys.keys, EXT_AUTH_TRIES)
        self._app_blocked = False
        self._card_blocked = False
        # volatile (RAM)
        self._current_df: DedicatedFile = self._mf
        self._current_ef: RecordFile | None = None
        self._pin_verified = False
        self._authenticated: set[KeyId] = set()
        self._challenge: bytes | None = None
        self._challenge_valid = False
        self._challenge_now: bytes | None = None  # the challenge the current APDU may use

        self.register(0x00, Ins.SELECT, self._select)
        self.register(0x00, Ins.READ_RECORD, self._read_record, case2=True)
        self.register(0x00, Ins.UPDATE_RECORD, self._update_record)
        self.register(0x00, Ins.GET_CHALLENGE, self._get_challenge, case2=True)
        self.register(0x00, Ins.EXTERNAL_AUTHENTICATE, self._external_authenticate)
        self.register(0x00, Ins.INTERNAL_AUTHENTICATE, self._internal_authenticate)
        self.register(0x00, Ins.VERIFY, self._verify)
        self.register(0x80, Ins.CHANGE_PIN, self._change_pin)
        self.register(0x84, Ins.RELOAD_PIN, self._reload_pin)
        self.register(0x84, Ins.APPLICATION_BLOCK, self._application_block)
        self.register(0x84, Ins.APPLICATION_UNBLOCK, self._application_unblock)
        self.register(0x84, Ins.CARD_BLOCK, self._card_block)

    # -- constructors --------------------------------------------------------------

    @classmethod
    def from_file(cls, path: str | Path, *, random_source: RandomSource | None = None) -> UserCard:
        """A card from a personalisation file (JSON, or YAML by extension)."""
        return cls(load_personalisation(path), random_source=random_source)

    @classmethod
    def from_profile(
        cls,
        profile: Mapping[str, object] | Personalisation,
        *,
        random_source: RandomSource | None = None,
    ) -> UserCard:
        """A card from a personalisation file's content (a dict) or a loaded Personalisation."""
        if not isinstance(profile, Personalisation):
            profile = parse_personalisation(profile)
        return cls(profile, random_source=random_source)

    # -- SimulatedCard ----------------------------------------------------------------

    @property
    def atr(self) -> bytes:
        return self._atr

    @property
    def profile(self) -> CardProfile:
        return self._profile

    def state(self) -> dict[str, object]:
        with self._lock:
            p = self._profile
            out: dict[str, object] = {
                "kind": "ssc_user_card",
                "generation": p.generation,
                "algorithm": "SM4" if self._alg is Algorithm.SM4 else "3DES",
                "spec_version": p.spec_version,
                "atr": self._atr.hex().upper(),
                "card_number": p.card_number,
                "ssn_masked": p.masked_ssn,
            }
            out.update(self._os_state())
            out.update(
                {
                    "pin_tries_left": self._pin_left,
                    "pin_try_limit": self._pin_limit,
                    "pin_blocked": self._pin_left == 0,
                    "pin_verified": self._pin_verified,
                    "application_blocked": self._app_blocked,
                    "card_blocked": self._card_blocked,
                    "authenticated_keys": sorted(f"{k:02X}" for k in self._authenticated),
                    "key_tries_left": {f"{k:02X}": n for k, n in sorted(self._key_tries.items())},
                    "current_df": self._current_df.label,
                    "current_ef": None if self._current_ef is None else self._current_ef.name,
                    "last_challenge": None
                    if self._challenge is None
                    else self._challenge.hex().upper(),
                    "challenge_valid": self._challenge_valid,
                }
            )
            return out

    # -- OS hooks ------------------------------------------------------------------------

    def _clear_security(self) -> None:
        self._pin_verified = False
        self._authenticated.clear()

    def _clear_volatile_state(self) -> None:
        self._current_df = self._mf
        self._current_ef = None
        self._clear_security()
        self._challenge = None
        self._challenge_valid = False
        self._challenge_now = None

    def _before_command(self, apdu: bytes) -> int | None:
        if self._card_blocked:
            return SW.CARD_BLOCKED
        self._challenge_now = self._challenge if self._challenge_valid else None
        self._challenge_valid = False
        return None

    def _admit(self, cmd: Command) -> int | None:
        if not self._app_blocked:
            return None
        if cmd.ins in (
            Ins.SELECT,
            Ins.GET_CHALLENGE,
            Ins.GET_RESPONSE,
            Ins.APPLICATION_UNBLOCK,
        ):
            return None
        if cmd.ins == Ins.READ_RECORD:
            target = self._record_file(cmd.p2)
            ssse_ef05 = self._ssse.file_by_fid(EF05_FID)
            if isinstance(target, RecordFile) and target is ssse_ef05:
                return None
        return SW.CONDITIONS_NOT_SATISFIED

    # -- helpers -----------------------------------------------------------------------

    def _in_ssse(self) -> bool:
        return self._current_df.is_within(self._ssse)

    def _satisfied(self, access: Access) -> bool:
        if access is Access.FREE:
            return True
        if access is Access.PIN:
            return self._pin_verified
        if access is Access.UK:
            return KeyId.UK in self._authenticated
        return KeyId.RKSSSE in self._authenticated

    def _record_file(self, p2: int) -> RecordFile | int:
        """The file P2 addresses (or a status word); no side effects."""
        mode, sfi = p2 & 0x07, p2 >> 3
        if mode not in (0x00, 0x04) or sfi == 0x1F:
            return SW.WRONG_P1P2
        if sfi == 0:
            return SW.NO_CURRENT_EF if self._current_ef is None else self._current_ef
        ef = self._current_df.file_by_sfi(sfi)
        return SW.FILE_NOT_FOUND if ef is None else ef

    def _challenge8(self) -> bytes | None:
        ch = self._challenge_now
        return ch if ch is not None and len(ch) == 8 else None

    def _mac_ok(self, kid: KeyId, cmd: Command, challenge: bytes) -> bool:
        key = self._keys.keys[kid]
        body = cmd.header + bytes((len(cmd.data),)) + cmd.data[:-4]
        expected = crypto.mac(self._alg, key, challenge, body)
        return hmac.compare_digest(expected, cmd.data[-4:])

    def _pin_matches(self, pin: str) -> bool:
        return hmac.compare_digest(pin.encode("ascii"), self._pin.encode("ascii"))

    def _pin_failed(self) -> Reply:
        self._pin_left = max(0, self._pin_left - 1)
        self._pin_verified = False
        return Reply(SW.tries_left(self._pin_left))

    # -- SELECT ----------------------------------------------------------------------------

    def _select(self, cmd: Command) -> Reply:
        if cmd.p2 != 0x00:
            return Reply(SW.WRONG_P1P2)
        if cmd.p1 == 0x04:
            if not 1 <= len(cmd.data) <= 16:
                return Reply(SW.WRONG_LENGTH)
            df = self._mf.find_by_name(cmd.data)
            if df is None:
                return Reply(SW.FILE_NOT_FOUND)
            self._current_df = df
            self._current_ef = None
            if self._app_blocked:
                return Reply(SW.APP_BLOCKED)
            return Reply(data=fci(self._alg)) if df is self._ssse else OK
        if cmd.p1 in (0x00, 0x02):
            if len(cmd.data) != 2:
                return Reply(SW.WRONG_LENGTH)
            fid = int.from_bytes(cmd.data, "big")
            if cmd.p1 == 0x00 and fid == MF_FID:
                self._current_df = self._mf
                self._current_ef = None
                self._clear_security()
                return OK
            ef = self._current_df.file_by_fid(fid)
            if ef is None:
                return Reply(SW.FILE_NOT_FOUND)
            self._current_ef = ef
            return OK
        return Reply(SW.WRONG_P1P2)

    # -- records ---------------------------------------------------------------------------

    def _read_record(self, cmd: Command) -> Reply:
        if cmd.data:
            return Reply(SW.WRONG_LENGTH)
        target = self._record_file(cmd.p2)
        if not isinstance(target, RecordFile):
            return Reply(target)
        if not self._satisfied(target.read):
            return Reply(SW.SECURITY_NOT_SATISFIED)
        self._current_ef = target
        rec = target.by_number(cmd.p1) if cmd.p2 & 0x04 else target.by_tag(cmd.p1)
        if rec is None:
            return Reply(SW.RECORD_NOT_FOUND)
        return Reply(data=rec.tlv())

    def _update_record(self, cmd: Command) -> Reply:
        if not cmd.data:
            return Reply(SW.WRONG_LENGTH)
        target = self._record_file(cmd.p2)
        if not isinstance(target, RecordFile):
            return Reply(target)
        if not self._satisfied(target.write):
            return Reply(SW.SECURITY_NOT_SATISFIED)
        self._current_ef = target
        number = cmd.p1 if cmd.p2 & 0x04 else target.number_of_tag(cmd.p1)
        old = None if number is None else target.by_number(number)
        if number is None or old is None:
            return Reply(SW.RECORD_NOT_FOUND)
        new = Record.from_tlv(cmd.data)
        if new is None or new.tag != old.tag or len(new.value) != len(old.value):
            return Reply(SW.WRONG_DATA)
        target.replace(number, new)
        return OK

    # -- challenge and authentication -------------------------------------------------

    def _get_challenge(self, cmd: Command) -> Reply:
        if cmd.p1 or cmd.p2:
            return Reply(SW.WRONG_P1P2)
        if cmd.data or cmd.le not in CHALLENGE_LENGTHS:
            return Reply(SW.WRONG_LENGTH)
        assert cmd.le is not None
        challenge = bytes(self._random(cmd.le))
        if len(challenge) != cmd.le:
            raise RuntimeError("random source returned the wrong number of bytes")
        self._challenge = challenge
        self._challenge_valid = True
        return Reply(data=challenge)

    def _external_authenticate(self, cmd: Command) -> Reply:
        if cmd.p1 != 0x00:
            return Reply(SW.WRONG_P1P2)
        if len(cmd.data) != 16:
            return Reply(SW.WRONG_LENGTH)
        if not self._in_ssse():
            return Reply(SW.CONDITIONS_NOT_SATISFIED)
        try:
            kid = KeyId(cmd.p2)
        except ValueError:
            return Reply(SW.KEY_NOT_FOUND)
        key = self._keys.keys.get(kid)
        if key is None:
            return Reply(SW.KEY_NOT_FOUND)
        if self._key_tries[kid] == 0:
            return Reply(SW.AUTH_BLOCKED)
        challenge = self._challenge8()
        if challenge is None:
            return Reply(SW.NO_CHALLENGE)
        c, x = cmd.data[:8], cmd.data[8:]
        expected = crypto.cryptogram(self._alg, crypto.session_key(self._alg, key, challenge), x)
        if hmac.compare_digest(expected, c):
            self._key_tries[kid] = EXT_AUTH_TRIES
            self._authenticated.add(kid)
            return OK
        self._key_tries[kid] -= 1
        self._authenticated.discard(kid)
        return Reply(SW.tries_left(self._key_tries[kid]))

    def _internal_authenticate(self, cmd: Command) -> Reply:
        if cmd.p1 != 0x00:
            return Reply(SW.WRONG_P1P2)
        if len(cmd.data) != 16:
            return Reply(SW.WRONG_LENGTH)
        if not self._in_ssse():
            return Reply(SW.CONDITIONS_NOT_SATISFIED)
        if cmd.p2 not in (0x00, KeyId.IRK):
            return Reply(SW.KEY_NOT_FOUND)
        p, s = cmd.data[:8], cmd.data[8:]
        sk = crypto.session_key(self._alg, self._keys.keys[KeyId.IRK], p)
        return Reply(data=crypto.cryptogram(self._alg, sk, s))

    # -- PIN -----------------------------------------------------------------------------

    def _verify(self, cmd: Command) -> Reply:
        if cmd.p1 or cmd.p2:
            return Reply(SW.WRONG_P1P2)
        if not self._in_ssse():
            return Reply(SW.CONDITIONS_NOT_SATISFIED)
        if not cmd.data:
            if cmd.le not in (None, 256):
                return Reply(SW.WRONG_LENGTH)
            if self._pin_left == 0:
                return Reply(SW.AUTH_BLOCKED)
            if self._pin_verified:
                return OK
            return Reply(SW.tries_left(self._pin_left))
        if not 2 <= len(cmd.data) <= 6:
            return Reply(SW.WRONG_LENGTH)
        if self._pin_left == 0:
            return Reply(SW.AUTH_BLOCKED)
        try:
            pin = crypto.bcd_to_pin(cmd.data)
        except CryptoError:
            return Reply(SW.WRONG_DATA)
        if not self._pin_matches(pin):
            return self._pin_failed()
        self._pin_left = self._pin_limit
        self._pin_verified = True
        return OK

    def _change_pin(self, cmd: Command) -> Reply:
        if cmd.p1 != 0x01 or cmd.p2 != 0x00:
            return Reply(SW.WRONG_P1P2)
        if not self._in_ssse():
            return Reply(SW.CONDITIONS_NOT_SATISFIED)
        if not 5 <= len(cmd.data) <= 13:
            return Reply(SW.WRONG_LENGTH)
        if self._pin_left == 0:
            return Reply(SW.AUTH_BLOCKED)
        sep = cmd.data.find(0xFF)
        if sep < 0:
            return Reply(SW.WRONG_DATA)
        old_bcd, new_bcd = cmd.data[:sep], cmd.data[sep + 1 :]
        if not (2 <= len(old_bcd) <= 6 and 2 <= len(new_bcd) <= 6):
            return Reply(SW.WRONG_DATA)
        try:
            old, new = crypto.bcd_to_pin(old_bcd), crypto.bcd_to_pin(new_bcd)
        except CryptoError:
            return Reply(SW.WRONG_DATA)
        if not self._pin_matches(old):
            return self._pin_failed()
        self._pin = new
        self._pin_left = self._pin_limit
        self._pin_verified = True
        return OK

    def _reload_pin(self, cmd: Command) -> Reply:
        if cmd.p1 or cmd.p2:
            return Reply(SW.WRONG_P1P2)
        if not self._in_ssse():
            return Reply(SW.CONDITIONS_NOT_SATISFIED)
        enc_len = len(cmd.data) - 4
        if enc_len <= 0 or enc_len % self._alg.block_size:
            return Reply(SW.WRONG_LENGTH)
        challenge = self._challenge8()
        if challenge is None:
            return Reply(SW.NO_CHALLENGE)
        if not self._mac_ok(KeyId.PRK, cmd, challenge):
            return Reply(SW.WRONG_MAC)
        block = crypto.decrypt(self._alg, self._keys.keys[KeyId.PRK], cmd.data[:enc_len])
        try:
            pin = crypto.parse_pin_block(self._alg, block)
        except CryptoError:
            return Reply(SW.WRONG_DATA)
        self._pin = pin
        self._pin_left = self._pin_limit
        self._pin_verified = False
        return OK

    # -- block / unblock -------------------------------------------------------------------

    def _stk_check(self, cmd: Command) -> int | None:
        """The common checks of the STK-MAC'd commands; None when the MAC is right."""
        if cmd.p1 or cmd.p2:
            return SW.WRONG_P1P2
        if not self._in_ssse():
            return SW.CONDITIONS_NOT_SATISFIED
        if len(cmd.data) != 4:
            return SW.WRONG_LENGTH
        challenge = self._challenge8()
        if challenge is None:
            return SW.NO_CHALLENGE
        if not self._mac_ok(KeyId.STK, cmd, challenge):
            return SW.WRONG_MAC
        return None

    def _application_block(self, cmd: Command) -> Reply:
        refused = self._stk_check(cmd)
        if refused is not None:
            return Reply(refused)
        self._app_blocked = True
        self._clear_security()
        logger.info("card %s: application blocked", self._profile.card_number)
        return OK

    def _application_unblock(self, cmd: Command) -> Reply:
        refused = self._stk_check(cmd)
        if refused is not None:
            return Reply(refused)
        self._app_blocked = False
        logger.info("card %s: application unblocked", self._profile.card_number)
        return OK

    def _card_block(self, cmd: Command) -> Reply:
        refused = self._stk_check(cmd)
        if refused is not None:
            return Reply(refused)
        self._card_blocked = True
        self._clear_security()
        logger.info("card %s: card permanently blocked", self._profile.card_number)
        return OK
